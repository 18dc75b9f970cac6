package io.handoff.server.engine.redis;

import com.google.protobuf.ByteString;
import io.handoff.protocol.v1.Delta;
import io.handoff.protocol.v1.DocumentSync;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.FieldOp;
import io.handoff.protocol.v1.Position;
import io.handoff.protocol.v1.Write;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.sync.DocumentEvent;
import io.handoff.server.sync.DocumentStore;
import io.handoff.server.sync.DocumentTag;
import io.handoff.server.sync.FollowFilter;
import io.handoff.server.sync.StoreUnavailableException;
import io.handoff.server.sync.SyncResult;
import io.handoff.server.sync.WriteOutcome;
import io.handoff.server.sync.WriteValidator;
import io.handoff.server.util.ReadWindow;
import io.lettuce.core.RedisFuture;
import io.lettuce.core.RedisNoScriptException;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.api.StatefulConnection;
import io.lettuce.core.cluster.api.async.RedisClusterAsyncCommands;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Predicate;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@link DocumentStore} in Redis. Every write is one server-side Lua script (loaded once, called by
 * SHA) that checks idempotency and the expected version, applies the fields, appends to history,
 * refreshes TTLs and publishes the delta on the user's channel, atomically: Redis runs scripts one
 * at a time, so no other node can interleave. Reads are a second script, so a snapshot's fields and
 * version always match. No read-modify-write round trips from Java.
 *
 * <p>Commands go through one pipelined Lettuce connection, through {@link RedisFailures}: trouble
 * Redis means as temporary (loading, a failover, not connected) is waited out for a bounded time;
 * then a command that certainly did not run fails as "unavailable" (the session answers
 * UNAVAILABLE), and one that may have run (a timeout, a connection lost after sending) as "outcome
 * unknown" (OUTCOME_UNKNOWN). Nothing is half-applied either way: every write is one script (a
 * Redis that loads a torn append-only file unrepaired can replay part of one; reads then serve a
 * snapshot where history does not line up, see docs/redis.md).
 */
public final class RedisDocumentStore implements DocumentStore {
  private static final Logger log = LoggerFactory.getLogger(RedisDocumentStore.class);
  private static final byte[] EMPTY = new byte[0];

  private final StatefulConnection<byte[], byte[]> connection;
  private final RedisClusterAsyncCommands<byte[], byte[]> redis;
  private final RedisKeys keys;
  private final StoreLimits limits;
  private final Clock clock;
  private final AtomicLong epochs = new AtomicLong(new SecureRandom().nextLong());
  private final String writeScript;
  private final String readScript;
  private volatile String writeSha;
  private volatile String readSha;
  private final RedisScript eraseScript = new RedisScript("erase_documents.lua");
  private final RedisFailures failures;
  private final ReplicaWait replicaWait; // null unless durable acks are on
  private final Predicate<byte[]> sendBufferFull;
  // When a history that does not line up was last logged (clock millis).
  private final AtomicLong lastMisalignedLog = new AtomicLong(Long.MIN_VALUE / 2);
  // ARGV 6-11 of write.lua: the same for every write, encoded once.
  private final byte[][] limitArgs;

