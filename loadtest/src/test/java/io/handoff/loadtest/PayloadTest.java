package io.handoff.loadtest;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.google.protobuf.ByteString;
import org.junit.jupiter.api.Test;

class PayloadTest {
  @Test
  void intendedTimeAndWriterComeBackFromTheValue() {
    long t = 123_456_789_012_345L;
    ByteString v = ByteString.copyFrom(Payload.encode(t, 40_001, 256));
    assertEquals(256, v.size());
    assertEquals(t, Payload.intendedNanos(v));
    assertEquals(40_001, Payload.writer(v));
  }

  @Test
  void negativeNanoTimesSurvive() {
    ByteString v = ByteString.copyFrom(Payload.encode(-5L, 0, 12));
    assertEquals(-5L, Payload.intendedNanos(v));
  }

  @Test
  void aValueTooShortHasNoIntendedTime() {
    assertEquals(-1, Payload.intendedNanos(ByteString.copyFrom(new byte[11])));
    assertEquals(-1, Payload.writer(ByteString.copyFrom(new byte[3])));
  }
}
