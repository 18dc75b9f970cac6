package io.handoff.server.sync;

import static org.junit.jupiter.api.Assertions.assertEquals;
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
 * The write tracker's bookkeeping of writes acked from the stream before the store answered them:
 * the sweep watches each only until its answer is in, so a connection whose acks outrun the store's
 * answers (Redis publishes inside the write script, before it replies) holds nothing for them.
 */
class WriteTrackerTest {

  @Test
  void aWriteAckedFromTheStreamIsNoLongerWatchedOnceTheStoreAnswers() {
    RecordingConnection connection = new RecordingConnection();
    WriteTracker tracker = new WriteTracker(connection, StoreLimits.builder().build(), p -> {});
    List<CompletableFuture<WriteOutcome>> answers = new ArrayList<>();
    List<WriteTracker.InFlight> writes = new ArrayList<>();
    for (int seq = 1; seq <= 3; seq++) {
      WriteTracker.InFlight p = tracker.start(seq, "doc-" + seq, 100 + seq);
      CompletableFuture<WriteOutcome> answer = new CompletableFuture<>();
      tracker.send(p, () -> answer);
      answers.add(answer);
      writes.add(p);
    }
    for (int seq = 1; seq <= 3; seq++) {
      assertTrue(tracker.reached(event("doc-" + seq, seq)), "acked from the stream: " + seq);
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
