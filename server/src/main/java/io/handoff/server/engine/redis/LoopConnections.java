package io.handoff.server.engine.redis;

import io.lettuce.core.ClientOptions;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.codec.ByteArrayCodec;
import io.lettuce.core.metrics.CommandLatencyRecorder;
import io.lettuce.core.protocol.ProtocolVersion;
import io.lettuce.core.pubsub.StatefulRedisPubSubConnection;
import io.lettuce.core.resource.ClientResources;
import io.lettuce.core.resource.DefaultClientResources;
import io.lettuce.core.resource.EventLoopGroupProvider;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.EventExecutorGroup;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.ImmediateEventExecutor;
import io.netty.util.internal.ThreadExecutorMap;
import java.time.Duration;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * One connection to one standalone Redis for each of the node's event loops, registered with that
 * loop, which carries both the loop's commands and its channel subscriptions: a command a loop
 * sends is written by it, its answer is read and completed by it, and a message on a channel
 * subscribed through the loop's connection is delivered by it. With each user's connections on one
 * loop, a write's script, its ack and the pushes to the user's other devices on this node never
 * leave that loop's thread.
 *
 * <p>The connections speak RESP3, in which a connection with subscriptions may still send commands
 * (RESP2 allows only pub/sub commands then). So when a write script publishes to a channel this
 * loop subscribes, Redis sends the published copy and the script's answer on one connection, in one
 * {@code write}, and the loop reads them in one wake-up: a system call less for Redis and a read
 * less for the node per write than with a command connection and a subscriber apart (measured in
 * BENCHMARKS.md; docs/decisions.md, "Redis I/O on the node's event loops").
 *
 * <p>Each loop gets a {@link RedisClient} of its own whose only event loop is that loop (Lettuce
 * registers a connection, and re-registers it when it reconnects, on its client's group); the
 * clients share the node's main client's timer and executor, and never shut the loops down.
 *
 * <p>Immutable once opened; {@link #commandsHere} and {@link #pubSubHere} on any thread.
 */
final class LoopConnections {
  private final List<RedisClient> clients;
  private final List<ClientResources> resources;
  private final Map<EventExecutor, StatefulRedisPubSubConnection<byte[], byte[]>> connections;
  private final Map<EventExecutor, SendBuffer> buffers;

  private LoopConnections(
      List<RedisClient> clients,
      List<ClientResources> resources,
      Map<EventExecutor, StatefulRedisPubSubConnection<byte[], byte[]>> connections,
      Map<EventExecutor, SendBuffer> buffers) {
    this.clients = clients;
    this.resources = resources;
    this.connections = connections;
    this.buffers = buffers;
  }

  /**
   * Connects once per loop of {@code loops} to {@code uri} with {@code options} (over RESP3,
   * whatever {@code options} say); {@code shared} lends its timer and executor. Throws what Lettuce
   * throws if a connection cannot be made (after closing those already made).
   */
  static LoopConnections open(
      RedisURI uri, ClientOptions options, ClientResources shared, EventLoopGroup loops) {
    List<RedisClient> clients = new ArrayList<>();
    List<ClientResources> made = new ArrayList<>();
    Map<EventExecutor, StatefulRedisPubSubConnection<byte[], byte[]>> connections =
        new IdentityHashMap<>();
    Map<EventExecutor, SendBuffer> buffers = new IdentityHashMap<>();
    ClientOptions resp3 = options.mutate().protocolVersion(ProtocolVersion.RESP3).build();
    try {
      for (EventExecutor e : loops) {
        EventLoop loop = (EventLoop) e;
        SendBuffer buffer = new SendBuffer();
        buffers.put(loop, buffer);
        ClientResources resources =
            DefaultClientResources.builder()
                .eventLoopGroupProvider(new OneLoop(loop))
                .eventExecutorGroup(shared.eventExecutorGroup())
                .timer(shared.timer())
                .commandLatencyRecorder(CommandLatencyRecorder.disabled())
                .nettyCustomizer(buffer)
                .build();
        made.add(resources);
        RedisClient client = RedisClient.create(resources, uri);
        clients.add(client);
        client.setOptions(resp3);
        connections.put(loop, client.connectPubSub(ByteArrayCodec.INSTANCE));
      }
    } catch (RuntimeException failed) {
      new LoopConnections(clients, made, connections, buffers).close();
      throw failed;
    }
    return new LoopConnections(clients, made, connections, buffers);
  }

  /**
   * The connection of the event loop running this thread, for commands, or null on any other
   * thread.
   */
  StatefulRedisConnection<byte[], byte[]> commandsHere() {
    return pubSubHere();
  }

  /**
   * Whether the send buffer of this thread's loop's connection is past its bound ({@link
   * SendBuffer}); false on any other thread.
   */
  boolean sendBufferFullHere() {
    EventExecutor here = ThreadExecutorMap.currentExecutor();
    SendBuffer b = here == null ? null : buffers.get(here);
    return b != null && b.full();
  }

  /** The most bytes waiting in any loop's connection's send buffer. */
  long mostPendingBytes() {
    long most = 0;
    for (SendBuffer b : buffers.values()) {
      most = Math.max(most, b.pendingBytes());
    }
    return most;
  }

  /** The connection of the event loop running this thread, or null on any other thread. */
  StatefulRedisPubSubConnection<byte[], byte[]> pubSubHere() {
    EventExecutor here = ThreadExecutorMap.currentExecutor();
    return here == null ? null : connections.get(here);
  }

  /** The loop {@code pubSub} is on, or null if it is none of these connections. */
  EventExecutor loopOf(StatefulRedisPubSubConnection<byte[], byte[]> pubSub) {
    for (Map.Entry<EventExecutor, StatefulRedisPubSubConnection<byte[], byte[]>> e :
        connections.entrySet()) {
      if (e.getValue() == pubSub) {
        return e.getKey();
      }
    }
    return null;
  }

  /** Every loop's connection. */
  Iterable<StatefulRedisPubSubConnection<byte[], byte[]>> pubSubs() {
    return connections.values();
  }

  /** Whether every connection is open (each reconnects by itself after a drop). */
  boolean isOpen() {
    for (StatefulRedisPubSubConnection<byte[], byte[]> c : connections.values()) {
      if (!c.isOpen()) {
        return false;
      }
    }
    return true;
  }

  int loops() {
    return connections.size();
  }

  /** Closes every connection and client; the loops and the shared timer and executor stay. */
  void close() {
    for (RedisClient c : clients) {
      try {
        c.shutdown(Duration.ZERO, Duration.ofSeconds(2));
      } catch (RuntimeException e) {
        // A client whose loop already stopped: its connections are gone with it.
      }
    }
    for (ClientResources r : resources) {
      r.shutdown(0, 2, TimeUnit.SECONDS);
    }
  }

  /**
   * Lettuce's source of event loops for one client: always the one loop, which it must not shut
   * down (the node owns it).
   */
  private static final class OneLoop implements EventLoopGroupProvider {
    private final EventLoop loop;

    OneLoop(EventLoop loop) {
      this.loop = loop;
    }

    @Override
    @SuppressWarnings("unchecked")
    public <T extends EventLoopGroup> T allocate(Class<T> type) {
      return (T) loop;
    }

    @Override
    public int threadPoolSize() {
      return 1;
    }

    @Override
    public Future<Boolean> release(
        EventExecutorGroup group, long quietPeriod, long timeout, TimeUnit unit) {
      return ImmediateEventExecutor.INSTANCE.newSucceededFuture(true);
    }

    @Override
    public Future<Boolean> shutdown(long quietPeriod, long timeout, TimeUnit unit) {
      return ImmediateEventExecutor.INSTANCE.newSucceededFuture(true);
    }
  }
}
