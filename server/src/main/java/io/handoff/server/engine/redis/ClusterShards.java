package io.handoff.server.engine.redis;

import io.lettuce.core.RedisURI;
import io.lettuce.core.cluster.SlotHash;
import io.lettuce.core.cluster.api.StatefulRedisClusterConnection;
import io.lettuce.core.cluster.models.partitions.RedisClusterNode;

/**
 * A Redis Cluster's masters as the node's line of resumes keys them ({@link
 * io.handoff.server.engine.ResumeStore#shardOf}): by node id, as the topology the cluster
 * connection holds now names the master that owns a key's slot, the one its script is sent to
 * ({@link BoundedClients.Cluster#masterOf}). Thread-safe; no I/O.
 */
final class ClusterShards {
  /** The key of a slot no master owns now: no shard of the topology, so its state is dropped. */
  private static final Object NO_MASTER = "no master";

  private final StatefulRedisClusterConnection<?, ?> connection;

  ClusterShards(StatefulRedisClusterConnection<?, ?> connection) {
    this.connection = connection;
  }

  /** The node id of the master that owns {@code key}'s slot. */
  Object of(byte[] key) {
    RedisClusterNode master = BoundedClients.Cluster.masterOf(connection, key);
    return master == null || master.getNodeId() == null ? NO_MASTER : master.getNodeId();
  }

  /** The address of the master that owns {@code key}'s slot; throws while no master owns it. */
  RedisURI masterUri(byte[] key) {
    RedisClusterNode node = BoundedClients.Cluster.masterOf(connection, key);
    if (node == null) {
      throw new IllegalStateException("no master owns slot " + SlotHash.getSlot(key));
    }
    return node.getUri();
  }

  /**
   * Whether {@code shard} is the node id of a master of the topology now that owns slots: a master
   * failed over stays listed as one (flagged failed, no slots) until it is back as a replica or
   * forgotten, and may be made master again later, when a state kept of its earlier hang would no
   * longer be true.
   */
  boolean has(Object shard) {
    for (RedisClusterNode node : connection.getPartitions()) {
      if (node.is(RedisClusterNode.NodeFlag.UPSTREAM)
          && !node.hasNoSlots()
          && shard.equals(node.getNodeId())) {
        return true;
      }
    }
    return false;
  }
}
