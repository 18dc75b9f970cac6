package io.handoff.server.util;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.time.Duration;
import org.junit.jupiter.api.Test;

/** A flood is logged once per interval, each line saying how many went unlogged since the last. */
class LogEveryTest {
  private static final long SECOND = Duration.ofSeconds(1).toNanos();

  @Test
  void oneLinePerIntervalWithHowManyWentUnloggedSince() {
    LogEvery lines = new LogEvery(Duration.ofSeconds(10));

    assertEquals("", lines.admit(5 * SECOND));
    assertNull(lines.admit(6 * SECOND));
    assertNull(lines.admit(14 * SECOND));
    assertEquals(" (and 2 more since the last such line)", lines.admit(15 * SECOND));
    assertNull(lines.admit(24 * SECOND));
    assertEquals(" (and 1 more since the last such line)", lines.admit(40 * SECOND));
    assertEquals("", lines.admit(50 * SECOND));
  }

  @Test
  void theFirstFailureIsLoggedWhateverTheClockReads() {
    // nanoTime may be negative: the first line does not wait for an interval from zero.
    assertEquals("", new LogEvery(Duration.ofSeconds(10)).admit(-SECOND));
  }
}
