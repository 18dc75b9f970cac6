package io.handoff.server.engine.redis;

import io.handoff.server.engine.NodeIdInUseException;
import io.handoff.server.sync.StoreUnavailableException;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.cluster.api.async.RedisClusterAsyncCommands;
import io.netty.util.concurrent.EventExecutorGroup;
import io.netty.util.concurrent.ScheduledFuture;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * This process's claim on its node id among the nodes of one Redis and key prefix: the key {@code
 * PREFIX{node:ID}:lease} holds a token drawn at random for the claim and expires {@code time} after
 * its last renewal ({@code node_lease.lua}). Renewed every tenth of {@code time} on the engine's
 * timer, given back at a clean stop. The key is one string under a hash tag of its own, so on a
 * Redis Cluster it lives in the slot of {@code node:ID} and every call is a single-key script
 * there.
 *
 * <p>{@link #claim} takes a missing lease at once. One held by another token is watched: if its
 * time left grows, its holder is alive and renewing it (another node running with this id), and the
 * claim is refused; if it lapses, its holder stopped (a node killed and restarted at once), and the
 * claim takes it, within the lease's time. A renewal that Redis does not answer says nothing about
 * who holds the id and is only retried; one that finds the lease gone (it lapsed during an outage,
 * or Redis lost it) claims it again; one that finds another token there logs an error. Thread-safe.
 */
final class NodeLease {
  private static final Logger log = LoggerFactory.getLogger(NodeLease.class);
  private static final RedisScript SCRIPT = new RedisScript("node_lease.lua");
  private static final byte[] HOLD = ascii("hold");
  private static final byte[] RELEASE = ascii("release");
  private static final Duration REPEAT_EVERY = Duration.ofSeconds(30);

  private final String nodeId;
  private final String where;
  private final byte[][] key;
  private final byte[] token;
  private final Duration time;
  private final RedisClusterAsyncCommands<byte[], byte[]> redis;
  private final EventExecutorGroup timer;
  private volatile ScheduledFuture<?> renewal;
  // Whether the last answered renewal found another token holding the lease, and when that was
  // last logged.
  private volatile boolean lost;
  private volatile long lostLoggedNanos;

  NodeLease(
      String nodeId,
      String where,
      RedisKeys keys,
      Duration time,
      RedisClusterAsyncCommands<byte[], byte[]> redis,
      EventExecutorGroup timer) {
    this.nodeId = nodeId;
    this.where = where;
    this.key = new byte[][] {keys.nodeLease(nodeId)};
    this.time = time;
    this.redis = redis;
    this.timer = timer;
    byte[] random = new byte[16];
    new SecureRandom().nextBytes(random);
    this.token = ascii(HexFormat.of().formatHex(random));
  }

  /** How often a held lease is renewed: a tenth of its time. */
  Duration renewEvery() {
    return Duration.ofMillis(Math.max(10, time.toMillis() / 10));
  }

  /**
   * Claims the node id, waiting while another token holds it: returns once claimed (and renewing),
   * throws {@link NodeIdInUseException} as soon as the holder is seen renewing, or once the lease
   * neither lapsed nor was given back within its time left and two renewal periods, and {@link
   * StoreUnavailableException} if Redis did not answer within that bound.
   */
  void claim() throws InterruptedException {
    long started = System.nanoTime();
    long deadline = started + time.toNanos() + 2 * renewEvery().toNanos();
    long previous = -1;
    boolean waiting = false;
    while (true) {
      List<Object> r = null;
      Throwable failure = null;
      try {
        r = hold().get(time.toMillis() + RedisEngine.DEFAULT_COMMAND_TIMEOUT.toMillis(), MILLIS);
      } catch (ExecutionException | TimeoutException e) {
        failure = RedisFailures.unwrap(e);
      }
      if (r != null) {
        if ((Long) r.get(0) != 0) {
          if (waiting) {
            log.warn(
                "node id {}: the lease of the process that ran it before lapsed unrenewed after {}"
                    + " ms of waiting; this process holds it now",
                nodeId,
                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started));
          }
          start();
          return;
        }
        long left = (Long) r.get(1);
        if (previous >= 0 && left > previous) {
          throw inUse("it renews its lease");
        }
        if (!waiting) {
          waiting = true;
          deadline = Math.max(deadline, System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(left));
          log.warn(
              "node id {} is held by another process on {} ({} ms of its lease left): waiting for"
                  + " the lease to lapse (the process before a restart, killed) or to be renewed"
                  + " (another node running with this id)",
              nodeId,
              where,
              left);
        }
        previous = left;
      }
      if (System.nanoTime() - deadline > 0) {
        if (r == null) {
          throw new StoreUnavailableException(
              where + " did not answer the claim of node id " + nodeId + ": " + failure, failure);
        }
        throw inUse("its lease did not lapse within " + time.toMillis() + " ms");
      }
      Thread.sleep(Math.max(1, renewEvery().toMillis() / 2));
    }
  }

  private NodeIdInUseException inUse(String how) {
    return new NodeIdInUseException(
        "node id "
            + nodeId
            + " is in use by another running node on "
            + where
            + " ("
            + how
            + "); give every node its own --node-id, or leave it unset for a random one");
  }

  private void start() {
    long every = renewEvery().toMillis();
    renewal = timer.scheduleWithFixedDelay(this::renew, every, every, TimeUnit.MILLISECONDS);
  }

  private CompletableFuture<List<Object>> hold() {
    return SCRIPT.eval(redis, ScriptOutputType.MULTI, key, HOLD, token, ascii(time.toMillis()));
  }

  private void renew() {
    CompletableFuture<List<Object>> f;
    try {
      f = hold();
    } catch (RuntimeException e) {
      f = CompletableFuture.failedFuture(e);
    }
    f.whenComplete(
        (r, err) -> {
          if (err != null) {
            // Redis unreachable or slow: nothing is known about who holds the id. The lease lasts
            // ten periods; the next one tries again.
            log.debug("renewing the lease of node id {} failed: {}", nodeId, err.toString());
            return;
          }
          long code = (Long) r.get(0);
          if (code == 1) {
            if (lost) {
              lost = false;
              log.warn("node id {}: this process holds its lease again", nodeId);
            }
          } else if (code == 2) {
            lost = false;
            log.warn(
                "node id {}: its lease was gone from {} (it lapsed while Redis was out of reach, or"
                    + " Redis lost it); claimed it again",
                nodeId,
                where);
          } else {
            long now = System.nanoTime();
            if (!lost || now - lostLoggedNanos >= REPEAT_EVERY.toNanos()) {
              lostLoggedNanos = now;
              log.error(
                  "node id {} is held by another process on {}: two nodes run with this id, and"
                      + " take each other's devices' takeovers and presence for their own; give"
                      + " every node its own --node-id",
                  nodeId,
                  where);
            }
            lost = true;
          }
        });
  }

  /** Whether the last answered renewal found this process holding the lease (tests). */
  boolean held() {
    return !lost;
  }

  /** Stops renewing and gives the lease back, waiting a bounded time for Redis to answer. */
  void release() {
    ScheduledFuture<?> t = renewal;
    if (t != null) {
      t.cancel(false);
    }
    try {
      SCRIPT
          .<List<Object>>eval(redis, ScriptOutputType.MULTI, key, RELEASE, token)
          .get(RedisEngine.DEFAULT_COMMAND_TIMEOUT.toMillis(), MILLIS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (ExecutionException | TimeoutException | RuntimeException e) {
      log.warn(
          "node id {}: its lease could not be given back ({}); it lapses within {} ms",
          nodeId,
          e.toString(),
          time.toMillis());
    }
  }

  private static final TimeUnit MILLIS = TimeUnit.MILLISECONDS;

  private static byte[] ascii(String s) {
    return s.getBytes(StandardCharsets.US_ASCII);
  }

  private static byte[] ascii(long n) {
    return ascii(Long.toString(n));
  }
}
