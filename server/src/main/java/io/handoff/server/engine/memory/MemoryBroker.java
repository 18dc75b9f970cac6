package io.handoff.server.engine.memory;

import io.handoff.protocol.bus.v1.UserSignal;
import io.handoff.server.sync.Broker;
import io.handoff.server.sync.DocumentEvent;
import io.handoff.server.util.CopyOnWrite;
import java.util.Arrays;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The in-process broker: {@link #publish} calls every subscriber of the event's user on the
 * publishing thread. It never loses an event. Thread-safe.
 */
public final class MemoryBroker implements Broker {
  private static final CompletableFuture<Void> HANDED_ON = CompletableFuture.completedFuture(null);

  private static final Logger log = LoggerFactory.getLogger(MemoryBroker.class);

  // Each user's subscribers (Listeners): a copy-on-write array, replaced under the map's lock for
  // the user (a CopyOnWriteArrayList and its lock cost an idle user 40 bytes more).
  private final ConcurrentHashMap<String, Object[]> subscribers = new ConcurrentHashMap<>();

  @Override
  public Subscription subscribe(String userId, Listener listener) {
    subscribers.compute(
        userId,
        (k, list) -> {
          if (list == null) {
            return new Object[] {listener};
          }
          Object[] l = Arrays.copyOf(list, list.length + 1);
          l[list.length] = listener;
          return l;
        });
    return new Subscription() {
      private boolean closed;

      @Override
      public java.util.concurrent.CompletableFuture<Void> ready() {
        return java.util.concurrent.CompletableFuture.completedFuture(null);
      }

      @Override
      public synchronized void close() {
        if (closed) {
          return;
        }
        closed = true;
        subscribers.computeIfPresent(
            userId,
            (k, list) -> {
              Object[] l = CopyOnWrite.without(list, listener);
              return l.length == 0 ? null : l;
            });
      }
    };
  }

  @Override
  public void publish(DocumentEvent event) {
    Object[] list = subscribers.get(event.userId());
    if (list == null) {
      return;
    }
    for (Object l : list) {
      try {
        ((Listener) l).onEvent(event);
      } catch (RuntimeException e) {
        log.warn("subscriber of {} failed on {}", event.userId(), event, e);
      }
    }
  }

  @Override
  public CompletableFuture<?> signal(String userId, UserSignal signal) {
    Object[] list = subscribers.get(userId);
    if (list != null) {
      for (Object l : list) {
        try {
          ((Listener) l).onSignal(signal);
        } catch (RuntimeException e) {
          log.warn("subscriber of {} failed on a signal", userId, e);
        }
      }
    }
    return HANDED_ON;
  }

  /** Users with at least one subscriber, for tests and metrics. */
  public int subscribedUsers() {
    return subscribers.size();
  }

  @Override
  public void close() {
    subscribers.clear();
  }
}
