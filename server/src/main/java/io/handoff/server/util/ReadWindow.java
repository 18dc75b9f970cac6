package io.handoff.server.util;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

/**
 * Several document reads, at most {@link #READS} of them sent and not yet answered at once: the
 * first ones are sent at once, each later one when an earlier one is answered, from the thread that
 * completed it (with Redis I/O on the node's event loops, the loop that sent the first: the same
 * Redis connection). For the reads of a Follow, a Resync and {@code DocumentStore.sync}, each of
 * which may name a user's every document (1,000 by default, of up to 256 KiB each): sent at once,
 * their replies, up to 250 MiB, would all be in flight on one Redis connection within one command
 * timeout, every other command on it queued behind them.
 *
 * <p>The results come in the order of the reads, as the reads' own futures gave them (null
 * included). The first read that fails ends the lot: no read is sent after it, and the returned
 * future fails with its failure (wrapped in a {@link CompletionException}, as {@link
 * CompletableFuture#allOf} fails) once every read already sent has ended, so none is left running
 * after it. Thread-safe; reads may complete on any thread, at once or later.
 */
public final class ReadWindow<T> {
  /**
   * Reads in flight at once: a read brings at most about one document (a snapshot: up to {@code
   * max-document-bytes}), so sixteen of them are about as much as a resume's one reply may bring.
   */
  public static final int READS = 16;

  private final List<Supplier<CompletableFuture<T>>> reads;
  private final int window;
  private final Object[] results;
  private final CompletableFuture<List<T>> all = new CompletableFuture<>();
  // Entries of send(): the thread that made it 0 -> 1 sends; others leave their turn to it.
  private final AtomicInteger pumps = new AtomicInteger();
  private int next; // Guarded by this, as are the three below.
  private int running;
  private int ended;
  private Throwable failure;

  private ReadWindow(List<Supplier<CompletableFuture<T>>> reads, int window) {
    this.reads = reads;
    this.window = window;
    this.results = new Object[reads.size()];
  }

  /** The results of {@code reads}, at most {@link #READS} of them sent at once. */
  public static <T> CompletableFuture<List<T>> of(List<Supplier<CompletableFuture<T>>> reads) {
    return of(reads, READS);
  }

  /** The results of {@code reads}, at most {@code window} of them sent at once. */
  public static <T> CompletableFuture<List<T>> of(
      List<Supplier<CompletableFuture<T>>> reads, int window) {
    if (window < 1) {
      throw new IllegalArgumentException("window must be at least 1, was " + window);
    }
    ReadWindow<T> w = new ReadWindow<>(List.copyOf(reads), window);
    if (reads.isEmpty()) {
      w.all.complete(List.of());
    } else {
      w.send();
    }
    return w.all;
  }

  /**
   * Sends reads while the window has room. A loop, not a recursion: a read that completes at once
   * (a memory store, a closed connection) calls this again from inside the loop, which only counts
   * it for the sending thread to loop once more.
   */
  private void send() {
    if (pumps.getAndIncrement() != 0) {
      return;
    }
    int missed = 1;
    do {
      while (true) {
        int i;
        synchronized (this) {
          if (failure != null || next == reads.size() || running == window) {
            break;
          }
          i = next++;
          running++;
        }
        CompletableFuture<T> read;
        try {
          read = reads.get(i).get();
        } catch (RuntimeException e) {
          read = CompletableFuture.failedFuture(e);
        }
        read.whenComplete((value, err) -> ended(i, value, err));
      }
      missed = pumps.addAndGet(-missed);
    } while (missed != 0);
  }

  private void ended(int i, T value, Throwable err) {
    boolean done;
    Throwable failed;
    synchronized (this) {
      running--;
      ended++;
      if (err != null && failure == null) {
        failure = err;
      }
      results[i] = value;
      failed = failure;
      done = failed != null ? running == 0 : ended == reads.size();
    }
    if (!done) {
      send();
    } else if (failed != null) {
      all.completeExceptionally(
          failed instanceof CompletionException ? failed : new CompletionException(failed));
    } else {
      @SuppressWarnings("unchecked")
      List<T> list = (List<T>) new ArrayList<>(Arrays.asList(results));
      all.complete(list);
    }
  }
}
