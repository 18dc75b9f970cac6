package io.handoff.server.engine.redis;

import io.lettuce.core.AbstractRedisClient;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.cluster.RedisClusterClient;
import io.lettuce.core.cluster.SlotHash;
import io.lettuce.core.cluster.api.StatefulRedisClusterConnection;
import io.lettuce.core.cluster.models.partitions.RedisClusterNode;
import io.lettuce.core.resource.ClientResources;
import io.lettuce.core.resource.DefaultClientResources;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * The node's shared Redis clients, standalone or Cluster, whose every connection's send buffer is
 * bounded by one {@link SendBuffer}: each is built on resources of its own with that buffer as
 * their Netty customizer, and shuts those resources down with itself (as a client built without
 * resources does), on every path that shuts it down.
 */
final class BoundedClients {
  private BoundedClients() {}

  /** A client whose connections' send buffers {@link #sendBuffer} bounds. */
  interface Bounded {
    SendBuffer sendBuffer();
  }

  static Standalone standalone(RedisURI uri) {
    SendBuffer buffer = new SendBuffer();
    return new Standalone(resources(buffer), uri, buffer);
  }

  static Cluster cluster(List<RedisURI> uris) {
    SendBuffer buffer = new SendBuffer();
    return new Cluster(resources(buffer), uris, buffer);
  }

  /**
   * The most bytes waiting in the send buffer of any of {@code client}'s connections or, if {@code
   * routed} is not null, of its loops' connections.
   */
  static long pendingBytes(AbstractRedisClient client, RoutedCommands routed) {
    long shared = client instanceof Bounded b ? b.sendBuffer().pendingBytes() : 0;
    return Math.max(shared, routed == null ? 0 : routed.mostPendingBytes());
  }

  private static ClientResources resources(SendBuffer buffer) {
    return DefaultClientResources.builder().nettyCustomizer(buffer).build();
  }

  /** The client's shutdown, then its resources'. */
  private static CompletableFuture<Void> thenResources(
      CompletableFuture<Void> client, ClientResources r, long quiet, long timeout, TimeUnit unit) {
    CompletableFuture<Void> done = new CompletableFuture<>();
    client.whenComplete(
        (v, failed) ->
            r.shutdown(quiet, timeout, unit)
                .addListener(
                    f -> {
                      if (failed != null) {
                        done.completeExceptionally(failed);
                      } else if (!f.isSuccess()) {
                        done.completeExceptionally(f.cause());
                      } else {
                        done.complete(null);
                      }
                    }));
    return done;
  }

  static final class Standalone extends RedisClient implements Bounded {
    private final SendBuffer buffer;

    private Standalone(ClientResources resources, RedisURI uri, SendBuffer buffer) {
      super(resources, uri);
      this.buffer = buffer;
    }

    @Override
    public SendBuffer sendBuffer() {
      return buffer;
    }

    @Override
    public CompletableFuture<Void> shutdownAsync(long quiet, long timeout, TimeUnit unit) {
      return thenResources(
          super.shutdownAsync(quiet, timeout, unit), getResources(), quiet, timeout, unit);
    }
  }

  static final class Cluster extends RedisClusterClient implements Bounded {
    private final SendBuffer buffer;

    private Cluster(ClientResources resources, List<RedisURI> uris, SendBuffer buffer) {
      super(resources, uris);
      this.buffer = buffer;
    }

    @Override
    public SendBuffer sendBuffer() {
      return buffer;
    }

    /**
     * Whether a connection to the master that owns {@code key}'s slot, as {@code connection}'s
     * topology says now, is past its bound ({@link SendBuffer#fullTowards}); whether any is, while
     * no master owns the slot.
     */
    boolean sendBufferFull(StatefulRedisClusterConnection<?, ?> connection, byte[] key) {
      if (!buffer.full()) {
        return false; // No channel is past its bound (every write but while a shard hangs).
      }
      RedisClusterNode master = masterOf(connection, key);
      return buffer.fullTowards(master == null ? null : master.getUri());
    }

    /** The master that owns {@code key}'s slot, as {@code connection}'s topology says now. */
    static RedisClusterNode masterOf(StatefulRedisClusterConnection<?, ?> connection, byte[] key) {
      return connection.getPartitions().getPartitionBySlot(SlotHash.getSlot(key));
    }

    @Override
    public CompletableFuture<Void> shutdownAsync(long quiet, long timeout, TimeUnit unit) {
      return thenResources(
          super.shutdownAsync(quiet, timeout, unit), getResources(), quiet, timeout, unit);
    }
  }
}
