package io.handoff.server.devices;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;

/**
 * The refresh-token reuse interval's memory: when a refresh token is rotated, its successor is kept
 * in the store sealed (AES-256-GCM) under a key derived from the token it replaces, so that a retry
 * presenting that same token within the interval gets the same successor back, while the store (and
 * anyone who reads it) learns nothing it could use: opening the copy takes the previous token,
 * whose holder was given the successor anyway. The next rotation overwrites the copy.
 */
public final class SealedSuccessor {
  private static final byte[] CONTEXT =
      "handoff refresh successor v1\0".getBytes(StandardCharsets.UTF_8);
  private static final int IV_BYTES = 12;
  private static final int TAG_BITS = 128;
  private static final SecureRandom RANDOM = new SecureRandom();

  private SealedSuccessor() {}

  /** {@code successor} sealed under a key derived from {@code previous}. */
  public static byte[] seal(String previous, String successor) {
    try {
      byte[] iv = new byte[IV_BYTES];
      RANDOM.nextBytes(iv);
      Cipher c = Cipher.getInstance("AES/GCM/NoPadding");
      c.init(Cipher.ENCRYPT_MODE, key(previous), new GCMParameterSpec(TAG_BITS, iv));
      byte[] sealed = c.doFinal(successor.getBytes(StandardCharsets.UTF_8));
      return ByteBuffer.allocate(iv.length + sealed.length).put(iv).put(sealed).array();
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("AES-GCM is not available", e);
    }
  }

  /** The successor sealed under {@code previous}, or null when it does not open with it. */
  public static String open(String previous, byte[] sealed) {
    if (sealed == null || sealed.length <= IV_BYTES) {
      return null;
    }
    try {
      Cipher c = Cipher.getInstance("AES/GCM/NoPadding");
      c.init(
          Cipher.DECRYPT_MODE, key(previous), new GCMParameterSpec(TAG_BITS, sealed, 0, IV_BYTES));
      return new String(
          c.doFinal(sealed, IV_BYTES, sealed.length - IV_BYTES), StandardCharsets.UTF_8);
    } catch (GeneralSecurityException e) {
      return null;
    }
  }

  private static SecretKeySpec key(String previous) throws GeneralSecurityException {
    MessageDigest d = MessageDigest.getInstance("SHA-256");
    d.update(CONTEXT);
    return new SecretKeySpec(d.digest(previous.getBytes(StandardCharsets.UTF_8)), "AES");
  }
}
