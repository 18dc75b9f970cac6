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
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;
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
 * who holds the id and is only retried, but once none was answered within the lease's time the
 * lease is not {@link #confirmed} (it may have lapsed) until one is; one that finds the lease gone
 * (it lapsed during an outage, or Redis lost it) claims it again; one that finds another token
 * there makes the lease not held and watches that token as a claim does: if it is renewed, another
 * running process took the id (this one was cut off from Redis longer than the lease), which is
 * logged as an error and told to the {@link #onTaken} listeners, once; if it lapses, the next
 * renewal claims the id again. Thread-safe.
 *
 * <p>A claim refused because a live holder renews the lease, and the loss of the lease to another
 * running process, are counted in {@code PREFIX{node:ID}:refused} beside the lease (same hash tag,
 * expiring a lease's time after the lease would lapse). Every renewal by the holder reads that
 * count in the same script call; each rise of it is added to {@link #claimsRefused} and logged as a
 * warning: the holder learns that another process is configured with its id, though that process
 * never starts. A fall (the count expired, or Redis lost it) is a reset, as a Prometheus counter's:
 * what it reads next is all new. A claim by a release before this one is refused as before but not
 * counted (its script knows no count).
 */
final class NodeLease {
  private static final Logger log = LoggerFactory.getLogger(NodeLease.class);
  private static final RedisScript SCRIPT = new RedisScript("node_lease.lua");
  private static final byte[] HOLD = ascii("hold");
  private static final byte[] RELEASE = ascii("release");
  private static final byte[] REFUSED = ascii("refused");
  private static final Duration REPEAT_EVERY = Duration.ofSeconds(30);

  private final String nodeId;
  private final String where;
  private final byte[][] key;
  private final byte[] token;
  private final Duration time;
  private final RedisClusterAsyncCommands<byte[], byte[]> redis;
  private final EventExecutorGroup timer;
  private volatile ScheduledFuture<?> renewal;
  // Whether the last answered renewal found another token holding the lease, since when, and its
  // time left then and at the last renewal (guarded by this).
  private volatile boolean contested;
  private long contestedSinceNanos;
  private long contestedLeft;
  private long previousLeft;
  // Whether another running process was found holding the id (once true, stays true), and when
  // that was last logged.
  private volatile boolean taken;
  // System.nanoTime() when the last claim or renewal that Redis answered as this token's was sent:
  // the lease lives in Redis at least the lease's time past it.
  private volatile long confirmedSentNanos;
  private long takenLoggedNanos; // guarded by this
  // The count of refused claims in Redis as last read, -1 before the claim read it: what the claim
  // reads is the baseline, claims refused before this process held the id (guarded by this).
  private long refusedRead = -1;
  private volatile long claimsRefused;
  private final List<Consumer<NodeIdInUseException>> takenListeners = new CopyOnWriteArrayList<>();

  NodeLease(
      String nodeId,
      String where,
      RedisKeys keys,
      Duration time,
      RedisClusterAsyncCommands<byte[], byte[]> redis,
      EventExecutorGroup timer) {
    this.nodeId = nodeId;
    this.where = where;
    this.key = new byte[][] {keys.nodeLease(nodeId), keys.nodeClaimsRefused(nodeId)};
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
      long sent = System.nanoTime();
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
          confirmedSentNanos = sent;
          synchronized (this) {
            refusedRead = refusedIn(r);
          }
          start();
          return;
        }
        long left = (Long) r.get(1);
        if (previous >= 0 && left > previous) {
          throw refused("it renews its lease");
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
        throw refused("its lease did not lapse within " + time.toMillis() + " ms");
      }
      Thread.sleep(Math.max(1, renewEvery().toMillis() / 2));
    }
  }

  /**
   * The claim refused for {@code how}: counted beside the lease for its holder to see, waiting a
   * bounded time for Redis to answer (the claim is refused whether it does or not).
   */
  private NodeIdInUseException refused(String how) throws InterruptedException {
    try {
      countRefused().get(RedisEngine.DEFAULT_COMMAND_TIMEOUT.toMillis(), MILLIS);
    } catch (ExecutionException | TimeoutException | RuntimeException e) {
      log.debug("node id {}: the refused claim was not counted: {}", nodeId, e.toString());
    }
    return inUse(how);
  }

  private CompletableFuture<List<Object>> countRefused() {
    return SCRIPT.eval(redis, ScriptOutputType.MULTI, key, REFUSED, token, ascii(time.toMillis()));
  }

  /** The count of refused claims in a reply of 'hold', -1 if it has none (a release before). */
  private static long refusedIn(List<Object> r) {
    return r.size() > 1 ? (Long) r.get(1) : -1;
  }

  /**
   * One count of refused claims read by a renewal: a rise since the last one read is added and
   * logged, a fall is a reset of the count in Redis, which then counts from 0.
   */
  private void read(long refused) {
    long last = refusedRead;
    if (refused < 0) {
      return;
    }
    refusedRead = refused;
    long more = last < 0 ? 0 : refused >= last ? refused - last : refused;
    if (more > 0) {
      // Logged before it is counted: whoever sees the count rise can find its line.
      log.warn(
          "node id {}: {} claim(s) of it by another process refused on {} since the last renewal"
              + " ({} in all while this process held it): another process is configured with this"
              + " node's id and cannot start while this node runs; give every node its own"
              + " --node-id",
          nodeId,
          more,
          where,
          claimsRefused + more);
      claimsRefused += more;
    }
  }

  /**
   * Claims of the id by other processes refused while this process held it (each a start refused,
   * or a process that lost the id finding this one holding it), as renewals read them from Redis.
   */
  long claimsRefused() {
    return claimsRefused;
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
    long sent = System.nanoTime();
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
          answered(sent, r);
        });
  }

  /**
   * One answered renewal. Another token in the key is watched as {@link #claim} watches it: it may
   * be the lease of a process that stopped (a Redis failover or a restart from an older snapshot
   * brought back the lease of the process that ran the id before), which lapses; if its time left
   * grows, or it outlives the time it had left, a live process holds the id, and every listener is
   * told, once.
   */
  private synchronized void answered(long sentNanos, List<Object> r) {
    long code = (Long) r.get(0);
    if (code == 1 || code == 2) {
      if (sentNanos - confirmedSentNanos > 0) {
        confirmedSentNanos = sentNanos;
      }
    }
    if (code == 1 || code == 2) {
      read(refusedIn(r));
    }
    if (code == 1) {
      if (contested) {
        log.warn("node id {}: this process holds its lease again", nodeId);
      }
      contested = false;
    } else if (code == 2) {
      if (contested) {
        log.warn(
            "node id {}: the other process's lease on it lapsed or was given back; this process"
                + " holds it again",
            nodeId);
      } else {
        log.warn(
            "node id {}: its lease was gone from {} (it lapsed while Redis was out of reach, or"
                + " Redis lost it); claimed it again",
            nodeId,
            where);
      }
      contested = false;
    } else {
      long now = System.nanoTime();
      long left = (Long) r.get(1);
      if (!contested) {
        contested = true;
        contestedSinceNanos = now;
        contestedLeft = left;
        previousLeft = left;
        if (!taken) {
          log.warn(
              "node id {} is held by another process on {} ({} ms of its lease left): not ready"
                  + " while it is; watching whether it is renewed (another node running with this"
                  + " id: this node stops) or lapses (a lease Redis brought back from a process"
                  + " that stopped)",
              nodeId,
              where,
              left);
        }
        return;
      }
      boolean renewed =
          left > previousLeft
              || now - contestedSinceNanos
                  > TimeUnit.MILLISECONDS.toNanos(Math.max(0, contestedLeft))
                      + 2 * renewEvery().toNanos();
      previousLeft = left;
      if (!renewed) {
        return;
      }
      if (!taken || now - takenLoggedNanos >= REPEAT_EVERY.toNanos()) {
        takenLoggedNanos = now;
        log.error(
            "node id {} is held by another process on {} that renews it: two nodes run with this"
                + " id, and take each other's devices' takeovers and presence for their own; this"
                + " node stops; give every node its own --node-id",
            nodeId,
            where);
      }
      if (!taken) {
        taken = true;
        CompletableFuture<List<Object>> counted;
        try {
          counted = countRefused();
        } catch (RuntimeException failed) {
          counted = CompletableFuture.failedFuture(failed);
        }
        counted.whenComplete(
            (n, err) -> {
              if (err != null) {
                log.debug("node id {}: its loss was not counted: {}", nodeId, err.toString());
              }
            });
        NodeIdInUseException e =
            inUse("it claimed the id while this node could not renew its lease");
        for (Consumer<NodeIdInUseException> l : takenListeners) {
          try {
            l.accept(e);
          } catch (RuntimeException failed) {
            log.error("a listener of the loss of node id {} failed", nodeId, failed);
          }
        }
      }
    }
  }

  /**
   * Runs {@code listener} once another running process is found holding the id after this one
   * claimed it (this process was cut off from Redis longer than the lease, and the other claimed
   * the id meanwhile); at once if that was found already.
   */
  void onTaken(Consumer<NodeIdInUseException> listener) {
    takenListeners.add(listener);
    if (taken) {
      listener.accept(inUse("it claimed the id while this node could not renew its lease"));
    }
  }

  /**
   * Whether the last answered renewal found this process holding the lease, and no other running
   * process was found holding it since it claimed it.
   */
  boolean held() {
    return !contested && !taken;
  }

  /**
   * Whether a claim or renewal sent less than the lease's time ago was answered as this process's:
   * the lease cannot have lapsed since. False after Redis answered no renewal for that long (an
   * outage or a partition longer than the lease, renewals refused), until one is answered: the
   * lease may have lapsed meanwhile and another process taken the id, which only that renewal
   * tells; Redis answering a PING again does not.
   */
  boolean confirmed() {
    return System.nanoTime() - confirmedSentNanos < time.toNanos();
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