  /**
   * {@code redis} is the command interface of {@code connection}: a standalone connection's, or a
   * cluster connection's, which routes each script call by its keys' hash slot and loads scripts on
   * every node. {@code replicaWait} holds back applied writes until replicas hold them (durable
   * acks), or is null. {@code sendBufferFull} says, given a write's first key and on the thread
   * that would send it, whether the connection it would go through holds more than its bound unsent
   * ({@link SendBuffer}): the write is then refused.
   */
  RedisDocumentStore(
      StatefulConnection<byte[], byte[]> connection,
      RedisClusterAsyncCommands<byte[], byte[]> redis,
      RedisKeys keys,
      StoreLimits limits,
      Clock clock,
      RedisFailures failures,
      ReplicaWait replicaWait,
      Predicate<byte[]> sendBufferFull) {
    this.sendBufferFull = sendBufferFull;
    this.failures = failures;
    this.replicaWait = replicaWait;
    this.connection = connection;
    this.redis = redis;
    this.keys = keys;
    this.limits = limits;
    this.clock = clock;
    this.limitArgs =
        new byte[][] {
          utf8(Integer.toString(limits.maxDocumentsPerUser())),
          utf8(Integer.toString(limits.maxFieldsPerDocument())),
          utf8(Integer.toString(limits.maxDocumentBytes())),
          utf8(Integer.toString(limits.historyLength())),
          utf8(Integer.toString(limits.seqWindow())),
          utf8(Long.toString(limits.idleTtl().getSeconds()))
        };
    this.writeScript = RedisScript.source("write.lua");
    this.readScript = RedisScript.source("read.lua");
    this.writeSha = RedisScript.sha1(utf8(writeScript));
    this.readSha = RedisScript.sha1(utf8(readScript));
    // Loaded where Redis answers, which also opens the connections to every node of a Cluster. On
    // a Cluster, SCRIPT LOAD goes to every node Lettuce knows and fails while any one of them is
    // down (a dead replica): that does not stop the node, since a shard without a script answers
    // NOSCRIPT and gets it whole (eval below).
    preload(redis.scriptLoad(writeScript));
    preload(redis.scriptLoad(readScript));
  }

