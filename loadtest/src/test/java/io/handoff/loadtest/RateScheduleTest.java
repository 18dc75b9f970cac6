package io.handoff.loadtest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class RateScheduleTest {
  private static final long START = 5_000_000_000L;

  @Test
  void holdsRateTimesLengthWrites() {
    assertEquals(60_000, new RateSchedule(START, 2_000, Duration.ofSeconds(30)).count());
    assertEquals(29, new RateSchedule(START, 0.29, Duration.ofSeconds(100)).count());
    assertEquals(2, new RateSchedule(START, 1, Duration.ofMillis(2_500)).count());
    assertEquals(0, new RateSchedule(START, 1_000, Duration.ZERO).count());
  }

  @Test
  void writesAreDueAtEvenlySpacedIntendedTimes() {
    RateSchedule s = new RateSchedule(START, 1_000, Duration.ofSeconds(1));
    assertEquals(START, s.intendedNanos(0));
    assertEquals(START + 1_000_000, s.intendedNanos(1));
    assertEquals(START + 999_000_000, s.intendedNanos(999));
    assertEquals(START + 1_000_000_000, s.endNanos());
  }

  @Test
  void fractionalRatesSpaceWritesFurtherThanASecond() {
    RateSchedule s = new RateSchedule(START, 0.5, Duration.ofSeconds(10));
    assertEquals(5, s.count());
    assertEquals(START + 2_000_000_000L, s.intendedNanos(1));
    assertEquals(START + 8_000_000_000L, s.intendedNanos(4));
  }

  @Test
  void nothingIsDueBeforeTheStart() {
    RateSchedule s = new RateSchedule(START, 1_000, Duration.ofSeconds(1));
    assertEquals(0, s.dueBy(START - 1));
    assertEquals(0, s.dueBy(0));
  }

  @Test
  void aWriteIsDueExactlyAtItsIntendedTime() {
    RateSchedule s = new RateSchedule(START, 1_000, Duration.ofSeconds(1));
    assertEquals(1, s.dueBy(START));
    assertEquals(1, s.dueBy(START + 999_999));
    assertEquals(2, s.dueBy(START + 1_000_000));
    assertEquals(500, s.dueBy(START + 499_000_000));
    assertEquals(501, s.dueBy(START + 500_000_000));
  }

  @Test
  void dueCountAgreesWithIntendedTimesWhenTheyAreRounded() {
    // 3 per second: intended times are rounded to the nanosecond.
    RateSchedule s = new RateSchedule(START, 3, Duration.ofSeconds(30));
    for (long i = 0; i < s.count(); i++) {
      long t = s.intendedNanos(i);
      assertEquals(i, s.dueBy(t - 1), "just before write " + i);
      assertEquals(i + 1, s.dueBy(t), "at write " + i);
    }
  }

  @Test
  void aStalledSenderFindsEveryOverdueWriteDueAtOnce() {
    RateSchedule s = new RateSchedule(START, 2_000, Duration.ofSeconds(10));
    // The sender wakes up 250 ms late: 500 writes are overdue, each keeping its own intended time.
    long late = START + 250_000_000;
    assertEquals(501, s.dueBy(late));
    assertTrue(s.intendedNanos(1) < late);
  }

  @Test
  void neverMoreThanTheScheduleHolds() {
    RateSchedule s = new RateSchedule(START, 1_000, Duration.ofSeconds(1));
    assertEquals(1_000, s.dueBy(START + 5_000_000_000L));
    assertEquals(1_000, s.dueBy(Long.MAX_VALUE / 2));
  }

  @Test
  void refusesARateThatIsNotPositive() {
    assertThrows(IllegalArgumentException.class, () -> new RateSchedule(0, 0, Duration.ZERO));
    assertThrows(IllegalArgumentException.class, () -> new RateSchedule(0, -1, Duration.ZERO));
    assertThrows(
        IllegalArgumentException.class, () -> new RateSchedule(0, Double.NaN, Duration.ZERO));
  }

  @Test
  void withATickTheWritesOfEachTickAreDueTogetherAtTheTick() {
    // 2,000/s with a 1 ms tick: two writes per tick, the second (0.5 ms) moved to the next tick.
    RateSchedule s = new RateSchedule(START, 2_000, Duration.ofSeconds(1), Duration.ofMillis(1));
    assertEquals(2_000, s.count());
    assertEquals(START, s.intendedNanos(0));
    assertEquals(START + 1_000_000, s.intendedNanos(1));
    assertEquals(START + 1_000_000, s.intendedNanos(2));
    assertEquals(START + 2_000_000, s.intendedNanos(3));
    assertEquals(1, s.dueBy(START + 999_999));
    assertEquals(3, s.dueBy(START + 1_000_000));
    assertEquals(3, s.dueBy(START + 1_999_999));
    assertEquals(5, s.dueBy(START + 2_000_000));
    // The rate holds: every write is due within one tick after its time without a tick.
    RateSchedule plain = new RateSchedule(START, 2_000, Duration.ofSeconds(1));
    for (long i = 0; i < s.count(); i++) {
      long late = s.intendedNanos(i) - plain.intendedNanos(i);
      assertTrue(late >= 0 && late < 1_000_000, "write " + i + " is " + late + " ns late");
      assertTrue(s.dueBy(s.intendedNanos(i) - 1) <= i, "write " + i + " due before its tick");
      assertTrue(s.dueBy(s.intendedNanos(i)) > i, "write " + i + " not due at its tick");
    }
    assertThrows(
        IllegalArgumentException.class,
        () -> new RateSchedule(START, 1, Duration.ZERO, Duration.ofMillis(-1)));
  }
}
