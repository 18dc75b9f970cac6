package io.handoff.server.sync;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.Hello;
import io.handoff.protocol.v1.Position;
import io.handoff.protocol.v1.Resync;
import io.handoff.protocol.v1.Write;
import io.handoff.server.ServerConfig;
import io.handoff.server.ServerStats;
import io.handoff.server.Writes;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.memory.MemoryEngine;
import io.handoff.server.session.RecordingConnection;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A Follow's or Resync's read that {@link ReadRetry} has under way ends when the connection closes,
 * whether its attempt waits for the store or the pause before the next one: the drain's count of
 * the store calls a session waits for goes back to 0. The session's answer to a store call that
 * comes after the close is dropped unread, as {@code Session} does; a pause's timer fires only when
 * the test runs it, and not at all for the requests' reads, as the timers of a loop that stops
 * never do. A catch-up read ends by itself. The real session and memory store, whose reads the test
 * answers.
 */
class ReadsEndWithTheConnectionTest {
  private final StoreLimits limits = StoreLimits.builder().build();
  private final MemoryEngine engine = new MemoryEngine(limits);
  private final HeldReads store = new HeldReads(engine.store());
  private final ClosingConnection connection = new ClosingConnection();
  private final DocumentSession session =
      new DocumentSession(
          connection,
          new DocumentSession.Node(
              store,
              new WriteValidator(limits),
              ServerConfig.builder().jwtSecret("reads-end-test-secret-reads-end-test").build(),
              new ServerStats()));

  @BeforeEach
  void live() {
    Write w = Writes.set("notes", 1, "f", "v");
    assertTrue(engine.store().write("user", "tablet", w).join().isApplied());
    assertNull(session.hello(Hello.getDefaultInstance()));
    session.welcomed(new DocumentSession.Resume(0, List.of()));
  }

  @AfterEach
  void stop() {
    engine.close();
  }

  @Test
  void aResyncWhoseReadWaitsForTheStoreWhenTheConnectionClosesIsNoLongerAwaited() {
    session.onFrame(1, resync());
    assertEquals(1, store.reads.size(), "the Resync's read is sent");

    close();
    store.reads.get(0).complete(SyncResult.gone("notes")); // Answered after the close.
    assertEquals(
        0,
        connection.awaited,
        "the drain still counts a store call of the closed connection: its Resync's read never"
            + " ended");
  }

  @Test
  void aResyncWhoseReadIsPausedBeforeItsNextAttemptWhenTheConnectionClosesIsNoLongerAwaited() {
    session.onFrame(1, resync());
    store.reads.get(0).completeExceptionally(new OutcomeUnknownException("timed out", null));
    assertEquals(1, connection.timers.size(), "the read is sent again after a pause");
    assertEquals(1, connection.awaited, "the Resync's report waits for the read");

    close();
    assertEquals(
        0,
        connection.awaited,
        "the drain still counts a store call of the closed connection: its Resync's read, paused"
            + " before its next attempt, never ended");
    connection.timers.get(0).run(); // A loop that still runs fires the timer: nothing is sent.
    assertEquals(1, store.reads.size(), "no attempt after the close");
  }

  /**
   * A catch-up read's end, which what a re-check returns waits for, completes from the store's
   * answer and from its pause's timer whether or not the connection closed: it needs nothing of the
   * close, and no attempt follows it.
   */
  @Test
  void aCatchUpReadOfAClosedConnectionEndsWithTheStoresAnswerOrItsPauseAndIsNotSentAgain() {
    CompletableFuture<?> answered = session.recheck();
    assertEquals(1, store.reads.size(), "the re-check reads the followed document");
    close();
    store.reads.get(0).completeExceptionally(new OutcomeUnknownException("timed out", null));
    assertFalse(answered.isDone(), "the read is sent again after a pause, if still wanted");
    assertEquals(1, connection.timers.size());
    connection.timers.get(0).run();
    assertTrue(answered.isDone(), "the re-check's end waits for nothing more");
    assertEquals(1, store.reads.size(), "no attempt after the close");
  }

  /** Closes the connection as the transport does: closing first, then closed. */
  private void close() {
    connection.close(CloseCode.SHUTDOWN, "test");
    session.closed();
  }

  private static ClientFrame resync() {
    return ClientFrame.newBuilder()
        .setResync(Resync.newBuilder().addPositions(Position.newBuilder().setDocument("notes")))
        .build();
  }

  /** The memory store, but every read waits for the test to answer it. */
  private static final class HeldReads extends ForwardingDocumentStore {
    final List<CompletableFuture<SyncResult>> reads = new ArrayList<>();

    HeldReads(DocumentStore delegate) {
      super(delegate);
    }

    @Override
    public CompletableFuture<SyncResult> read(
        String userId, String document, long epoch, long version, long fingerprint) {
      CompletableFuture<SyncResult> read = new CompletableFuture<>();
      reads.add(read);
      return read;
    }
  }

  /**
   * A connection that closes and counts the store calls its session waits for, as {@code Session}
   * does for its drain: counted when asked for, uncounted when answered, and the answer dropped
   * once closed. Timers are kept for the test to run, never fired by time.
   */
  private static final class ClosingConnection extends RecordingConnection {
    final List<Runnable> timers = new ArrayList<>();
    int awaited;
    boolean closed;

    @Override
    public <T> void onLoop(CompletableFuture<T> future, BiConsumer<T, Throwable> then) {
      awaited++;
      future.whenComplete(
          (value, err) -> {
            awaited--;
            if (active()) {
              then.accept(value, err);
            }
          });
    }

    @Override
    public Future<?> schedule(Runnable task, long delay, TimeUnit unit) {
      timers.add(task);
      return new CompletableFuture<>();
    }

    @Override
    public boolean active() {
      return !closed;
    }

    @Override
    public void close(CloseCode code, String reason) {
      closed = true;
    }
  }
}