  private static void preload(RedisFuture<String> f) {
    try {
      f.toCompletableFuture().get(30, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while loading scripts", e);
    } catch (ExecutionException | TimeoutException e) {
      log.warn(
          "scripts not loaded on every Redis node (each is sent whole where missing): {}",
          String.valueOf(e.getCause() == null ? e : e.getCause()));
    }
  }

  @Override
  public CompletableFuture<WriteOutcome> write(String userId, String deviceId, Write w) {
    String doc = w.getDocument();
    byte[] body =
        Delta.newBuilder()
            .setDocument(doc)
            .addAllOps(w.getOpsList())
            .setOriginDevice(deviceId)
            .setOriginSeq(w.getClientSeq())
            .setTimestampMs(clock.millis())
            .build()
            .toByteArray();
    byte[][] k = keys.writeKeys(userId, doc, deviceId);
    long tag = DocumentTag.of(doc);
    List<byte[]> args = new ArrayList<>(14 + 3 * w.getOpsCount());
    args.add(utf8(doc));
    args.add(utf8(Long.toUnsignedString(w.getClientSeq())));
    args.add(utf8(w.hasExpectedVersion() ? Long.toString(w.getExpectedVersion()) : "-1"));
    args.add(body);
    args.add(epochBytes(newEpoch()));
    Collections.addAll(args, limitArgs);
    args.add(utf8(deviceId));
    args.add(utf8(Long.toString(clock.millis() / 1000)));
    args.add(tagged(tag));
    for (FieldOp op : w.getOpsList()) {
      boolean set = op.getOpCase() == FieldOp.OpCase.SET;
      args.add(utf8(set ? "s" : "r"));
      args.add(utf8(op.getField()));
      args.add(set ? op.getSet().toByteArray() : EMPTY);
    }
    byte[][] argv = args.toArray(new byte[0][]);
    CompletableFuture<WriteOutcome> outcome =
        failures
            .run(() -> sendBufferFull.test(k[0]) ? unsent() : eval(() -> writeSha, true, k, argv))
            .thenApply(r -> writeOutcome(r, w.getClientSeq(), tag));
    return replicaWait == null
        ? outcome
        : outcome.thenCompose(o -> replicaWait.confirm(k, w.getClientSeq(), tag, o));
  }

  /** The prefix write.lua gives the outcomes of a document tagged {@code tag}: 'T' and the tag. */
  static byte[] tagged(long tag) {
    return ByteBuffer.allocate(9)
        .order(ByteOrder.LITTLE_ENDIAN)
        .put((byte) 'T')
        .putLong(tag)
        .array();
  }

  /**
   * The answer of write.lua to write {@code seq} of the document tagged {@code tag}. A duplicate
   * remembered for another document (a client that reused the number) is refused: its outcome is
   * not this write's. One remembered before tags answers any document, as it did then.
   */
  private static WriteOutcome writeOutcome(List<Object> r, long seq, long tag) {
    String kind = str(r.get(0));
    return switch (kind) {
      case "ok" ->
          WriteOutcome.applied(
              epoch((byte[]) r.get(1)), (Long) r.get(2), epoch((byte[]) r.get(3)), false);
      case "dup" -> {
        byte[] o = (byte[]) r.get(1);
        long remembered = o[0] == 'T' ? epoch(Arrays.copyOfRange(o, 1, 9)) : DocumentTag.NONE;
        yield remembered == DocumentTag.NONE || remembered == tag
            ? parseOutcome(o).asDuplicate()
            : DocumentTag.seqReused(seq);
      }
      case "refused" -> {
        WriteOutcome refused = parseOutcome((byte[]) r.get(1));
        yield r.size() > 2 ? refused.withoutWriteRecord() : refused;
      }
      case "stale" -> WriteOutcome.staleSequence(seq);
      default -> throw new IllegalStateException("unexpected script reply " + kind);
    };
  }

  /**
   * 'A' + epoch(8) + fingerprint(8) + version, 'a' + epoch(8) + version (from before fingerprints),
   * or 'r' + epoch(8) + "version|code|message"; any of them after 'T' + document tag(8), as written
   * since tags (the tag is not read here).
   */
  private static WriteOutcome parseOutcome(byte[] o) {
    if (o[0] == 'T') {
      o = Arrays.copyOfRange(o, 9, o.length);
    }
    long epoch = epoch(Arrays.copyOfRange(o, 1, 9));
    if (o[0] == 'A') {
      long fp = epoch(Arrays.copyOfRange(o, 9, 17));
      return WriteOutcome.applied(
          epoch,
          Long.parseLong(new String(o, 17, o.length - 17, StandardCharsets.UTF_8)),
          fp,
          false);
    }
    String rest = new String(o, 9, o.length - 9, StandardCharsets.UTF_8);
    if (o[0] == 'a') {
      return WriteOutcome.applied(epoch, Long.parseLong(rest), false);
    }
    String[] parts = rest.split("\\|", 3);
    return WriteOutcome.refused(
        ErrorCode.forNumber(Integer.parseInt(parts[1])), parts[2], epoch, Long.parseLong(parts[0]));
  }

  @Override
  public CompletableFuture<SyncResult> read(
      String userId, String document, long epoch, long version, long fingerprint) {
    byte[][] k = {
      keys.meta(userId, document), keys.fields(userId, document), keys.history(userId, document)
    };
    byte[][] argv = {
      epoch == 0 ? EMPTY : epochBytes(epoch),
      utf8(Long.toString(WriteValidator.clampVersion(version))),
      epochBytes(fingerprint)
    };
    return failures
        .run(() -> eval(() -> readSha, false, k, argv))
        .thenCompose(
            r -> {
              SyncResult result = syncResult(userId, document, version, fingerprint, r);
              return completed(userId, result);
            });
  }

  /** {@code result}, or when it is a snapshot still without fields, that snapshot read. */
  CompletableFuture<SyncResult> completed(String userId, SyncResult result) {
    if (result.mode() == DocumentSync.Mode.SNAPSHOT && result.fields() == null) {
      // The deltas cannot serve: a snapshot, read again for its fields.
      DocumentSync.Reason why = result.reason();
      return read(userId, result.document(), 0, 0, 0).thenApply(s -> s.because(why));
    }
    return CompletableFuture.completedFuture(result);
  }

  /**
   * A read.lua reply as a result; a SNAPSHOT without fields when the deltas cannot serve (history
   * too old, or diverged at the first delta): {@link #completed} reads that snapshot.
   */
  @SuppressWarnings("unchecked")
  SyncResult syncResult(
      String userId, String document, long from, long fingerprint, List<Object> r) {
    String kind = str(r.get(0));
    switch (kind) {
      case "gone":
        return SyncResult.gone(document);
      case "uptodate":
        return SyncResult.upToDate(
            document, epoch((byte[]) r.get(1)), (Long) r.get(2), epoch((byte[]) r.get(3)));
      case "deltas":
        {
          long epoch = epoch((byte[]) r.get(1));
          long oldest = clock.millis() - limits.historyMaxAge().toMillis();
          List<DocumentEvent> deltas = new ArrayList<>();
          for (Object o : (List<Object>) r.get(3)) {
            DocumentEvent d = event(userId, (byte[]) o);
            if (deltas.isEmpty() && d.timestampMs() < oldest) {
              // History reaches back, but its oldest needed delta is past the age limit.
              return needsSnapshot(document, DocumentSync.Reason.HISTORY_TRIMMED);
            }
            deltas.add(d);
          }
          // First, so that a history one entry off is logged whatever the device holds.
          if (!SyncResult.linesUp(from, (Long) r.get(2), epoch((byte[]) r.get(4)), deltas)) {
            misalignedHistory(userId, document, from, (Long) r.get(2), deltas.size());
            return needsSnapshot(document, DocumentSync.Reason.DIVERGED);
          }
          if (SyncResult.divergedAt(fingerprint, deltas)) {
            return needsSnapshot(document, DocumentSync.Reason.DIVERGED);
          }
          return SyncResult.deltas(document, epoch, from, deltas);
        }
      case "snapshot":
        {
          List<Object> flat = (List<Object>) r.get(3);
          Map<String, ByteString> fields = new LinkedHashMap<>();
          for (int i = 0; i + 1 < flat.size(); i += 2) {
            fields.put(str(flat.get(i)), ByteString.copyFrom((byte[]) flat.get(i + 1)));
          }
          return SyncResult.snapshot(
              document,
              epoch((byte[]) r.get(1)),
              (Long) r.get(2),
              fields,
              epoch((byte[]) r.get(4)),
              reason(str(r.get(5))));
        }
      default:
        throw new IllegalStateException("unexpected script reply " + kind);
    }
  }

  /**
   * Logs a history that does not line up with its document's version, at most once a minute per
   * node: the store holds what it should not (see docs/redis.md, "A torn transaction in the
   * append-only file"), and every read from a position before the odd entry finds it again until
   * history is trimmed past it.
   */
  private void misalignedHistory(
      String userId, String document, long from, long version, int entries) {
    long now = clock.millis();
    long last = lastMisalignedLog.get();
    if (now - last >= 60_000 && lastMisalignedLog.compareAndSet(last, now)) {
      log.warn(
          "The history of document '{}' of user {} does not line up with its version {}: {}"
              + " entries after version {} are not versions {} to {} in order. Devices get a"
              + " snapshot. Check the Redis log for a truncated append-only file.",
          document,
          userId,
          version,
          entries,
          from,
          from + 1,
          version);
    }
  }

  /** A marker result: a snapshot is needed for {@code why}; {@link #read} reads it. */
  private static SyncResult needsSnapshot(String document, DocumentSync.Reason why) {
    return new SyncResult(document, DocumentSync.Mode.SNAPSHOT, 0, 0, 0, List.of(), null, 0, why);
  }

  private static DocumentSync.Reason reason(String r) {
    return switch (r) {
      case "none" -> DocumentSync.Reason.NO_POSITION;
      case "epoch" -> DocumentSync.Reason.EPOCH_CHANGED;
      case "diverged" -> DocumentSync.Reason.DIVERGED;
      default -> DocumentSync.Reason.HISTORY_TRIMMED;
    };
  }

  /** The event of a delta as the write script stored it (its push frame wraps those bytes). */
  private static DocumentEvent event(String userId, byte[] payload) {
    try {
      return DocumentEvent.ofDelta(userId, payload);
    } catch (IllegalArgumentException e) {
      throw new IllegalStateException("corrupt delta in Redis: " + e.getMessage(), e);
    }
  }

  @Override
  public CompletableFuture<List<SyncResult>> sync(
      String userId, FollowFilter filter, Collection<Position> positions) {
    Map<String, Position> byName = new HashMap<>();
    for (Position p : positions) {
      if (filter.follows(p.getDocument())) {
        byName.put(p.getDocument(), p);
      }
    }
    return failures
        .run(() -> redis.smembers(keys.docs(userId)).toCompletableFuture())
        .thenCompose(
            members -> {
              Set<String> names = new HashSet<>();
              for (byte[] m : members) {
                String name = str(m);
                if (filter.follows(name) && !byName.containsKey(name)) {
                  names.add(name);
                }
              }
              // A window of reads, not all at once: a user's documents may be 250 MiB.
              List<Supplier<CompletableFuture<SyncResult>>> reads = new ArrayList<>();
              for (String name : names) {
                reads.add(() -> read(userId, name, 0, 0));
              }
              for (Position p : byName.values()) {
                reads.add(
                    () ->
                        read(
                            userId,
                            p.getDocument(),
                            p.getEpoch(),
                            p.getVersion(),
                            p.getFingerprint()));
              }
              return ReadWindow.of(reads);
            });
  }

  @Override
  public CompletableFuture<Set<String>> documents(String userId) {
    return failures
        .run(() -> redis.smembers(keys.docs(userId)).toCompletableFuture())
        .thenApply(
            members -> {
              Set<String> names = new HashSet<>();
              for (byte[] m : members) {
                names.add(str(m));
              }
              return names;
            });
  }

  @Override
  public CompletableFuture<Long> lastClientSeq(String userId, String deviceId) {
    return failures
        .run(() -> redis.hget(keys.outcomes(userId, deviceId), utf8("_last")).toCompletableFuture())
        .thenApply(v -> v == null ? 0L : Long.parseUnsignedLong(str(v)));
  }

  @Override
  public CompletableFuture<Void> erase(String userId) {
    // Waits out temporary trouble as writes do: TRYAGAIN while the user's slot moves, a failover.
    return failures
        .run(
            () ->
                eraseScript.<Long>eval(
                    redis,
                    ScriptOutputType.INTEGER,
                    keys.docs(userId),
                    keys.writers(userId),
                    keys.splitGuard(userId)))
        .thenApply(r -> null);
  }

  /** Nothing to do: Redis expires each user's keys after the idle TTL by itself. */
  @Override
  public CompletableFuture<Void> sweep(Instant now) {
    return CompletableFuture.completedFuture(null);
  }

  /**
   * A write not sent because its connection's send buffer is past its bound: Redis has not read
   * what is waiting there (hung), and more would only grow the node's memory.
   */
  private static <T> CompletableFuture<T> unsent() {
    return CompletableFuture.failedFuture(
        new StoreUnavailableException(
            "Redis has not read the "
                + (SendBuffer.MARK.high() >> 20)
                + " MiB waiting on its connection; the write was not sent",
            null));
  }

  /** Runs a script by SHA, sent whole once if Redis lost its script cache (a restart). */
  private CompletableFuture<List<Object>> eval(
      Supplier<String> sha, boolean write, byte[][] k, byte[][] argv) {
    CompletableFuture<List<Object>> first =
        redis
            .<List<Object>>evalsha(sha.get(), ScriptOutputType.MULTI, k, argv)
            .toCompletableFuture();
    return first.exceptionallyCompose(
        err -> {
          Throwable cause = err instanceof CompletionException ? err.getCause() : err;
          if (!(cause instanceof RedisNoScriptException)) {
            return CompletableFuture.failedFuture(cause);
          }
          return RedisScript.<List<Object>>evalWhole(
              redis, utf8(write ? writeScript : readScript), ScriptOutputType.MULTI, k, argv);
        });
  }

  /**
   * A fresh document epoch for every write (the script uses it only if it creates the document):
   * distinct values of a counter from a random start, through a bijective mix, so epochs are unique
   * on this node and unrelated across nodes without a SecureRandom call per write.
   */
  private long newEpoch() {
    long e;
    do {
      e = mix(epochs.incrementAndGet());
    } while (e == 0);
    return e;
  }

  /** MurmurHash3's 64-bit finalizer: a bijection that spreads consecutive inputs. */
  static long mix(long z) {
    z = (z ^ (z >>> 33)) * 0xff51afd7ed558ccdL;
    z = (z ^ (z >>> 33)) * 0xc4ceb9fe1a85ec53L;
    return z ^ (z >>> 33);
  }

  static byte[] epochBytes(long epoch) {
    return ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(epoch).array();
  }

  static long epoch(byte[] b) {
    return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).getLong();
  }

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private static String str(Object bytes) {
    return new String((byte[]) bytes, StandardCharsets.UTF_8);
  }

  boolean isOpen() {
    return connection.isOpen();
  }

  @Override
  public void close() {
    if (replicaWait != null) {
      replicaWait.close();
    }
    connection.close();
  }
}
