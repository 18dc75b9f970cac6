package io.handoff.server.sync;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.handoff.protocol.v1.FieldOp;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.session.RecordingConnection;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

/**
 * The write tracker's confirmation of writes: the live stream acks only a write the store has
 * answered, and a read from the store acks one before its answer; the sweep watches such a write
 * only until its answer is in, so a connection whose reads outrun the store's answers holds nothing
 * for them.
 */
class WriteTrackerTest {

  @Test
  void theLiveStreamDoesNotAckAWriteTheStoreHasNotAnswered() {
    RecordingConnection connection = new RecordingConnection();
    WriteTracker tracker = new WriteTracker(connection, StoreLimits.builder().build(), p -> {});
    WriteTracker.InFlight p = tracker.start(7, "doc", 107, 16);
    CompletableFuture<WriteOutcome> answer = new CompletableFuture<>();
    tracker.send(p, () -> answer);

    assertEquals(WriteTracker.Reached.AWAITING_ANSWER, tracker.reached(event("doc", 7)));
    assertEquals(0, connection.replies.size(), "no ack before the store's answer");
    assertTrue(tracker.waiting(7, p));

    tracker.applied(p, 42, 7, 0);
    assertEquals(WriteTracker.Reached.ACKED, tracker.reached(event("doc", 7)));
    assertEquals(1, connection.replies.size());
    assertTrue(tracker.isEmpty());
  }

  @Test
  void anotherDevicesWriteIsNotMine() {
    RecordingConnection connection = new RecordingConnection();
    WriteTracker tracker = new WriteTracker(connection, StoreLimits.builder().build(), p -> {});
    DocumentEvent other =
        DocumentEvent.accepted(
            "user",
            "doc",
            List.of(
                FieldOp.newBuilder().setField("f").setSet(ByteString.copyFromUtf8("v")).build()),
            "laptop",
            1,
            1_000,
            42,
            1,
            0);
    assertEquals(WriteTracker.Reached.NOT_MINE, tracker.reached(other));
    assertEquals(0, connection.replies.size());
  }

  @Test
  void aWriteAckedFromAStoreReadIsNoLongerWatchedOnceTheStoreAnswers() {
    RecordingConnection connection = new RecordingConnection();
    WriteTracker tracker = new WriteTracker(connection, StoreLimits.builder().build(), p -> {});
    List<CompletableFuture<WriteOutcome>> answers = new ArrayList<>();
    List<WriteTracker.InFlight> writes = new ArrayList<>();
    for (int seq = 1; seq <= 3; seq++) {
      WriteTracker.InFlight p = tracker.start(seq, "doc-" + seq, 100 + seq, 16);
      CompletableFuture<WriteOutcome> answer = new CompletableFuture<>();
      tracker.send(p, () -> answer);
      answers.add(answer);
      writes.add(p);
    }
    for (int seq = 1; seq <= 3; seq++) {
      assertTrue(tracker.readFromStore(event("doc-" + seq, seq)), "acked from a read: " + seq);
    }
    assertEquals(3, connection.replies.size());
    assertEquals(3, tracker.watchedAfterAck());

    // Answers in order, and one out of order.
    answers.get(0).complete(null);
    tracker.answered(writes.get(0));
    assertEquals(2, tracker.watchedAfterAck());
    answers.get(2).complete(null);
    tracker.answered(writes.get(2));
    assertEquals(1, tracker.watchedAfterAck());
    answers.get(1).complete(null);
    tracker.answered(writes.get(1));
    assertEquals(0, tracker.watchedAfterAck());
    assertTrue(tracker.isEmpty());
  }

