package io.handoff.server.engine.redis;

import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.cluster.api.async.RedisClusterAsyncCommands;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;

/**
 * The Redis commands every store of a node sends through, routed by the sending thread: from one of
 * the node's event loops bound with {@link LoopConnections}, that loop's own connection; from any
 * other thread (a timer's retry, a sweep, start-up), or while no loops are bound, the node's shared
 * connection. All commands a loop sends for one device go through one connection, in order, as
 * through the shared one before.
 *
 * <p>A {@link Proxy} over the command interface: the stores call the same Lettuce API either way.
 * Thread-safe.
 */
final class RoutedCommands {
  private final RedisClusterAsyncCommands<byte[], byte[]> shared;
  private final SendBuffer sharedBuffer;
  private volatile LoopConnections loops;

  private RoutedCommands(RedisClusterAsyncCommands<byte[], byte[]> shared, SendBuffer buffer) {
    this.shared = shared;
    this.sharedBuffer = buffer;
  }

  /**
   * A router that sends everything through {@code shared}, whose client's send buffers {@code
   * buffer} bounds, until loops are bound.
   */
  static RoutedCommands over(RedisClusterAsyncCommands<byte[], byte[]> shared, SendBuffer buffer) {
    return new RoutedCommands(shared, buffer);
  }

  /** The command interface that routes each call. */
  @SuppressWarnings("unchecked")
  RedisClusterAsyncCommands<byte[], byte[]> commands() {
    return (RedisClusterAsyncCommands<byte[], byte[]>)
        Proxy.newProxyInstance(
            RedisClusterAsyncCommands.class.getClassLoader(),
            new Class<?>[] {RedisClusterAsyncCommands.class},
            (proxy, method, args) -> call(method, args));
  }

  /** Routes the calls of the node's bound loops to their connections from now on; null: none. */
  void bind(LoopConnections loops) {
    this.loops = loops;
  }

  /**
   * Whether the connection a command sent from this thread would go through holds more than its
   * bound unsent (a hung Redis; {@link SendBuffer}): on a bound loop, that loop's connection; on
   * any other thread, the shared client's (any of its connections).
   */
  boolean sendBufferFull() {
    LoopConnections l = loops;
    return l != null && l.commandsHere() != null ? l.sendBufferFullHere() : sharedBuffer.full();
  }

  /** The most bytes waiting in the send buffer of any bound loop's connection; 0 if none. */
  long mostPendingBytes() {
    LoopConnections l = loops;
    return l == null ? 0 : l.mostPendingBytes();
  }

  private Object call(Method method, Object[] args) throws Throwable {
    RedisClusterAsyncCommands<byte[], byte[]> target = shared;
    LoopConnections l = loops;
    if (l != null) {
      StatefulRedisConnection<byte[], byte[]> here = l.commandsHere();
      if (here != null) {
        target = here.async();
      }
    }
    try {
      return method.invoke(target, args);
    } catch (InvocationTargetException e) {
      throw e.getCause();
    }
  }
}
