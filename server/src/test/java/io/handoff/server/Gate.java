package io.handoff.server;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.Supplier;

/**
 * Store calls a test holds back: the next {@code n} calls through the gate wait, unsent, until
 * {@link #release}, then go to the store in the order they came. Thread-safe.
 */
final class Gate {
  private final Signal changed;
  private final List<Runnable> held = new ArrayList<>();
  private int toHold;

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
    Runnable send =
        () ->
            call.get()
                .whenComplete(
                    (r, err) -> {
                      if (err == null) {
                        out.complete(r);
                      } else {
                        out.completeExceptionally(err);
                      }
                    });
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
}