  @Test
  void aReadAcksAnAppliedWriteOnlyWhereItsCopyShowsIt() {
    RecordingConnection connection = new RecordingConnection();
    WriteTracker tracker = new WriteTracker(connection, StoreLimits.builder().build(), p -> {});
    WriteTracker.InFlight atItsVersion = tracker.start(1, "cart", 101, 16);
    WriteTracker.InFlight otherFingerprint = tracker.start(2, "note", 102, 16);
    WriteTracker.InFlight passed = tracker.start(3, "todo", 103, 16);
    for (WriteTracker.InFlight p : List.of(atItsVersion, otherFingerprint, passed)) {
      tracker.send(p, () -> new CompletableFuture<>());
    }
    long readAfter = tracker.answersSoFar(); // Reads sent before the answers: 0.
    tracker.applied(atItsVersion, 42, 5, 0xA5);
    tracker.applied(otherFingerprint, 42, 5, 0xA5);
    tracker.applied(passed, 42, 5, 0xA5);

    assertNull(
        tracker.covered("cart", true, 42, 5, 0xA5, readAfter), "its version with its fingerprint");
    assertEquals(1, connection.replies.size());
    assertEquals(List.of(otherFingerprint), tracker.covered("note", true, 42, 5, 0xB6, readAfter));
    assertEquals(List.of(passed), tracker.covered("todo", true, 42, 6, 0xC7, readAfter));
    assertEquals(1, connection.replies.size(), "neither of the last two acked");
    assertTrue(tracker.isEmpty());
  }

  @Test
  void withDurableAcksAWriteWhoseOwnEventCameIsAckedByAReadPastIt() {
    RecordingConnection connection = new RecordingConnection();
    WriteTracker tracker =
        new WriteTracker(connection, StoreLimits.builder().durableAcks(1).build(), p -> {});
    WriteTracker.InFlight p = tracker.start(7, "doc", 107, 16);
    tracker.send(p, () -> new CompletableFuture<>());
    assertEquals(WriteTracker.Reached.NOT_MINE, tracker.reached(event("doc", 7)));
    tracker.applied(p, 42, 7, 0);

    assertNull(
        tracker.covered("doc", true, 42, 9, 0xD8, tracker.answersSoFar()),
        "its own event came at its version");
    assertEquals(1, connection.replies.size());
  }

  @Test
  void aReadSentAfterAWritesAnswerThatDoesNotShowItSettlesItAsLost() {
    RecordingConnection connection = new RecordingConnection();
    WriteTracker tracker = new WriteTracker(connection, StoreLimits.builder().build(), p -> {});
    WriteTracker.InFlight behind = tracker.start(1, "cart", 101, 16);
    WriteTracker.InFlight otherHistory = tracker.start(2, "note", 102, 16);
    WriteTracker.InFlight gone = tracker.start(3, "todo", 103, 16);
    WriteTracker.InFlight answeredLater = tracker.start(4, "list", 104, 16);
    for (WriteTracker.InFlight p : List.of(behind, otherHistory, gone, answeredLater)) {
      tracker.send(p, () -> new CompletableFuture<>());
    }
    tracker.applied(behind, 42, 5, 0xA5);
    tracker.applied(otherHistory, 42, 5, 0xA5);
    tracker.applied(gone, 42, 5, 0xA5);
    long readAfter = tracker.answersSoFar();
    tracker.applied(answeredLater, 42, 5, 0xA5);

    // Reads sent after the first three answers: the store no longer has those writes.
    assertEquals(List.of(behind), tracker.covered("cart", true, 42, 4, 0xB6, readAfter));
    assertEquals(List.of(otherHistory), tracker.covered("note", true, 43, 9, 0xC7, readAfter));
    assertEquals(List.of(gone), tracker.covered("todo", false, 0, 0, 0, readAfter));
    // A read sent before its answer may predate the write: it waits for the stream or a later read.
    assertNull(tracker.covered("list", true, 42, 4, 0xD8, readAfter));
    assertTrue(tracker.waiting(4, answeredLater));
    assertNull(tracker.covered("list", true, 42, 5, 0xA5, tracker.answersSoFar()));
    assertEquals(1, connection.replies.size(), "only the last, acked where its copy shows it");
    assertTrue(tracker.isEmpty());
  }

  private static DocumentEvent event(String doc, long seq) {
    return DocumentEvent.accepted(
        "user",
        doc,
        List.of(FieldOp.newBuilder().setField("f").setSet(ByteString.copyFromUtf8("v")).build()),
        "phone",
        seq,
        1_000,
        42,
        seq,
        0);
  }
}
