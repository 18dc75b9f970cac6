package io.handoff.server.engine.redis;

import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.cluster.api.async.RedisClusterAsyncCommands;
import io.lettuce.core.cluster.models.partitions.Partitions;
import io.lettuce.core.cluster.models.partitions.RedisClusterNode;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Notices that Redis lost data while this node's connections to it stayed up ({@code FLUSHALL},
 * {@code FLUSHDB}, a dataset loaded in place, a failover behind a proxy that keeps the node's
 * connections), which no resubscription reveals. Redis holds a marker key, without TTL, whose value
 * is random and made by whichever node finds it missing ({@code life.lua}): one value per life of
 * the dataset, not per node. With each health PING ({@link StoreHealth}), in the same round trip,
 * the node reads the marker (making it if missing) and the answering process's {@code run_id} and
 * {@code master_replid}, and compares them with what it saw last. A marker gone or changed, or
 * another process or replication history, means the store may have lost data: logged once at WARN
 * with what was seen, counted ({@link #resets}), and every session of the node re-reads its
 * documents ({@code onReset}), as after a resubscription. Each node compares with what it saw
 * itself, so the first to make the marker again hides the wipe from none of the others.
 *
 * <p>On a Cluster there is one marker per master, in the lowest slot it owns (a slot moved to
 * another master takes its marker with it, so a reshard is not mistaken for a wipe); the process is
 * remembered by the master's node id while it is a master owning slots. What is first seen (this
 * node's start, a master's new lowest slot, a new master, a master again after a failback) is
 * remembered, not judged. Thread-safe.
 */
final class StoreLife {
  private static final Logger log = LoggerFactory.getLogger(StoreLife.class);
  private static final RedisScript LIFE = new RedisScript("life.lua");
  private static final int STANDALONE = -1;

  private final String name;
  private final RedisKeys keys;
  private final Runnable onReset;
  private final LongAdder resets = new LongAdder();
  // What this node saw last: the marker's value by slot (STANDALONE on one Redis), and the process
  // ("run_id replid") by master node id ("" on one Redis).
  private final Map<Integer, String> markers = new ConcurrentHashMap<>();
  private final Map<String, String> processes = new ConcurrentHashMap<>();
  private final Map<Integer, byte[]> slotKeys = new ConcurrentHashMap<>();

  StoreLife(String name, RedisKeys keys, Runnable onReset) {
    this.name = name;
    this.keys = keys;
    this.onReset = onReset;
  }

  /**
   * Checks the marker of a standalone Redis through {@code redis}; done when judged (or failed).
   * Never throws.
   */
  CompletableFuture<Boolean> check(RedisClusterAsyncCommands<byte[], byte[]> redis) {
    return check(redis, STANDALONE, "", keys.life());
  }

  /**
   * Checks the marker of every master of {@code partitions} that owns slots, each through {@code
   * redis} (routed by the marker's slot). Never throws.
   */
  CompletableFuture<Boolean> checkCluster(
      RedisClusterAsyncCommands<byte[], byte[]> redis, Partitions partitions) {
    List<CompletableFuture<Boolean>> sent = new ArrayList<>();
    try {
      Set<String> masters = new HashSet<>();
      for (RedisClusterNode n : partitions) {
        if (n.is(RedisClusterNode.NodeFlag.UPSTREAM) && !n.getSlots().isEmpty()) {
          masters.add(n.getNodeId());
        }
      }
      forgetAllBut(masters);
      for (RedisClusterNode n : partitions) {
        if (n.is(RedisClusterNode.NodeFlag.UPSTREAM)
            && !n.is(RedisClusterNode.NodeFlag.FAIL)
            && !n.is(RedisClusterNode.NodeFlag.EVENTUAL_FAIL)
            && !n.getSlots().isEmpty()) {
          int slot = n.getSlots().stream().mapToInt(Integer::intValue).min().getAsInt();
          byte[] key = slotKeys.computeIfAbsent(slot, keys::life);
          if (key != null) {
            sent.add(check(redis, slot, n.getNodeId(), key));
          }
        }
      }
    } catch (RuntimeException e) {
      log.debug("{}: life check not sent: {}", name, e.toString());
      return CompletableFuture.completedFuture(false);
    }
    return CompletableFuture.allOf(sent.toArray(CompletableFuture[]::new))
        .thenApply(v -> !sent.isEmpty() && sent.stream().allMatch(CompletableFuture::join));
  }

  /**
   * Forgets the process of every master not in {@code masters} (masters owning slots, failed or
   * not): one seen as a replica, slot-less or gone. Made master again (a failback), its new
   * replication history is then first seen, not judged: the change of masters that moved it, both
   * ways, is one {@link FailoverWatch} sees in the same topology, and its re-read finds what a
   * promotion lost. A master failed over and back between two checks is never seen gone, and its
   * new history is judged, as before.
   */
  private synchronized void forgetAllBut(Set<String> masters) {
    processes.keySet().retainAll(masters);
  }

  /** Sends one check; true once it is judged, false if it failed. */
  private CompletableFuture<Boolean> check(
      RedisClusterAsyncCommands<byte[], byte[]> redis, int slot, String master, byte[] key) {
    byte[] fresh = UUID.randomUUID().toString().getBytes(StandardCharsets.US_ASCII);
    try {
      return LIFE.<List<Object>>eval(redis, ScriptOutputType.MULTI, new byte[][] {key}, fresh)
          .handle(
              (r, err) -> {
                if (err != null) {
                  // Not the health's business (the PING judges that); tried again next tick.
                  log.debug("{}: life check failed: {}", name, err.toString());
                  return false;
                }
                judge(slot, master, r);
                return true;
              });
    } catch (RuntimeException e) {
      log.debug("{}: life check not sent: {}", name, e.toString());
      return CompletableFuture.completedFuture(false);
    }
  }

  /**
   * The first sighting, before the node serves anyone: {@code check} again and again until every
   * marker was read (a Cluster's connections to its masters are still being made at first), for up
   * to {@code within}, so that later checks compare with what Redis held when the node started.
   * Never throws.
   */
  static void firstSighting(Supplier<CompletableFuture<Boolean>> check, Duration within) {
    long deadline = System.nanoTime() + within.toNanos();
    try {
      while (true) {
        long left = deadline - System.nanoTime();
        if (left <= 0) {
          return; // The health check's ticks make the first sighting.
        }
        try {
          if (check.get().get(left, TimeUnit.NANOSECONDS)) {
            return;
          }
        } catch (ExecutionException | TimeoutException e) {
          // Tried again until the deadline.
        }
        Thread.sleep(20);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private synchronized void judge(int slot, String master, List<Object> answer) {
    String value = text(answer.get(0));
    String runId = text(answer.get(1));
    String replId = text(answer.get(2));
    boolean made = answer.get(3) instanceof Long l && l == 1;
    String before = markers.put(slot, value);
    String process = runId + " " + replId;
    String processBefore = processes.put(master, process);
    List<String> seen = new ArrayList<>();
    if (before != null && !before.equals(value)) {
      seen.add(
          made
              ? "marker " + before + " gone, set again as " + value
              : "marker " + before + " replaced by " + value);
    }
    if (processBefore != null && !processBefore.equals(process)) {
      String[] was = processBefore.split(" ", -1);
      if (!was[0].equals(runId)) {
        seen.add("run_id " + was[0] + " -> " + runId);
      }
      if (!was[1].equals(replId)) {
        seen.add("master_replid " + was[1] + " -> " + replId);
      }
    }
    if (seen.isEmpty()) {
      return;
    }
    resets.increment();
    log.warn(
        "{}{} may have lost data (wiped, replaced or restarted: {}): every session re-reads"
            + " its documents",
        name,
        master.isEmpty() ? "" : " (master " + master + ")",
        String.join("; ", seen));
    onReset.run();
  }

  private static String text(Object o) {
    return o instanceof byte[] b ? new String(b, StandardCharsets.UTF_8) : String.valueOf(o);
  }

  /** How many times a reset was seen since the node started. */
  long resets() {
    return resets.sum();
  }
}
