package io.handoff.server.engine.redis;

import io.handoff.server.sync.OutcomeUnknownException;
import io.handoff.server.sync.WriteOutcome;
import io.lettuce.core.ClientOptions;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.SetArgs;
import io.lettuce.core.TimeoutOptions;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.cluster.SlotHash;
import io.lettuce.core.codec.ByteArrayCodec;
import io.lettuce.core.resource.ClientResources;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Function;

/**
 * Durable acks: an applied write is handed back only once Redis confirms that {@code replicas}
 * replicas of the master that applied it hold it ({@code WAIT}), within the deadline; otherwise it
 * fails with {@link OutcomeUnknownException} (applied on the master, may not survive a failover:
 * the device re-sends it with the same client_seq and the re-send, answered from the idempotency
 * record, is confirmed the same way).
 *
 * <h2>How</h2>
 *
 * {@code WAIT} blocks the connection that sends it and counts the replicas that reached that
 * connection's last write. So it never runs on the shared command connection (it would stall every
 * command of the node behind it): each master gets one connection of its own, and a confirmation
 * round on it is a small write to a key in the slot of a user just written ({@code
 * PREFIX{dw:N}:dw}, N chosen to land in that slot; {@code PREFIX{dw}:dw} on a standalone Redis),
 * which moves that connection's replication offset past every write the master had applied by then,
 * from any connection, followed by {@code WAIT replicas timeout}. The probe names no user: a round
 * may run after the user it confirms a write of was erased, and must not leave a key of that user.
 * Writes that completed while a round runs wait for the next one: one round at a time per master,
 * each confirming everything applied before it (group commit). A duplicate's original write may
 * have come from another node; it too is before the round's write, so it is confirmed the same way.
 *
 * <p>Before its probe, a round reads each write's outcome record ({@code s:DEVICE}, as write.lua
 * recorded it) on the same connection: a write is confirmed only if that master held it before the
 * probe. After a failover the round's connection may come back to another server at the same
 * address (a Sentinel URL, a virtual IP) while the write was applied on the old primary, and the
 * new primary's replicas, however many confirm, never had it: such a write is answered unconfirmed.
 *
 * <p>In a Cluster the master is the one that owns the user's slot when the write completed, as the
 * node's view of the topology says (it may lag a slot's move by a second), and the round writes the
 * probe of each slot of its writes: a probe in a slot the master no longer owns fails (MOVED, or
 * ASK while the slot's keys move away), and the writes of that slot are answered as unconfirmed,
 * never as durable. The writes of the other slots are confirmed by the same {@code WAIT}. (One
 * probe for the whole round let a write applied on a slot's new master be confirmed by the old
 * master's replicas, which never hold it.) Pending writes are bounded by the writes in flight on
 * the node (each connection has at most {@code maxInFlightWrites}). Thread-safe.
 */
final class ReplicaWait implements AutoCloseable {
  private static final Duration PROBE_TTL = Duration.ofMinutes(1);
  // Sent whole (EVAL) in every round, so that it runs before the probe on the same server: an
  // EVALSHA answered NOSCRIPT would be sent again after it.
  private static final byte[] HELD =
      RedisScript.source("held.lua").getBytes(StandardCharsets.UTF_8);
  // Lettuce's own deadline for a round, past WAIT's.
  private static final Duration SLACK = Duration.ofSeconds(2);

  private final int replicas;
  private final Duration timeout;
  private final RedisKeys keys;
  private final boolean cluster;
  private final Function<byte[], RedisURI> masterOf;
  private final RedisClient client;
  private final Map<String, Master> masters = new HashMap<>();
  // The probe key of each Cluster slot written, found once (RedisKeys.durableProbe(int)).
  private final Map<Integer, byte[]> probes = new java.util.concurrent.ConcurrentHashMap<>();
  private boolean closed;

  /**
   * @param cluster a Redis Cluster: a round probes each slot of its writes (standalone: one probe)
   * @param masterOf the master that owns a key (standalone: always the one Redis)
   */
  ReplicaWait(
      ClientResources resources,
      int replicas,
      Duration timeout,
      RedisKeys keys,
      boolean cluster,
      Function<byte[], RedisURI> masterOf) {
    this.replicas = replicas;
    this.timeout = timeout;
    this.keys = keys;
    this.cluster = cluster;
    this.masterOf = masterOf;
    this.client = RedisClient.create(resources);
    client.setOptions(
        ClientOptions.builder()
            .autoReconnect(true)
            .disconnectedBehavior(ClientOptions.DisconnectedBehavior.REJECT_COMMANDS)
            .timeoutOptions(TimeoutOptions.enabled(timeout.plus(SLACK)))
            .build());
  }

