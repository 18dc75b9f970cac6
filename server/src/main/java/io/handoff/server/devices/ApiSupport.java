package io.handoff.server.devices;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.concurrent.CompletableFuture;

/** Small helpers shared by the device-session and device-approval services. Thread-safe. */
final class ApiSupport {
  private static final SecureRandom RANDOM = new SecureRandom();

  private ApiSupport() {}

  /** The shared cryptographically strong generator (SecureRandom is thread-safe). */
  static SecureRandom random() {
    return RANDOM;
  }

  /** {@code n} bytes from a cryptographically strong generator. */
  static byte[] randomBytes(int n) {
    byte[] b = new byte[n];
    RANDOM.nextBytes(b);
    return b;
  }

  /** SHA-256 of the UTF-8 bytes of {@code s}. */
  static byte[] sha256(String s) {
    try {
      return MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  static String orEmpty(String s) {
    return s == null ? "" : s;
  }

  /** A future failed with the API error a client sees as {@code status} and {@code error}. */
  static <T> CompletableFuture<T> failed(int status, String error, String message) {
    return CompletableFuture.failedFuture(new ApiException(status, error, message));
  }
}
