package io.handoff.loadtest;

import com.google.protobuf.ByteString;

/**
 * The value every load-test write sets: the write's intended send time ({@link System#nanoTime()},
 * 8 bytes big-endian), the writing device's index (4 bytes), then filler up to the payload size.
 * Receivers in the same JVM read the intended time back to measure latency. Stateless.
 */
final class Payload {
  /** The field every write sets. */
  static final String FIELD = "p";

  /** The smallest payload: the intended time and the writer's index. */
  static final int HEADER_BYTES = 12;

  private Payload() {}

  /** A new value of {@code max(size, HEADER_BYTES)} bytes. */
  static byte[] encode(long intendedNanos, int writer, int size) {
    byte[] b = new byte[Math.max(size, HEADER_BYTES)];
    for (int i = 0; i < 8; i++) {
      b[i] = (byte) (intendedNanos >>> (56 - 8 * i));
    }
    for (int i = 0; i < 4; i++) {
      b[8 + i] = (byte) (writer >>> (24 - 8 * i));
    }
    for (int i = HEADER_BYTES; i < b.length; i++) {
      b[i] = (byte) ('a' + i % 26);
    }
    return b;
  }

  /** The intended send time written into {@code value}, or -1 if it is too short to hold one. */
  static long intendedNanos(ByteString value) {
    if (value.size() < HEADER_BYTES) {
      return -1;
    }
    long t = 0;
    for (int i = 0; i < 8; i++) {
      t = (t << 8) | (value.byteAt(i) & 0xff);
    }
    return t;
  }

  /** The writing device's index written into {@code value}, or -1 if it is too short. */
  static int writer(ByteString value) {
    if (value.size() < HEADER_BYTES) {
      return -1;
    }
    int w = 0;
    for (int i = 8; i < HEADER_BYTES; i++) {
      w = (w << 8) | (value.byteAt(i) & 0xff);
    }
    return w;
  }
}
