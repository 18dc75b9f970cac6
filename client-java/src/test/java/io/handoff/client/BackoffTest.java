package io.handoff.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashSet;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

class BackoffTest {
  private static final long INITIAL = 100;
  private static final long MAX = 30_000;

  @Test
  void backoffGrowsExponentiallyUntilTheCap() {
    Backoff backoff = new Backoff(INITIAL, MAX, () -> 1.0);

    long[] delays = new long[12];
    for (int i = 0; i < delays.length; i++) {
      delays[i] = backoff.nextDelayNanos();
    }

    assertEquals(100, delays[0]);
    assertEquals(200, delays[1]);
    assertEquals(400, delays[2]);
    assertEquals(25_600, delays[8]);
    assertEquals(MAX, delays[9]);
    assertEquals(MAX, delays[11]);
  }

  @Test
  void backoffIsFullyJittered() {
    Random random = new Random(7);
    Backoff backoff = new Backoff(INITIAL, MAX, random::nextDouble);
    long ceiling = backoff.ceilingNanos(5);

    Set<Long> seen = new HashSet<>();
    long below = 0;
    for (int i = 0; i < 500; i++) {
      long delay = backoff.delayNanos(5);
      assertTrue(delay >= 0 && delay < ceiling, () -> "delay out of [0, ceiling): " + delay);
      seen.add(delay);
      below += delay < ceiling / 2 ? 1 : 0;
    }

    assertTrue(seen.size() > 100, "delays must vary");
    assertTrue(below > 150 && below < 350, "delays must spread over the whole range: " + below);
  }

  @Test
  void ceilingNeverOverflows() {
    Backoff backoff = new Backoff(Long.MAX_VALUE / 4, Long.MAX_VALUE, () -> 1.0);

    assertEquals(Long.MAX_VALUE, backoff.ceilingNanos(3));
    assertEquals(Long.MAX_VALUE, backoff.ceilingNanos(70));
    assertEquals(MAX, new Backoff(INITIAL, MAX, () -> 1.0).ceilingNanos(Integer.MAX_VALUE));
  }

  @Test
  void resetStartsOverFromTheInitialDelay() {
    Backoff backoff = new Backoff(INITIAL, MAX, () -> 1.0);
    backoff.nextDelayNanos();
    backoff.nextDelayNanos();

    backoff.reset();

    assertEquals(INITIAL, backoff.nextDelayNanos());
  }
}
