package io.handoff.server.sync;

import io.handoff.protocol.CloseCode;
import io.handoff.server.ServerStats;
import io.handoff.server.session.Connection;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What becomes of a read of a connection's documents that the store left unanswered: a catch-up
 * read ({@link DocumentSession}'s read of one followed document from the connection's cursor, after
 * a gap on the stream, a recheck, a write's copy the stream did not bring), and a Follow's or
 * Resync's read ({@link SyncRequests}: one document from the device's position, or the listing of
 * the user's documents a Follow of a prefix needs). One the store did not answer in time ({@link
 * OutcomeUnknownException}: a timeout, or the connection lost after sending) is sent again {@link
 * #FIRST_PAUSE_MS} later on the connection's loop (the node's time), then after twice that, up to
 * {@link #MAX_ATTEMPTS} attempts in all. The document's cursor stays claimed meanwhile, as during
 * any read: its events are held (only the highest version is remembered), no other read of it
 * starts, and a read that claims it since, or an Unfollow that drops it, makes the retry a no-op.
 * So at most one read of a document per connection is in flight or waiting to be sent again, and
 * the device gets nothing of the document past its position until a read answered. Any other
 * failure (Redis refused the command, or was not connected for all of the engine's wait), and the
 * last attempt's, close the device UNAVAILABLE, to reconnect and resume; a Follow or Resync is not
 * answered then (the bundled clients send no Resync refused UNAVAILABLE again, and a Follow has
 * grown the follow set already: docs/decisions.md). When the connection closes, a Follow's or
 * Resync's read under way ends at once, with null, whether an attempt waits for the store or the
 * pause before the next ({@link OpenReads}): the drain's count of store calls never waits on a
 * closed connection. A catch-up read's end needs no such help: it completes from the store's answer
 * whether the connection closed or not, and from its pause's timer (one a stopping loop drops
 * leaves it open, and with it the broker's pace of a stopping node, which stops waiting after 30
 * s).
 *
 * <p>A Redis back from a hang of a few seconds applies what it held before the reads it set off,
 * and a loaded machine can take longer than the command timeout over that: a read that timed out is
 * usually answered on its next attempt, and the device stays. The bound is the attempts alone, not
 * the store's health: a hang of a few seconds makes the health check HUNG (its PING times out in
 * 1.5 s) before the first read's 2 s timeout, so reading health would close the very devices a
 * short hang catches. A store that stays away closes them after about three command timeouts
 * instead of one. Event loop only.
 */
final class ReadRetry {
  private static final Logger log = LoggerFactory.getLogger(ReadRetry.class);

  /** Attempts of one read, the first included, before the device is closed. */
  static final int MAX_ATTEMPTS = 3;

  /** The pause before the second attempt; doubled before each one after it. */
  static final long FIRST_PAUSE_MS = 100;

  private ReadRetry() {}

  /**
   * Attempt {@code attempt} (1 for the first) of the catch-up read of {@code doc} that cursor
   * {@code c}'s read {@code generation} sent is {@code read}: once it ends, {@code ended}
   * completes, unless the store did not answer it in time and attempts are left; then it is sent
   * again after a pause, if the connection is open and the cursor still the document's and still
   * that read's then, and {@code ended} waits for that attempt. So what a re-check returns
   * completes only once the store answered the reads it sent, the ones sent again too: the broker's
   * pace waits for them (docs/redis.md). A closed connection's read ends too: with the store's
   * answer (taken here, not on the loop, which drops what comes after the close), or when its pause
   * is over (no attempt follows then). Any thread.
   */
  static void whenEnded(
      DocumentSession session,
      Connection connection,
      ServerStats stats,
      String doc,
      Cursor c,
      int generation,
      int attempt,
      CompletableFuture<?> read,
      CompletableFuture<Object> ended) {
    read.whenComplete(
        (result, err) -> {
          if (err == null || !again(attempt, err)) {
            ended.complete(null);
            return;
          }
          Runnable next =
              () -> {
                if (connection.active() && session.cursor(doc) == c && c.generation == generation) {
                  stats.catchUpReadsRetried.increment();
                  log.debug(
                      "history read of {}/{} failed (attempt {}), read again: {}",
                      connection.userId(),
                      doc,
                      attempt,
                      StoreFailures.root(err));
                  session.fetch(doc, c, c.maxSeen, attempt + 1, ended);
                } else {
                  ended.complete(null); // Closed, unfollowed, or read again by another read.
                }
              };
          try {
            connection.schedule(next, pauseMs(attempt), TimeUnit.MILLISECONDS);
          } catch (RejectedExecutionException stopping) {
            ended.complete(null); // The loop is stopping, and the connection with it.
          }
        });
  }

  /**
   * Attempt {@code attempt} of a catch-up read of {@code doc} failed with {@code err}, its cursor
   * still the document's and still that read's: closes the connection, unless the read is sent
   * again ({@link #whenEnded}). Event loop.
   */
  static void failed(Connection connection, String doc, int attempt, Throwable err) {
    if (again(attempt, err)) {
      return;
    }
    log.warn(
        "history read of {}/{} failed (attempt {} of {}): {}",
        connection.userId(),
        doc,
        attempt,
        MAX_ATTEMPTS,
        StoreFailures.root(err));
    connection.close(CloseCode.UNAVAILABLE, "store unavailable while catching up");
  }

  /**
   * A Follow's or Resync's read of {@code what}, sent by {@code send} (on the loop), and sent again
   * after a pause while {@code wanted} (checked on the loop before each attempt after the first)
   * says the request still needs it. Completes with the answer; with null if an attempt was not
   * sent because the read was no longer wanted, or once the connection closes, whether an attempt
   * waits for the store or the pause before the next then ({@code reads}, the connection's
   * requests' reads under way: the store's answer to an attempt is dropped after the close); or
   * with the failure that ends the attempts, for the request to close the connection.
   */
  static <T> CompletableFuture<T> request(
      OpenReads reads,
      Connection connection,
      ServerStats stats,
      String what,
      Supplier<CompletableFuture<T>> send,
      BooleanSupplier wanted) {
    CompletableFuture<T> answer = reads.open(new CompletableFuture<>());
    attempt(connection, stats, what, send, wanted, 1, answer);
    return answer;
  }

  private static <T> void attempt(
      Connection connection,
      ServerStats stats,
      String what,
      Supplier<CompletableFuture<T>> send,
      BooleanSupplier wanted,
      int attempt,
      CompletableFuture<T> answer) {
    connection.onLoop(
        send.get(),
        (value, err) -> {
          if (err == null) {
            answer.complete(value);
            return;
          }
          if (!again(attempt, err)) {
            answer.completeExceptionally(err);
            return;
          }
          stats.syncReadsRetried.increment();
          log.debug(
              "sync read of {}/{} failed (attempt {}), read again: {}",
              connection.userId(),
              what,
              attempt,
              StoreFailures.root(err));
          connection.schedule(
              () -> {
                if (connection.active() && wanted.getAsBoolean()) {
                  attempt(connection, stats, what, send, wanted, attempt + 1, answer);
                } else {
                  answer.complete(null);
                }
              },
              pauseMs(attempt),
              TimeUnit.MILLISECONDS);
        });
  }

  /** True when attempt {@code attempt} that failed with {@code err} is to be sent again. */
  private static boolean again(int attempt, Throwable err) {
    return attempt < MAX_ATTEMPTS && answerMissed(err);
  }

  /** The pause before the attempt after {@code attempt}. */
  private static long pauseMs(int attempt) {
    return FIRST_PAUSE_MS << (attempt - 1);
  }

  /** True when the store may not have answered in time, rather than refused the read. */
  private static boolean answerMissed(Throwable err) {
    for (Throwable t = err; t != null; t = t.getCause()) {
      if (t instanceof OutcomeUnknownException) {
        return true;
      }
      if (t instanceof StoreUnavailableException) {
        return false;
      }
    }
    return false;
  }
}
