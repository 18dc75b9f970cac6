package io.handoff.server.engine.memory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.handoff.protocol.v1.FieldOp;
import io.handoff.protocol.v1.Write;
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

  private static Write set(String doc, long seq, Long expected) {
    Write.Builder b =
        Write.newBuilder()
            .setDocument(doc)
            .setClientSeq(seq)
            .addOps(FieldOp.newBuilder().setField("f").setSet(ByteString.copyFromUtf8("v" + seq)));
    if (expected != null) {
      b.setExpectedVersion(expected);
    }
    return b.build();
  }

  @Test
  void aDocumentNotWrittenForTheIdleTtlIsGoneWhileTheUserWritesAnother() {
    var store = engine.store();
    assertTrue(store.write("u", "phone", set("old", 1, null)).join().isApplied());
    clock.advance(IDLE.minusDays(1));
    assertTrue(store.write("u", "phone", set("fresh", 2, null)).join().isApplied());
    clock.advance(Duration.ofDays(2)); // "old" unwritten for IDLE + 1 day, "fresh" for 2 days
    engine.sweep(clock.instant()).join();
    assertEquals(Set.of("fresh"), store.documents("u").join());
  }

  @Test
  void aRefusedWriteDoesNotKeepTheUsersDocumentsAlive() {
    var store = engine.store();
    assertTrue(store.write("u", "phone", set("doc", 1, null)).join().isApplied());
    clock.advance(IDLE.minusMinutes(1));
    // A conflict: nothing is written (Redis refreshes only the device's own records).
    assertFalse(store.write("u", "phone", set("doc", 2, 99L)).join().isApplied());
    clock.advance(Duration.ofMinutes(2));
    engine.sweep(clock.instant()).join();
    assertEquals(Set.of(), store.documents("u").join());
  }
}
