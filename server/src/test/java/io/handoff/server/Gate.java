package io.handoff.server;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.Supplier;

/**
 * Store calls a test holds back: the next {@code n} calls through the gate wait, unsent, until
 * {@link #release}, then go to the store in the order they came ({@link #pass}); or they go to the
 * store at once and their answers wait until {@link #release}, then are handed over in the order
 * they came ({@link #passAnswer}): a call the store made whose answer the node hears of late.
 * Thread-safe.
 */
final class Gate {
  private final Signal changed;
  private final List<Runnable> held = new ArrayList<>();
  private int toHold;
  private int releases; // Bumped by each release: an answer asked for before it is not held.

  /** {@code changed} fires whenever a call is held. */
  Gate(Signal changed) {
    this.changed = changed;
  }

  /** The next {@code n} calls wait until released. */
  synchronized void hold(int n) {
    toHold = n;
  }

  /** Sends the held calls, in the order they came, and lets later ones through. */
  void release() {
    List<Runnable> out;
    synchronized (this) {
      toHold = 0;
      releases++;
      out = new ArrayList<>(held);
      held.clear();
    }
    out.forEach(Runnable::run);
  }

  /** Calls waiting now. */
  synchronized int held() {
    return held.size();
  }

  /** Makes {@code call} now, or holds it; completes with its answer either way. */
  <T> CompletableFuture<T> pass(Supplier<CompletableFuture<T>> call) {
    CompletableFuture<T> out = new CompletableFuture<>();
    Runnable send = () -> call.get().whenComplete((r, err) -> settle(out, r, err));
    boolean waits = false;
    synchronized (this) {
      if (toHold > 0) {
        toHold--;
        waits = held.add(send);
      }
    }
    if (waits) {
      changed.fire();
    } else {
      send.run();
    }
    return out;
  }

  /**
   * Makes {@code call} now; if it is among the next calls to hold, its answer (once the store gave
   * it) waits until {@link #release}. Completes with the store's answer either way.
   */
  <T> CompletableFuture<T> passAnswer(Supplier<CompletableFuture<T>> call) {
    int asked;
    synchronized (this) {
      if (toHold == 0) {
        return call.get();
      }
      toHold--;
      asked = releases;
    }
    CompletableFuture<T> out = new CompletableFuture<>();
    call.get()
        .whenComplete(
            (r, err) -> {
              Runnable hand = () -> settle(out, r, err);
              boolean waits = false;
              synchronized (this) {
                if (releases == asked) {
                  waits = held.add(hand);
                }
              }
              if (waits) {
                changed.fire();
              } else {
                hand.run();
              }
            });
    return out;
  }

  /**
   * Completes {@code out} as a call completed: with {@code r}, or with {@code err} if it failed.
   */
  static <T> void settle(CompletableFuture<T> out, T r, Throwable err) {
    if (err == null) {
      out.complete(r);
    } else {
      out.completeExceptionally(err);
    }
  }
}
