package io.handoff.server.handoff;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * The keeper's arithmetic keeps the promise of {@code presence-ttl}: a dead node's devices read
 * offline everywhere within the TTL (their deadline, then up to one keeper period until a peer
 * re-reads), and a live device's refresh may come late by a good part of the TTL without its entry
 * lapsing.
 */
class PresenceTimingTest {
  @Test
  void aDeadNodesDevicesReadOfflineWithinTheTtlAndALateRefreshHasSlack() {
    for (long millis : new long[] {100, 300, 3_000, 30_000, 600_000}) {
      Duration ttl = Duration.ofMillis(millis);
      Duration entry = HandoffService.entryTtl(ttl);
      Duration period = HandoffService.keeperPeriod(ttl);
      assertTrue(
          entry.plus(period).compareTo(ttl) < 0,
          ttl + ": deadline " + entry + " plus a period " + period + " is past the TTL");
      assertTrue(
          entry.minus(period).compareTo(ttl.dividedBy(5)) >= 0,
          ttl + ": a refresh may be late by only " + entry.minus(period));
    }
  }
}
