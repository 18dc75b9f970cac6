package io.handoff.server.sync;

import io.handoff.protocol.v1.Delta;
import java.security.DigestException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/**
 * Fingerprints of a document's history: version {@code v}'s fingerprint is the first 8 bytes of
 * SHA-1 over version {@code v - 1}'s fingerprint (8 bytes, little-endian; zeros before version 1)
 * followed by the write as stored (its {@link Delta} without epoch, version and fingerprints). So
 * two copies of one version with equal fingerprints have, with overwhelming probability, the same
 * history, and a store that lost writes and gave their version numbers to others gives those
 * versions other fingerprints.
 *
 * <p>The Redis write script computes the same function ({@code redis.sha1hex}); the two engines'
 * fingerprints are interchangeable. 0 means unknown (data written before fingerprints existed, or a
 * client that sends none) and matches anything; a computed 0 is replaced by 1.
 */
public final class Fingerprint {
  /** No fingerprint known. */
  public static final long UNKNOWN = 0;

  // One digest and its scratch arrays per thread: a fingerprint allocates nothing.
  private static final ThreadLocal<Sha1> SHA1 = ThreadLocal.withInitial(Sha1::new);

  private Fingerprint() {}

  /** The fingerprint of the version that {@code write} (the stored delta body) creates. */
  public static long next(long previous, byte[] write) {
    return next(previous, write, 0, write.length, 0, 0);
  }

  /**
   * As {@link #next(long, byte[])} for a body held in two runs of one array ({@code [off, off +
   * len)} then {@code [off2, off2 + len2)}), such as an encoded delta with its epoch and version
   * between the document name and the ops.
   */
  static long next(long previous, byte[] bytes, int off, int len, int off2, int len2) {
    Sha1 s = SHA1.get();
    byte[] le = s.previous;
    for (int i = 0; i < 8; i++) {
      le[i] = (byte) (previous >>> (8 * i));
    }
    MessageDigest sha1 = s.digest;
    sha1.reset();
    sha1.update(le, 0, 8);
    sha1.update(bytes, off, len);
    if (len2 > 0) {
      sha1.update(bytes, off2, len2);
    }
    byte[] d = s.out;
    try {
      sha1.digest(d, 0, d.length);
    } catch (DigestException e) {
      throw new IllegalStateException("SHA-1 gives 20 bytes", e);
    }
    long fp = 0;
    for (int i = 7; i >= 0; i--) {
      fp = (fp << 8) | (d[i] & 0xff);
    }
    return fp == UNKNOWN ? 1 : fp;
  }

  /** The bytes a delta's fingerprint covers: the delta without epoch, version and fingerprints. */
  public static byte[] body(Delta delta) {
    return delta.toBuilder()
        .clearEpoch()
        .clearVersion()
        .clearFingerprint()
        .clearPreviousFingerprint()
        .build()
        .toByteArray();
  }

  /** True when both fingerprints are known and differ: two different histories. */
  public static boolean differ(long a, long b) {
    return a != UNKNOWN && b != UNKNOWN && a != b;
  }

  /** A thread's SHA-1 and the arrays it reads from and writes into. */
  private static final class Sha1 {
    final MessageDigest digest;
    final byte[] previous = new byte[8];
    final byte[] out = new byte[20];

    Sha1() {
      try {
        digest = MessageDigest.getInstance("SHA-1");
      } catch (NoSuchAlgorithmException e) {
        throw new IllegalStateException("the JDK always has SHA-1", e);
      }
    }
  }
}
