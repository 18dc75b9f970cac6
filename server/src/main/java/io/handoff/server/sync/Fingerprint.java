package io.handoff.server.sync;

import io.handoff.protocol.v1.Delta;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
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

  private static final ThreadLocal<MessageDigest> SHA1 =
      ThreadLocal.withInitial(
          () -> {
            try {
              return MessageDigest.getInstance("SHA-1");
            } catch (NoSuchAlgorithmException e) {
              throw new IllegalStateException("the JDK always has SHA-1", e);
            }
          });

  private Fingerprint() {}

  /** The fingerprint of the version that {@code write} (the stored delta body) creates. */
  public static long next(long previous, byte[] write) {
    MessageDigest sha1 = SHA1.get();
    sha1.reset();
    sha1.update(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(previous).array());
    byte[] digest = sha1.digest(write);
    long fp = ByteBuffer.wrap(digest, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
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
}
