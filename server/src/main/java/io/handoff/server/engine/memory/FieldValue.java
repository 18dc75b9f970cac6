package io.handoff.server.engine.memory;

import com.google.protobuf.ByteString;
import java.util.Arrays;

/**
 * One field's value in the memory store. A write of a value that fits the array is copied into it,
 * so the usual write (a field set again, to a value of about the same size) stores nothing new into
 * the document's long-lived map: no young object referenced from an old one, no card for G1 to
 * refine. The array is sized with a little room for values that grow by a few bytes.
 *
 * <p>Bound: the array is at most {@link #room} of the value it holds. A value that shrank by more
 * gets an array of its own size, so a field once set large and then small does not keep the large
 * array: the document's byte limit counts values, and the arrays stay within a small factor of it
 * (else each field of a document could keep an array of the largest value it ever held, the limit's
 * worth many times over).
 *
 * <p>Never handed out: {@link #toByteString} copies. Not thread-safe: the store guards it with its
 * user's monitor.
 */
final class FieldValue {
  private byte[] bytes;
  private int length;

  FieldValue(ByteString value) {
    set(value);
  }

  /** A copy that shares nothing with {@code other}. */
  FieldValue(FieldValue other) {
    bytes = Arrays.copyOf(other.bytes, other.length);
    length = other.length;
  }

  /** The most bytes an array may have for a value of {@code n} bytes. */
  static int room(int n) {
    return 2 * n + 64;
  }

  void set(ByteString value) {
    int n = value.size();
    if (bytes == null || n > bytes.length || bytes.length > room(n)) {
      bytes = new byte[(n + 15) & ~15];
    }
    value.copyTo(bytes, 0);
    length = n;
  }

  /** The value's length in bytes. */
  int length() {
    return length;
  }

  /** The array's length: what the value costs, for tests of the bound. */
  int capacity() {
    return bytes.length;
  }

  ByteString toByteString() {
    return ByteString.copyFrom(bytes, 0, length);
  }
}
