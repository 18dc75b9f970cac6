package io.handoff.server.engine.redis;

import io.lettuce.core.cluster.RedisClusterClient;
import io.lettuce.core.cluster.event.ClusterTopologyChangedEvent;
import io.lettuce.core.cluster.models.partitions.RedisClusterNode;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * Watches a Redis Cluster's topology for failovers: when the set of masters changes (a replica was
 * promoted), it logs one line and tells every listener of the broker that events may have been
 * lost, so each connection re-checks its documents against the store (paced, as every possible
 * loss: {@link RedisBroker#possibleLossEverywhere()}). A promoted replica may lack the last writes
 * of its old master; the re-check (which carries each device's fingerprint) finds devices holding
 * versions the new master does not have, and resyncs them.
 */
final class FailoverWatch {
  private FailoverWatch() {}

  static void watch(RedisClusterClient client, StoreHealth health, RedisBroker broker) {
    client
        .getResources()
        .eventBus()
        .get()
        .filter(ClusterTopologyChangedEvent.class::isInstance)
        .cast(ClusterTopologyChangedEvent.class)
        .subscribe(
            e -> {
              Set<String> before = masters(e.before());
              Set<String> after = masters(e.after());
              if (!before.isEmpty() && !before.equals(after)) {
                health.failoverSeen("masters " + before + " -> " + after);
                broker.possibleLossEverywhere();
              }
            },
            err -> {}); // The event bus ends with an error when the client shuts down.
  }

  private static Set<String> masters(List<RedisClusterNode> nodes) {
    Set<String> out = new TreeSet<>();
    for (RedisClusterNode n : nodes) {
      if (n.is(RedisClusterNode.NodeFlag.UPSTREAM) && !n.getSlots().isEmpty()) {
        out.add(n.getNodeId());
      }
    }
    return out;
  }
}