  /**
   * {@code outcome} of write {@code seq} to the document tagged {@code tag}, whose keys are {@code
   * keys} (write.lua's: its document's meta hash first, its history third, its device's outcome
   * hash fifth; all in the user's slot), once {@code replicas} replicas of a master that holds it
   * hold it; refusals pass at once (they are not acks).
   */
  CompletableFuture<WriteOutcome> confirm(byte[][] keys, long seq, long tag, WriteOutcome outcome) {
    byte[] key = keys[0];
    if (!outcome.isApplied()) {
      return CompletableFuture.completedFuture(outcome);
    }
    RedisURI uri;
    try {
      uri = masterOf.apply(key);
    } catch (RuntimeException e) {
      return CompletableFuture.failedFuture(unconfirmed(0, e));
    }
    Master m;
    synchronized (this) {
      if (closed) {
        return CompletableFuture.failedFuture(unconfirmed(0, null));
      }
      m = masters.computeIfAbsent(uri.getHost() + ":" + uri.getPort(), k -> new Master(uri));
    }
    Pending p =
        new Pending(
            cluster ? SlotHash.getSlot(key) : 0,
            new byte[][] {keys[4], keys[0], keys[2]},
            Long.toUnsignedString(seq).getBytes(StandardCharsets.US_ASCII),
            recorded(outcome),
            RedisDocumentStore.tagged(tag),
            outcome);
    m.add(p);
    return p.future;
  }

  /**
   * The outcome write.lua records for an applied write, without the document tag it is recorded
   * after since tags: 'A', epoch and fingerprint (8 bytes each, little-endian), version; 'a',
   * epoch, version for one recorded before fingerprints.
   */
  private static byte[] recorded(WriteOutcome o) {
    byte[] version = Long.toString(o.version()).getBytes(StandardCharsets.US_ASCII);
    boolean fp = o.fingerprint() != 0;
    ByteBuffer b =
        ByteBuffer.allocate(1 + 8 + (fp ? 8 : 0) + version.length).order(ByteOrder.LITTLE_ENDIAN);
    b.put((byte) (fp ? 'A' : 'a')).putLong(o.epoch());
    if (fp) {
      b.putLong(o.fingerprint());
    }
    return b.put(version).array();
  }

  /** The probe key in {@code p}'s slot. */
  private byte[] probe(Pending p) {
    return cluster ? probes.computeIfAbsent(p.slot(), keys::durableProbe) : keys.durableProbe();
  }

  private OutcomeUnknownException unconfirmed(long confirmed, Throwable cause) {
    return unconfirmed(
        (cause == null
                ? confirmed + " of " + replicas + " replicas confirmed it"
                : "its replication could not be confirmed (" + cause.getMessage() + ")")
            + " within "
            + timeout.toMillis()
            + " ms",
        cause);
  }

  private static OutcomeUnknownException unconfirmed(String why, Throwable cause) {
    return OutcomeUnknownException.unconfirmed(
        "the write was applied, but "
            + why
            + ", so it may not survive a failover: re-send it with the same client_seq",
        cause);
  }

  @Override
  public void close() {
    List<Master> all;
    synchronized (this) {
      closed = true;
      all = new ArrayList<>(masters.values());
      masters.clear();
    }
    all.forEach(Master::close);
    client.shutdownAsync();
  }

  /**
   * A write waiting for a round; {@code slot} its user's (0 on a standalone Redis), {@code keys}
   * held.lua's (its device's outcome hash, where {@code seq} holds {@code recorded} after {@code
   * tag}, its document's as write.lua prefixes it, or without it if recorded before tags; its
   * document's meta hash and history).
   */
  private record Pending(
      int slot,
      byte[][] keys,
      byte[] seq,
      byte[] recorded,
      byte[] tag,
      WriteOutcome outcome,
      CompletableFuture<WriteOutcome> future) {
    Pending(
        int slot, byte[][] keys, byte[] seq, byte[] recorded, byte[] tag, WriteOutcome outcome) {
      this(slot, keys, seq, recorded, tag, outcome, new CompletableFuture<>());
    }
  }

  /**
   * What a round's reads, probes and WAIT answered: per write, whether its master held it (read
   * before the probes), and per slot, the probe.
   */
  private record Answer(
      Map<Pending, CompletableFuture<Long>> held,
      Map<Integer, CompletableFuture<String>> probes,
      long count) {
    /** Why {@code p}'s read or its slot's probe failed, or null if both were done. */
    Throwable failure(Pending p) {
      Throwable e = held.get(p).handle((ok, err) -> err).getNow(null);
      return e != null ? e : probes.get(p.slot()).handle((ok, err) -> err).getNow(null);
    }

    /**
     * What held.lua found of write {@code p} on the master the probe was written to, before it: 1
     * held, 2 nothing there can tell (its record trimmed and its document's history past it), 0 not
     * held.
     */
    long held(Pending p) {
      Long held = this.held.get(p).getNow(null);
      return held == null ? 0 : held;
    }
  }

  /** One master's confirmation rounds, on a connection of their own. */
  private final class Master {
    private final RedisURI uri;
    private List<Pending> waiting = new ArrayList<>();
    private boolean running;
    private CompletableFuture<StatefulRedisConnection<byte[], byte[]>> connection;

    Master(RedisURI uri) {
      this.uri = uri;
    }

    void add(Pending p) {
      synchronized (this) {
        waiting.add(p);
        if (running) {
          return; // The round under way ends by starting the next.
        }
        running = true;
      }
      round();
    }

