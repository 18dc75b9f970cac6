package io.handoff.server.engine.memory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.ErrorCode;
import io.handoff.server.sync.DocumentTag;
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
  private static final long DOC = DocumentTag.of("doc");
  private static final long OTHER = DocumentTag.of("other");

  @Test
  void aReSentWriteIsAnsweredAsItWasAppliedOrRefused() {
    SeqWindow w = new SeqWindow(16);
    assertNull(w.duplicateOf(1, DOC));
    w.record(1, DOC, WriteOutcome.applied(7, 3, 99, false));
    w.record(2, DOC, WriteOutcome.refused(ErrorCode.CONFLICT, "expected 2 but at 3", 7, 3));

    WriteOutcome applied = w.duplicateOf(1, DOC);
    assertTrue(applied.isApplied());
    assertTrue(applied.duplicate());
    assertEquals(7, applied.epoch());
    assertEquals(3, applied.version());
    assertEquals(99, applied.fingerprint());

    WriteOutcome refused = w.duplicateOf(2, DOC);
    assertEquals(ErrorCode.CONFLICT, refused.error());
    assertEquals("expected 2 but at 3", refused.message());
    assertTrue(refused.duplicate());
    assertNull(w.duplicateOf(3, DOC));
  }

  @Test
  void theWriteRecordedFirstIsForgottenFirstAndTheHighestForgottenIsRemembered() {
    SeqWindow w = new SeqWindow(3);
    w.record(10, DOC, WriteOutcome.applied(1, 1, 1, false));
    w.record(
        3, DOC, WriteOutcome.applied(1, 2, 2, false)); // another document's write, sent earlier
    w.record(7, DOC, WriteOutcome.applied(1, 3, 3, false));
    assertEquals(0, w.forgottenUpTo());

    w.record(12, DOC, WriteOutcome.applied(1, 4, 4, false));
    assertNull(w.duplicateOf(10, DOC), "recorded first, forgotten first");
    assertEquals(10, w.forgottenUpTo());
    w.record(13, DOC, WriteOutcome.applied(1, 5, 5, false));
    assertNull(w.duplicateOf(3, DOC));
    assertEquals(10, w.forgottenUpTo(), "the highest forgotten, not the last");
    assertEquals(3, w.size());
    assertEquals(3, w.duplicateOf(7, DOC).version());
  }

  @Test
  void itAnswersAsAMapOfOutcomesWouldThroughAHundredThousandWritesInAnyOrder() {
    Random random = new Random(7);
    for (int window : new int[] {1, 5, 64, 1024}) {
      SeqWindow w = new SeqWindow(window);
      LinkedHashMap<Long, WriteOutcome> model = new LinkedHashMap<>();
      Map<Long, Long> tags = new java.util.HashMap<>();
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
        long tag = DocumentTag.of("doc" + random.nextInt(3));
        w.record(seq, tag, o);
        model.put(seq, o);
        tags.put(seq, tag);
        while (model.size() > window) {
          Iterator<Map.Entry<Long, WriteOutcome>> eldest = model.entrySet().iterator();
          forgotten = Math.max(forgotten, eldest.next().getKey());
          eldest.remove();
        }
        assertEquals(model.size(), w.size());
        assertEquals(forgotten, w.forgottenUpTo());
        assertTrue(w.capacity() <= window);
        long probe = Math.max(1, base - random.nextInt(2 * window + 4));
        assertSame(
            model.get(probe), w.duplicateOf(probe, tags.getOrDefault(probe, DOC)), "" + probe);
      }
      for (Map.Entry<Long, WriteOutcome> e : model.entrySet()) {
        long tag = tags.get(e.getKey());
        assertSame(e.getValue(), w.duplicateOf(e.getKey(), tag), "client_seq " + e.getKey());
        assertEquals(ErrorCode.BAD_REQUEST, w.duplicateOf(e.getKey(), tag + 1).error());
      }
    }
  }

  @Test
  void aNumberRecordedForAnotherDocumentIsRefusedNotAnsweredWithItsOutcome() {
    SeqWindow w = new SeqWindow(16);
    w.record(2, DOC, WriteOutcome.applied(7, 1, 99, false));
    w.record(3, DOC, WriteOutcome.refused(ErrorCode.CONFLICT, "expected 2 but at 1", 7, 1));
    for (long seq : new long[] {2, 3}) {
      WriteOutcome reused = w.duplicateOf(seq, OTHER);
      assertEquals(ErrorCode.BAD_REQUEST, reused.error(), reused.toString());
      assertTrue(reused.message().contains("client_seq " + seq), reused.message());
    }
    assertEquals(1, w.duplicateOf(2, DOC).version(), "the first write's own re-send still is");
    assertEquals(ErrorCode.CONFLICT, w.duplicateOf(3, DOC).error());
    assertEquals(2, w.size(), "nothing recorded for the refused ones");
  }

  @Test
  void aDeviceThatWroteLittleHoldsLittle() {
    SeqWindow w = new SeqWindow(1024);
    assertEquals(0, w.capacity());
    w.record(1, DOC, WriteOutcome.applied(1, 1, 1, false));
    assertEquals(8, w.capacity());
    for (long s = 2; s <= 5_000; s++) {
      w.record(s, DOC, WriteOutcome.applied(1, s, s, false));
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
