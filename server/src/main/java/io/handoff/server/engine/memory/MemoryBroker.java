package io.handoff.server.engine.memory;

import io.handoff.protocol.bus.v1.UserSignal;
import io.handoff.server.sync.Broker;
import io.handoff.server.sync.DocumentEvent;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The in-process broker: {@link #publish} calls every subscriber of the event's user on the
 * publishing thread. It never loses an event. Thread-safe.
 */
public final class MemoryBroker implements Broker {
  private static final Logger log = LoggerFactory.getLogger(MemoryBroker.class);

  private final ConcurrentHashMap<String, List<Listener>> subscribers = new ConcurrentHashMap<>();

  @Override
  public Subscription subscribe(String userId, Listener listener) {
    subscribers.compute(
        userId,
        (k, list) -> {
          List<Listener> l = list == null ? new CopyOnWriteArrayList<>() : list;
          l.add(listener);
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
              list.remove(listener);
              return list.isEmpty() ? null : list;
            });
      }
    };
  }

  @Override
  public void publish(DocumentEvent event) {
    List<Listener> list = subscribers.get(event.userId());
    if (list == null) {
      return;
    }
    for (Listener l : list) {
      try {
        l.onEvent(event);
      } catch (RuntimeException e) {
        log.warn("subscriber of {} failed on {}", event.userId(), event, e);
      }
    }
  }

  @Override
  public void signal(String userId, UserSignal signal) {
    List<Listener> list = subscribers.get(userId);
    if (list == null) {
      return;
    }
    for (Listener l : list) {
      try {
        l.onSignal(signal);
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
