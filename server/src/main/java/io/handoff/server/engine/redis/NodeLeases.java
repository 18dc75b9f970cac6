package io.handoff.server.engine.redis;

import io.handoff.server.engine.NodeIdInUseException;
import io.lettuce.core.AbstractRedisClient;
import io.lettuce.core.cluster.api.async.RedisClusterAsyncCommands;
import io.netty.util.concurrent.EventExecutorGroup;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * The node ids one engine claimed, each with its {@link NodeLease}: claimed at a node's start,
 * renewed on the timer of the Redis {@code client}, given back at a clean stop. Thread-safe.
 */
final class NodeLeases {
  private final String description;
  private final RedisKeys keys;
  private final Duration lifetime;
  private final RedisClusterAsyncCommands<byte[], byte[]> commands;
  private final EventExecutorGroup timer;
  private final Map<String, NodeLease> leases = new HashMap<>(); // guarded by this

  NodeLeases(
      String description,
      RedisKeys keys,
      Duration lifetime,
      RedisClusterAsyncCommands<byte[], byte[]> commands,
      AbstractRedisClient client) {
    this.description = description;
    this.keys = keys;
    this.lifetime = lifetime;
    this.commands = commands;
    this.timer = client.getResources().eventExecutorGroup();
  }

  /**
   * Claims {@code nodeId} (see {@link io.handoff.server.engine.Engine#claimNode}), telling {@code
   * taken} if another running process is found holding it later; returns what gives it back.
   * Claiming an id this engine holds already claims nothing more.
   */
  Runnable claim(String nodeId, Consumer<NodeIdInUseException> taken) throws InterruptedException {
    NodeLease held;
    synchronized (this) {
      held = leases.get(nodeId);
    }
    if (held != null) {
      held.onTaken(taken);
      return () -> release(nodeId);
    }
    NodeLease lease = new NodeLease(nodeId, description, keys, lifetime, commands, timer);
    lease.onTaken(taken);
    lease.claim();
    synchronized (this) {
      leases.put(nodeId, lease);
    }
    return () -> release(nodeId);
  }

  private void release(String nodeId) {
    NodeLease lease;
    synchronized (this) {
      lease = leases.remove(nodeId);
    }
    if (lease != null) {
      lease.release();
    }
  }

  /**
   * Whether the last renewal of {@code nodeId}'s lease found this engine holding it, and no other
   * running process was found holding it since it was claimed.
   */
  synchronized boolean holds(String nodeId) {
    NodeLease lease = leases.get(nodeId);
    return lease != null && lease.held();
  }

  /**
   * Whether a renewal of {@code nodeId}'s lease, sent within the lease's time, was answered as held
   * by this engine ({@link NodeLease#confirmed}).
   */
  synchronized boolean confirms(String nodeId) {
    NodeLease lease = leases.get(nodeId);
    return lease != null && lease.confirmed();
  }

  /** Claims of {@code nodeId} by other processes refused while this engine held it. */
  synchronized long claimsRefused(String nodeId) {
    NodeLease lease = leases.get(nodeId);
    return lease != null ? lease.claimsRefused() : 0;
  }

  /** Gives back every id still claimed. */
  void releaseAll() {
    List<String> claimed;
    synchronized (this) {
      claimed = new ArrayList<>(leases.keySet());
    }
    claimed.forEach(this::release);
  }
}
