package io.handoff.server.engine.redis;

import io.handoff.protocol.v1.Delta;
import io.handoff.server.engine.Broker;
import io.handoff.server.engine.DocumentEvent;
import io.lettuce.core.pubsub.RedisPubSubAdapter;
import io.lettuce.core.pubsub.StatefulRedisPubSubConnection;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Fan-out through Redis pub/sub: one channel per user, which the write script publishes to. This
 * node subscribes to a user's channel when its first listener for that user arrives and
 * unsubscribes after the last leaves, so its Redis traffic grows with its own users.
 *
 * <p>Pub/sub loses messages while the connection is down. When it drops, every channel is marked;
 * Lettuce reconnects and subscribes again, and when Redis confirms a marked channel this broker
 * tells the user's listeners {@link Listener#onPossibleLoss()}, and they re-read their documents.
 *
 * <p>Messages arrive on Lettuce's event-loop thread; listeners only enqueue. Thread-safe.
 */
public final class RedisBroker implements Broker {
  private static final Logger log = LoggerFactory.getLogger(RedisBroker.class);

  private final StatefulRedisPubSubConnection<byte[], byte[]> connection;
  private final RedisKeys keys;
  private final ConcurrentHashMap<ByteBuffer, Channel> channels = new ConcurrentHashMap<>();

  RedisBroker(StatefulRedisPubSubConnection<byte[], byte[]> connection, RedisKeys keys) {
    this.connection = connection;
    this.keys = keys;
    connection.addListener(
        new RedisPubSubAdapter<>() {
          @Override
          public void message(byte[] channel, byte[] message) {
            deliver(channel, message);
          }

          @Override
          public void subscribed(byte[] channel, long count) {
            Channel c = channels.get(ByteBuffer.wrap(channel));
            if (c != null && c.lossPending.compareAndSet(true, false)) {
              // Subscribed again after the connection dropped: messages may have been lost.
              c.listeners.forEach(Listener::onPossibleLoss);
            }
          }
        });
  }

  private void deliver(byte[] channel, byte[] message) {
    Channel c = channels.get(ByteBuffer.wrap(channel));
    if (c == null) {
      return;
    }
    Delta delta;
    try {
      delta = RedisDocumentStore.parseDelta(message);
    } catch (IllegalStateException e) {
      log.warn("dropping undecodable message on {}: {}", c.userId, e.getMessage());
      return;
    }
    DocumentEvent event = new DocumentEvent(c.userId, delta);
    for (Listener l : c.listeners) {
      try {
        l.onEvent(event);
      } catch (RuntimeException e) {
        log.warn("listener of {} failed on {}", c.userId, event, e);
      }
    }
  }

  @Override
  public Subscription subscribe(String userId, Listener listener) {
    byte[] name = keys.channel(userId);
    ByteBuffer key = ByteBuffer.wrap(name);
    channels.compute(
        key,
        (k, c) -> {
          if (c == null) {
            c = new Channel(userId);
            c.ready = connection.async().subscribe(name).toCompletableFuture().thenApply(v -> null);
          }
          c.listeners.add(listener);
          return c;
        });
    CompletableFuture<Void> ready = channels.get(key) == null ? null : channels.get(key).ready;
    CompletableFuture<Void> whenReady =
        ready == null ? CompletableFuture.completedFuture(null) : ready;
    return new Subscription() {
      private boolean closed;

      @Override
      public CompletableFuture<Void> ready() {
        return whenReady;
      }

      @Override
      public synchronized void close() {
        if (closed) {
          return;
        }
        closed = true;
        channels.computeIfPresent(
            key,
            (k, c) -> {
              c.listeners.remove(listener);
              if (c.listeners.isEmpty()) {
                connection.async().unsubscribe(name);
                return null;
              }
              return c;
            });
      }
    };
  }

  /** The Redis store publishes inside its write script; this is for callers outside a store. */
  @Override
  public void publish(DocumentEvent event) {
    connection.async().publish(keys.channel(event.userId()), event.delta().toByteArray());
  }

  /**
   * The pub/sub connection dropped: every channel subscribed now may miss messages until Lettuce
   * has subscribed again, at which point its listeners hear {@link Listener#onPossibleLoss()}.
   */
  void connectionLost() {
    for (Channel c : channels.values()) {
      c.lossPending.set(true);
    }
  }

  boolean owns(Object connection) {
    return connection == this.connection;
  }

  /** Users this node is subscribed to. */
  public int subscribedUsers() {
    return channels.size();
  }

  boolean isOpen() {
    return connection.isOpen();
  }

  @Override
  public void close() {
    channels.clear();
    connection.close();
  }

  private static final class Channel {
    final String userId;
    final List<Listener> listeners = new CopyOnWriteArrayList<>();
    volatile CompletableFuture<Void> ready;
    final java.util.concurrent.atomic.AtomicBoolean lossPending =
        new java.util.concurrent.atomic.AtomicBoolean();

    Channel(String userId) {
      this.userId = userId;
    }
  }
}
