package io.handoff.server.engine.redis;

import io.lettuce.core.ClientOptions;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.TimeoutOptions;
import io.lettuce.core.cluster.RedisClusterClient;
import io.lettuce.core.cluster.SlotHash;
import io.lettuce.core.cluster.models.partitions.RedisClusterNode;
import io.lettuce.core.codec.ByteArrayCodec;
import io.lettuce.core.pubsub.StatefulRedisPubSubConnection;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Supplier;

/**
 * Opens a pub/sub connection to a Cluster node the topology shows healthy, a random one, for the
 * broker's watch ({@link RedisBroker#watchPath}): a Cluster broadcasts every PUBLISH to every node,
 * so any node hears every user's channel. Closed with the broker.
 */
final class NodePubSub
    implements Supplier<StatefulRedisPubSubConnection<byte[], byte[]>>, AutoCloseable {
  // The connect timeout and one command timeout (the handshake's answer).
  static final Duration OPEN_TIMEOUT = Duration.ofSeconds(4);

  private final RedisClusterClient cluster;
  private final RedisURI template;
  private final RedisClient nodes;

  NodePubSub(RedisClusterClient cluster, RedisURI template) {
    this.cluster = cluster;
    this.template = template;
    this.nodes = RedisClient.create(cluster.getResources());
    nodes.setOptions(
        ClientOptions.builder()
            .autoReconnect(true)
            .protocolVersion(RedisEngine.PROTOCOL)
            .timeoutOptions(TimeoutOptions.enabled(RedisEngine.DEFAULT_COMMAND_TIMEOUT))
            .socketOptions(RedisEngine.socketOptions())
            .build());
  }

  @Override
  public StatefulRedisPubSubConnection<byte[], byte[]> get() {
    List<RedisClusterNode> live = new ArrayList<>();
    for (RedisClusterNode n : cluster.getPartitions()) {
      if (!n.is(RedisClusterNode.NodeFlag.FAIL)
          && !n.is(RedisClusterNode.NodeFlag.EVENTUAL_FAIL)
          && !n.is(RedisClusterNode.NodeFlag.NOADDR)
          && !n.is(RedisClusterNode.NodeFlag.HANDSHAKE)
          && n.getUri() != null) {
        live.add(n);
      }
    }
    if (live.isEmpty()) {
      throw new IllegalStateException("no Redis Cluster node is known to be healthy");
    }
    RedisURI node = live.get(ThreadLocalRandom.current().nextInt(live.size())).getUri();
    RedisURI uri =
        RedisURI.builder(template).withHost(node.getHost()).withPort(node.getPort()).build();
    return open(nodes, uri);
  }

  /**
   * A pub/sub connection to {@code uri} through {@code nodes}, or an exception once {@link
   * #OPEN_TIMEOUT} passed: a connection to a hung node (the one the watch moves from, which the
   * topology may not list failed yet) is accepted by its kernel, and Lettuce then waits for the
   * handshake's answer with no bound of its own, which would hold the watch for as long as the node
   * hangs. One that opens after that is closed.
   */
  static StatefulRedisPubSubConnection<byte[], byte[]> open(RedisClient nodes, RedisURI uri) {
    return open(nodes, uri, OPEN_TIMEOUT);
  }

  /** As above, given up on after {@code timeout} (tests shorten it). */
  static StatefulRedisPubSubConnection<byte[], byte[]> open(
      RedisClient nodes, RedisURI uri, Duration timeout) {
    CompletableFuture<StatefulRedisPubSubConnection<byte[], byte[]>> opening =
        nodes.connectPubSubAsync(ByteArrayCodec.INSTANCE, uri).toCompletableFuture();
    try {
      return opening.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
    } catch (TimeoutException e) {
      opening.thenAccept(StatefulRedisPubSubConnection::closeAsync);
      throw new IllegalStateException(
          "no pub/sub connection to " + uri.getHost() + ":" + uri.getPort() + " within " + timeout,
          e);
    } catch (ExecutionException e) {
      throw new IllegalStateException(
          "cannot open a pub/sub connection to "
              + uri.getHost()
              + ":"
              + uri.getPort()
              + ": "
              + e.getCause(),
          e.getCause());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      opening.thenAccept(StatefulRedisPubSubConnection::closeAsync);
      throw new IllegalStateException("interrupted while opening a pub/sub connection", e);
    }
  }

  /** The id of the master of {@code key}'s slot as the node knows it now; null if none. */
  String masterOf(byte[] key) {
    RedisClusterNode owner = cluster.getPartitions().getPartitionBySlot(SlotHash.getSlot(key));
    return owner == null ? null : owner.getNodeId();
  }

  @Override
  public void close() {
    nodes.shutdown(Duration.ZERO, Duration.ofSeconds(1));
  }
}
