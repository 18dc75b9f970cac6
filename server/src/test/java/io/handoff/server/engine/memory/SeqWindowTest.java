package io.handoff.server.engine.memory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.ErrorCode;
import io.handoff.server.sync.WriteOutcome;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The idempotency window of one device: a re-sent write gets the answer recorded for it, the write
 * recorded first is forgotten first once the window is full, and the highest client_seq forgotten
 * is remembered; it behaves as the map of outcomes it replaced, through any order of client_seqs.
 */
class SeqWindowTest {
  @Test
  void aReSentWriteIsAnsweredAsItWasAppliedOrRefused() {
    SeqWindow w = new SeqWindow(16);
    assertNull(w.duplicateOf(1));
    w.record(1, WriteOutcome.applied(7, 3, 99, false));
    w.record(2, WriteOutcome.refused(ErrorCode.CONFLICT, "expected 2 but at 3", 7, 3));

    WriteOutcome applied = w.duplicateOf(1);
    assertTrue(applied.isApplied());
    assertTrue(applied.duplicate());
    assertEquals(7, applied.epoch());
    assertEquals(3, applied.version());
    assertEquals(99, applied.fingerprint());

    WriteOutcome refused = w.duplicateOf(2);
    assertEquals(ErrorCode.CONFLICT, refused.error());
    assertEquals("expected 2 but at 3", refused.message());
    assertTrue(refused.duplicate());
    assertNull(w.duplicateOf(3));
  }

  @Test
  void theWriteRecordedFirstIsForgottenFirstAndTheHighestForgottenIsRemembered() {
    SeqWindow w = new SeqWindow(3);
    w.record(10, WriteOutcome.applied(1, 1, 1, false));
    w.record(3, WriteOutcome.applied(1, 2, 2, false)); // another document's write, sent earlier
    w.record(7, WriteOutcome.applied(1, 3, 3, false));
    assertEquals(0, w.forgottenUpTo());

    w.record(12, WriteOutcome.applied(1, 4, 4, false));
    assertNull(w.duplicateOf(10), "recorded first, forgotten first");
    assertEquals(10, w.forgottenUpTo());
    w.record(13, WriteOutcome.applied(1, 5, 5, false));
    assertNull(w.duplicateOf(3));
    assertEquals(10, w.forgottenUpTo(), "the highest forgotten, not the last");
    assertEquals(3, w.size());
    assertEquals(3, w.duplicateOf(7).version());
  }

  @Test
  void itAnswersAsAMapOfOutcomesWouldThroughAHundredThousandWritesInAnyOrder() {
    Random random = new Random(7);
    for (int window : new int[] {1, 5, 64, 1024}) {
      SeqWindow w = new SeqWindow(window);
      LinkedHashMap<Long, WriteOutcome> model = new LinkedHashMap<>();
      long forgotten = 0;
      long base = 0;
      for (int i = 0; i < 100_000; i++) {
        // Mostly rising client_seqs, some out of order and some re-sent, in a narrow range so
        // probe runs collide and entries are removed from the middle of them.
        base += random.nextInt(3);
        long seq = Math.max(1, base - random.nextInt(window + 2));
        WriteOutcome o =
            random.nextInt(20) == 0
                ? WriteOutcome.refused(ErrorCode.OUT_OF_ORDER, "older " + i, 1, i)
                : WriteOutcome.applied(random.nextLong(), i, random.nextLong(), false);
        w.record(seq, o);
        model.put(seq, o);
        while (model.size() > window) {
          Iterator<Map.Entry<Long, WriteOutcome>> eldest = model.entrySet().iterator();
          forgotten = Math.max(forgotten, eldest.next().getKey());
          eldest.remove();
        }
        assertEquals(model.size(), w.size());
        assertEquals(forgotten, w.forgottenUpTo());
        assertTrue(w.capacity() <= window);
        long probe = Math.max(1, base - random.nextInt(2 * window + 4));
        assertSame(model.get(probe), w.duplicateOf(probe), "client_seq " + probe);
      }
      for (Map.Entry<Long, WriteOutcome> e : model.entrySet()) {
        assertSame(e.getValue(), w.duplicateOf(e.getKey()), "client_seq " + e.getKey());
      }
    }
  }

  @Test
  void aDeviceThatWroteLittleHoldsLittle() {
    SeqWindow w = new SeqWindow(1024);
    assertEquals(0, w.capacity());
    w.record(1, WriteOutcome.applied(1, 1, 1, false));
    assertEquals(8, w.capacity());
    for (long s = 2; s <= 5_000; s++) {
      w.record(s, WriteOutcome.applied(1, s, s, false));
    }
    assertEquals(1024, w.capacity());
    assertEquals(1024, w.size());
    assertEquals(5_000 - 1024, w.forgottenUpTo());
  }

  /** The same answer: both absent, or the same outcome marked as a duplicate. */
  private static void assertSame(WriteOutcome recorded, WriteOutcome answer, String what) {
    if (recorded == null) {
      assertNull(answer, what);
      return;
    }
    assertTrue(answer.duplicate(), what);
    assertEquals(recorded.error(), answer.error(), what);
    assertEquals(recorded.message(), answer.message(), what);
    assertEquals(recorded.epoch(), answer.epoch(), what);
    assertEquals(recorded.version(), answer.version(), what);
    assertEquals(recorded.fingerprint(), answer.fingerprint(), what);
  }
}
