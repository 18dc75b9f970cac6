package io.handoff.server.engine.memory;

import io.handoff.protocol.bus.v1.UserSignal;
import io.handoff.server.sync.Broker;
import io.handoff.server.sync.DocumentEvent;
import java.util.Arrays;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The in-process broker: {@link #publish} calls every subscriber of the event's user on the
 * publishing thread. It never loses an event. Thread-safe.
 */
public final class MemoryBroker implements Broker {
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
              for (int i = 0; i < list.length; i++) {
                if (list[i] == listener) {
                  if (list.length == 1) {
                    return null;
                  }
                  Object[] l = new Object[list.length - 1];
                  System.arraycopy(list, 0, l, 0, i);
                  System.arraycopy(list, i + 1, l, i, list.length - i - 1);
                  return l;
                }
              }
              return list;
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
  public void signal(String userId, UserSignal signal) {
    Object[] list = subscribers.get(userId);
    if (list == null) {
      return;
    }
    for (Object l : list) {
      try {
        ((Listener) l).onSignal(signal);
      } catch (RuntimeException e) {
        log.warn("subscriber of {} failed on a signal", userId, e);
      }
    }
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
