package io.handoff.client;

import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The app's {@link HandoffListener}s, called in the order they were added: an exception one of them
 * throws is logged and does not keep the others from being called. Once {@link #close closed} (the
 * client was closed), none is called again. Event loop only.
 */
final class Listeners {
  private static final Logger log = LoggerFactory.getLogger(Listeners.class);

  private final List<HandoffListener> listeners;
  private boolean closed;

  Listeners(List<HandoffListener> listeners) {
    this.listeners = listeners;
  }

  /** The client was closed: no listener is called from now on. */
  void close() {
    closed = true;
  }

  /** True when no listener was added (a change then need not even be built). */
  boolean isEmpty() {
    return listeners.isEmpty();
  }

  void changed(DocumentChange change) {
    for (HandoffListener l : listeners) {
      if (closed) {
        return;
      }
      try {
        l.onChange(change);
      } catch (RuntimeException e) {
        log.warn("listener {} threw from onChange", l, e);
      }
    }
  }

  /** Reports {@code error}; logged instead when no listener would see it. */
  void error(HandoffException error) {
    if (listeners.isEmpty() || closed) {
      log.warn("{}", error.getMessage());
    }
    for (HandoffListener l : listeners) {
      if (closed) {
        return;
      }
      try {
        l.onError(error);
      } catch (RuntimeException e) {
        log.warn("listener {} threw from onError", l, e);
      }
    }
  }

  void stateChanged(ConnectionState next, int closeCode, String reason) {
    for (HandoffListener l : listeners) {
      if (closed) {
        return;
      }
      try {
        l.onStateChanged(next, closeCode, reason);
      } catch (RuntimeException e) {
        log.warn("listener {} threw from onStateChanged", l, e);
      }
    }
  }

  void deltaOutOfTurn(String document, long held, long received) {
    for (HandoffListener l : listeners) {
      if (closed) {
        return;
      }
      try {
        l.onDeltaOutOfTurn(document, held, received);
      } catch (RuntimeException e) {
        log.warn("listener {} threw from onDeltaOutOfTurn", l, e);
      }
    }
  }

  void synced() {
    for (HandoffListener l : listeners) {
      if (closed) {
        return;
      }
      try {
        l.onSynced();
      } catch (RuntimeException e) {
        log.warn("listener {} threw from onSynced", l, e);
      }
    }
  }
}
