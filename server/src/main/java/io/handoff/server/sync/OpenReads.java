package io.handoff.server.sync;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * The reads of one connection's Follow and Resync requests that {@link ReadRetry} has under way (an
 * attempt waiting for the store, or the pause before the next one), each as the future its request
 * waits on, and with it the drain's count of the store calls its session waits for. When the
 * connection closes, every one of them ends at once, with null: the store's answer to an attempt
 * that comes after the close is dropped unread ({@link
 * io.handoff.server.session.Connection#onLoop}), and the timer of a pause may never fire (a loop
 * that stops drops its timers), so nothing else would complete them.
 *
 * <p>Holds at most twice the reads still open, plus 16: ended ones are dropped once that many are
 * held. Made with the connection's {@link SyncRequests} (its first Follow, Unfollow or Resync), not
 * by every connection. Event loop only; the futures themselves may complete on any thread.
 */
final class OpenReads {
  private static final int FIRST_PURGE = 16;

  private final List<CompletableFuture<?>> open = new ArrayList<>();
  private int purgeAt = FIRST_PURGE;
  private boolean closed;

  /** Holds {@code end} until the connection closes (ended with null then, if still open). */
  <T> CompletableFuture<T> open(CompletableFuture<T> end) {
    if (closed) {
      end.complete(null);
      return end;
    }
    if (open.size() >= purgeAt) {
      open.removeIf(CompletableFuture::isDone);
      purgeAt = Math.max(FIRST_PURGE, 2 * open.size());
    }
    open.add(end);
    return end;
  }

  /** The connection closed: ends every read still open, and any opened from now on, with null. */
  void closed() {
    closed = true;
    // A copy: what waits on these runs as each completes, and may open another (ended at once).
    List<CompletableFuture<?>> all = new ArrayList<>(open);
    open.clear();
    for (CompletableFuture<?> f : all) {
      f.complete(null);
    }
  }
}
