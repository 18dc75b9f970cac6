package io.handoff.server.engine.memory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import org.junit.jupiter.api.Test;

class FieldValueTest {
  private static ByteString bytes(int n, int fill) {
    byte[] b = new byte[n];
    java.util.Arrays.fill(b, (byte) fill);
    return ByteString.copyFrom(b);
  }

  @Test
  void aValueSetAgainAtAboutItsSizeIsCopiedIntoTheSameArray() {
    FieldValue v = new FieldValue(bytes(100, 1));
    int capacity = v.capacity();
    v.set(bytes(98, 2));
    assertEquals(capacity, v.capacity());
    assertEquals(bytes(98, 2), v.toByteString());
  }

  @Test
  void aValueThatShrankDoesNotKeepTheLargeArray() {
    // The document's byte limit counts values: a field set to 64 KiB and then to one byte must not
    // keep 64 KiB, else every field of a document could hold the largest value it ever had.
    FieldValue v = new FieldValue(bytes(64 * 1024, 1));
    v.set(bytes(1, 2));
    assertEquals(1, v.length());
    assertTrue(
        v.capacity() <= FieldValue.room(1), "an array of " + v.capacity() + " bytes for 1 byte");
    assertEquals(bytes(1, 2), v.toByteString());
  }

  @Test
  void whatIsHandedOutIsACopyThatLaterWritesDoNotChange() {
    FieldValue v = new FieldValue(bytes(32, 1));
    ByteString out = v.toByteString();
    v.set(bytes(32, 9));
    assertEquals(bytes(32, 1), out);
    FieldValue copy = new FieldValue(v);
    v.set(bytes(32, 7));
    assertEquals(bytes(32, 9), copy.toByteString());
  }
}
