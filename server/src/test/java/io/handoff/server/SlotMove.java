package io.handoff.server;

import io.lettuce.core.MigrateArgs;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.sync.RedisCommands;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * Live resharding of one slot of a Redis Cluster, step by step, as {@code redis-cli --cluster
 * reshard} does it: the target IMPORTING and the source MIGRATING the slot, its keys moved with
 * MIGRATE a few at a time, then the slot given to the target on every master. Every call runs on a
 * fresh connection to one node (no cluster routing).
 */
final class SlotMove implements AutoCloseable {
  private final RedisClient admin = RedisClient.create();
  private final List<String> masters;
  final int slot;
  final String source;
  final String target;
  private final String sourceId;
  private final String targetId;

  /** {@code masters}: the URLs of every master of the cluster (each is told the new owner). */
  SlotMove(List<String> masters, int slot, String source, String target) {
    this.masters = masters;
    this.slot = slot;
    this.source = source;
    this.target = target;
    this.sourceId = call(source, RedisCommands::clusterMyId);
    this.targetId = call(target, RedisCommands::clusterMyId);
  }

  /** Step 1: the target IMPORTING, the source MIGRATING the slot. */
  SlotMove open() {
    call(target, r -> r.clusterSetSlotImporting(slot, sourceId));
    call(source, r -> r.clusterSetSlotMigrating(slot, targetId));
    return this;
  }

  /**
   * Step 2, part of it: moves up to {@code count} of the slot's keys left on the source; how many.
   */
  int moveKeys(int count) {
    List<String> keys = call(source, r -> r.clusterGetKeysInSlot(slot, count));
    moveKeys(keys);
    return keys.size();
  }

  /**
   * Step 2, part of it: moves {@code keys} of the slot, in an order of the caller's (Redis 6.2's
   * GETKEYSINSLOT lists a slot's keys by name; Redis 7 by when they were created, newest first).
   */
  void moveKeys(List<String> keys) {
    if (!keys.isEmpty()) {
      RedisURI t = RedisURI.create(target);
      call(
          source,
          r ->
              r.migrate(
                  t.getHost(),
                  t.getPort(),
                  0,
                  5_000,
                  MigrateArgs.Builder.<String>keys(keys.toArray(new String[0]))));
    }
  }

  /** Keys of the slot still on the source. */
  long keysLeft() {
    return call(source, r -> r.clusterCountKeysInSlot(slot));
  }

  /** Step 3: the slot is the target's, on the target first, then on every other master. */
  void finish() {
    while (moveKeys(10) > 0) {
      // Until the source holds none.
    }
    call(target, r -> r.clusterSetSlotNode(slot, targetId));
    call(source, r -> r.clusterSetSlotNode(slot, targetId));
    for (String m : masters) {
      if (!m.equals(source) && !m.equals(target)) {
        call(m, r -> r.clusterSetSlotNode(slot, targetId));
      }
    }
  }

  /** The whole move at once. */
  static void move(List<String> masters, int slot, String source, String target) {
    try (SlotMove m = new SlotMove(masters, slot, source, target)) {
      m.open();
      m.finish();
    }
  }

  /** The URL among {@code masters} of the one that owns {@code slot}, as that master says. */
  static String ownerOf(List<String> masters, int slot) {
    try (SlotMove probe = new SlotMove(masters, 0, masters.get(0), masters.get(0))) {
      for (String m : masters) {
        String id = probe.call(m, RedisCommands::clusterMyId);
        for (String line : probe.call(m, RedisCommands::clusterNodes).split("\n")) {
          String[] f = line.trim().split(" ");
          if (f.length < 9 || !f[0].equals(id)) {
            continue;
          }
          for (int k = 8; k < f.length; k++) {
            if (f[k].startsWith("[")) {
              continue;
            }
            String[] range = f[k].split("-");
            int lo = Integer.parseInt(range[0]);
            int hi = range.length > 1 ? Integer.parseInt(range[1]) : lo;
            if (slot >= lo && slot <= hi) {
              return m;
            }
          }
        }
      }
    }
    throw new IllegalStateException("no master owns slot " + slot);
  }

  <T> T call(String url, Function<RedisCommands<String, String>, T> command) {
    RedisURI uri = RedisURI.create(url);
    uri.setTimeout(Duration.ofSeconds(10));
    try (StatefulRedisConnection<String, String> c = admin.connect(uri)) {
      return command.apply(c.sync());
    }
  }

  @Override
  public void close() {
    admin.shutdown(0, 2, TimeUnit.SECONDS);
  }
}
