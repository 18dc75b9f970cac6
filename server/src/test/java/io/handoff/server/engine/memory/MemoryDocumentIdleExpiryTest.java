package io.handoff.server.engine.memory;

import static io.handoff.server.Writes.numbered;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.server.MutableClock;
import io.handoff.server.engine.StoreLimits;
import java.time.Duration;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Review (promise 11; security.md "documents and history not written → gone | 30 days"): on Redis
 * each document's keys expire the idle TTL after its last applied write (RedisWriteExpiryTest); the
 * memory engine must drop a document not written for the idle TTL too, whatever else the user does.
 */
class MemoryDocumentIdleExpiryTest {
  private static final Duration IDLE = Duration.ofDays(30);
  private final MutableClock clock = new MutableClock(1_700_000_000_000L);
  private final MemoryEngine engine =
      new MemoryEngine(StoreLimits.builder().idleTtl(IDLE).build(), clock);

  @AfterEach
  void close() {
    engine.close();
  }

  @Test
  void aDocumentNotWrittenForTheIdleTtlIsGoneWhileTheUserWritesAnother() {
    var store = engine.store();
    assertTrue(store.write("u", "phone", numbered("old", 1)).join().isApplied());
    clock.advance(IDLE.minusDays(1));
    assertTrue(store.write("u", "phone", numbered("fresh", 2)).join().isApplied());
    clock.advance(Duration.ofDays(2)); // "old" unwritten for IDLE + 1 day, "fresh" for 2 days
    engine.sweep(clock.instant()).join();
    assertEquals(Set.of("fresh"), store.documents("u").join());
  }

  @Test
  void aRefusedWriteDoesNotKeepTheUsersDocumentsAlive() {
    var store = engine.store();
    assertTrue(store.write("u", "phone", numbered("doc", 1)).join().isApplied());
    clock.advance(IDLE.minusMinutes(1));
    // A conflict: nothing is written (Redis refreshes only the device's own records).
    assertFalse(store.write("u", "phone", numbered("doc", 2, 99L)).join().isApplied());
    clock.advance(Duration.ofMinutes(2));
    engine.sweep(clock.instant()).join();
    assertEquals(Set.of(), store.documents("u").join());
  }
}
