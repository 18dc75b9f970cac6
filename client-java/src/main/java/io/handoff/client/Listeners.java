package io.handoff.client;

import java.util.ArrayDeque;
import java.util.List;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The app's {@link HandoffListener}s, called in the order they were added: anything one of them
 * throws (but a {@link VirtualMachineError}) is logged and does not keep the others from being
 * called, nor the client from finishing what it was doing. Once {@link #close closed} (the client
 * was closed), none is called again. Event loop only.
 *
 * <p>One event at a time: an event raised while the listeners hear another (a listener called
 * {@code connect()} or {@code close()}, which changes the state) waits until every listener has
 * heard the one before, so each listener hears the events in the order they happened and is never
 * called from inside itself.
 */
final class Listeners {
  private static final Logger log = LoggerFactory.getLogger(Listeners.class);

  private final List<HandoffListener> listeners;
  // Events raised while the listeners hear an earlier one.
  private final ArrayDeque<Runnable> queued = new ArrayDeque<>();
  private boolean delivering;
  private boolean closed;

  Listeners(List<HandoffListener> listeners) {
    this.listeners = listeners;
  }

  /**
   * The client was closed: no listener is called after the events raised so far (the last of them
   * being the CLOSED state change).
   */
  void close() {
    deliver(() -> closed = true);
  }

  /** True when no listener was added (a change then need not even be built). */
  boolean isEmpty() {
    return listeners.isEmpty();
  }

  void changed(DocumentChange change) {
    each("onChange", l -> l.onChange(change));
  }

  /** Reports {@code error}; logged instead when no listener would see it. */
  void error(HandoffException error) {
    if (listeners.isEmpty() || closed) {
      log.warn("{}", error.getMessage());
    }
    each("onError", l -> l.onError(error));
  }

  void stateChanged(ConnectionState next, int closeCode, String reason) {
    each("onStateChanged", l -> l.onStateChanged(next, closeCode, reason));
  }

  void deltaOutOfTurn(String document, long held, long received) {
    each("onDeltaOutOfTurn", l -> l.onDeltaOutOfTurn(document, held, received));
  }

  void synced() {
    each("onSynced", HandoffListener::onSynced);
  }

  private void each(String method, Consumer<HandoffListener> call) {
    if (listeners.isEmpty() || closed) {
      return;
    }
    deliver(
        () -> {
          for (HandoffListener l : listeners) {
            if (closed) {
              return;
            }
            try {
              call.accept(l);
            } catch (VirtualMachineError e) {
              throw e;
            } catch (Throwable e) {
              // An Error or a checked exception too (an assertion, a Kotlin listener): thrown on,
              // it would cut the client's own work short, e.g. an acked write's completion.
              log.warn("listener {} threw from {}", l, method, e);
            }
          }
        });
  }

  private void deliver(Runnable event) {
    queued.add(event);
    if (delivering) {
      return; // The call under way delivers it next.
    }
    delivering = true;
    try {
      Runnable next;
      while ((next = queued.poll()) != null) {
        next.run();
      }
    } finally {
      delivering = false;
    }
  }
}