    private void round() {
      List<Pending> batch;
      synchronized (this) {
        if (waiting.isEmpty()) {
          running = false;
          return;
        }
        batch = waiting;
        waiting = new ArrayList<>();
      }
      connection()
          .thenCompose(
              c -> {
                // Pipelined on one connection, so all on one server: WAIT counts the replicas
                // past the last probe, and answers after every probe did. One probe per slot: a
                // slot that moved away fails its own probe without vouching for the others.
                // Before the probes, each write's outcome is read: after a failover the
                // connection may reach another master than the one that applied the write, and
                // that master's replicas confirm only what it held before its probe.
                Map<Pending, CompletableFuture<Long>> held = new IdentityHashMap<>();
                for (Pending p : batch) {
                  held.put(p, held(c, p));
                }
                Map<Integer, CompletableFuture<String>> probes = new HashMap<>();
                for (Pending p : batch) {
                  if (!probes.containsKey(p.slot())) {
                    probes.put(
                        p.slot(),
                        c.async()
                            .set(probe(p), new byte[0], SetArgs.Builder.px(PROBE_TTL.toMillis()))
                            .toCompletableFuture());
                  }
                }
                return c.async()
                    .waitForReplication(replicas, timeout.toMillis())
                    .toCompletableFuture()
                    .thenApply(count -> new Answer(held, probes, count));
              })
          // A round always ends: whatever Lettuce does with a connection to a master that died
          // (reconnecting to its address, re-sending queued commands), the writes waiting on
          // this round are answered unconfirmed at this deadline and the next round starts.
          .orTimeout(timeout.plus(SLACK).plus(SLACK).toMillis(), TimeUnit.MILLISECONDS)
          .whenComplete(
              (answer, err) -> {
                for (Pending p : batch) {
                  Throwable failed = err != null ? err : answer.failure(p);
                  long held = failed == null ? answer.held(p) : 1;
                  if (held == 2) {
                    // Not a failover's doing, most likely, but nothing on this master shows the
                    // write any more, so its replicas cannot vouch for it.
                    p.future.completeExceptionally(
                        unconfirmed(
                            "the Redis master that confirms writes can no longer tell whether it"
                                + " holds it (the device's later writes and its document's"
                                + " history both moved past it)",
                            null));
                  } else if (held != 1) {
                    p.future.completeExceptionally(
                        unconfirmed(
                            "the Redis master that confirms writes now does not hold it (it was"
                                + " applied on another one, as after a failover, or erased since)",
                            null));
                  } else if (failed == null && answer.count() >= replicas) {
                    p.future.complete(p.outcome);
                  } else {
                    p.future.completeExceptionally(
                        unconfirmed(
                            answer == null || failed != null ? 0 : answer.count(),
                            failed == null ? null : RedisFailures.unwrap(failed)));
                  }
                }
                if (err != null) {
                  reset(RedisFailures.unwrap(err) instanceof TimeoutException);
                }
                round();
              });
    }

    /** Whether the server of {@code c} holds {@code p} (held.lua). */
    private CompletableFuture<Long> held(StatefulRedisConnection<byte[], byte[]> c, Pending p) {
      WriteOutcome o = p.outcome();
      byte[] tagged = new byte[p.tag().length + p.recorded().length];
      System.arraycopy(p.tag(), 0, tagged, 0, p.tag().length);
      System.arraycopy(p.recorded(), 0, tagged, p.tag().length, p.recorded().length);
      return c.async()
          .<Long>eval(
              HELD,
              ScriptOutputType.INTEGER,
              p.keys(),
              p.seq(),
              tagged,
              p.recorded(),
              RedisDocumentStore.epochBytes(o.epoch()),
              Long.toString(o.version()).getBytes(StandardCharsets.US_ASCII),
              RedisDocumentStore.epochBytes(o.fingerprint()))
          .toCompletableFuture();
    }

    private synchronized CompletableFuture<StatefulRedisConnection<byte[], byte[]>> connection() {
      if (connection == null) {
        connection = client.connectAsync(ByteArrayCodec.INSTANCE, uri).toCompletableFuture();
      }
      return connection;
    }

    /**
     * After a failed round: a connection that never opened is tried again next round, and after a
     * round that timed out the connection is dropped and made afresh (it may be stuck on a master
     * that is gone).
     */
    private synchronized void reset(boolean timedOut) {
      if (connection == null) {
        return;
      }
      if (timedOut && !connection.isCompletedExceptionally()) {
        connection.thenAccept(StatefulRedisConnection::closeAsync);
        connection = null;
      } else if (connection.isCompletedExceptionally()) {
        connection = null;
      }
    }

    void close() {
      List<Pending> left;
      synchronized (this) {
        left = waiting;
        waiting = new ArrayList<>();
        if (connection != null) {
          connection.thenAccept(StatefulRedisConnection::closeAsync);
        }
      }
      for (Pending p : left) {
        p.future.completeExceptionally(unconfirmed(0, null));
      }
    }
  }
}
