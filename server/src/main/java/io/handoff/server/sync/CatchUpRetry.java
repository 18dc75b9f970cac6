package io.handoff.server.sync;

import io.handoff.protocol.CloseCode;
import io.handoff.server.ServerStats;
import io.handoff.server.session.Connection;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What becomes of a catch-up read that failed: {@link DocumentSession}'s read of one followed
 * document from the connection's cursor (a gap on the stream, a recheck, a write's copy the stream
 * did not bring). One the store did not answer in time ({@link OutcomeUnknownException}: a timeout,
 * or the connection lost after sending) is sent again {@link #FIRST_PAUSE_MS} later on the
 * connection's loop (the node's time), then after twice that, up to {@link #MAX_ATTEMPTS} attempts
 * in all. The cursor stays claimed meanwhile, as during any read: the document's events are held
 * (only the highest version is remembered), no other catch-up read of it starts, and a Follow or
 * Resync that claims it since makes the retry a no-op. So at most one read of a document per
 * connection is in flight or waiting to be sent again, and the device gets nothing of the document
 * past the gap until a read answered. Any other failure (Redis refused the command, or was not
 * connected for all of the engine's wait), and the last attempt's, close the device UNAVAILABLE, to
 * reconnect and resume.
 *
 * <p>A Redis back from a hang of a few seconds applies what it held before the reads it set off,
 * and a loaded machine can take longer than the command timeout over that: a read that timed out is
 * usually answered on its next attempt, and the device stays. The bound is the attempts alone, not
 * the store's health: a hang of a few seconds makes the health check HUNG (its PING times out in
 * 1.5 s) before the first read's 2 s timeout, so reading health would close the very devices a
 * short hang catches. A store that stays away closes them after about three command timeouts
 * instead of one. Event loop only.
 */
final class CatchUpRetry {
  private static final Logger log = LoggerFactory.getLogger(CatchUpRetry.class);

  /** Attempts of one catch-up read, the first included, before the device is closed. */
  static final int MAX_ATTEMPTS = 3;

  /** The pause before the second attempt; doubled before each one after it. */
  static final long FIRST_PAUSE_MS = 100;

  private CatchUpRetry() {}

  /**
   * Attempt {@code attempt} (1 for the first) of the read of {@code doc} that cursor {@code c}'s
   * read {@code generation} sent failed with {@code err}: sends it again after a pause, if the
   * cursor is still the document's and still that read's then, or closes the connection.
   */
  static void failed(
      DocumentSession session,
      Connection connection,
      ServerStats stats,
      String doc,
      Cursor c,
      int generation,
      int attempt,
      Throwable err) {
    if (attempt < MAX_ATTEMPTS && answerMissed(err)) {
      stats.catchUpReadsRetried.increment();
      log.debug(
          "history read of {}/{} failed (attempt {}), read again: {}",
          connection.userId(),
          doc,
          attempt,
          StoreFailures.root(err));
      connection.schedule(
          () -> {
            if (connection.active() && session.cursor(doc) == c && c.generation == generation) {
              session.fetch(doc, c, c.maxSeen, attempt + 1);
            }
          },
          FIRST_PAUSE_MS << (attempt - 1),
          TimeUnit.MILLISECONDS);
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
