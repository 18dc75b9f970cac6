package io.handoff.server.engine.redis;

import io.handoff.protocol.v1.Activity;
import io.handoff.protocol.v1.DevicePresence;
import io.handoff.protocol.v1.Offer;
import io.handoff.protocol.v1.OfferOutcome;
import io.handoff.protocol.v1.Position;
import io.handoff.server.devices.SessionStore;
import io.handoff.server.engine.ResumeStore;
import io.handoff.server.engine.ResumeStore.Resumed;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.handoff.HandoffStore;
import io.handoff.server.handoff.HandoffStore.EndStatus;
import io.handoff.server.handoff.HandoffStore.OfferEnd;
import io.handoff.server.sync.StoreUnavailableException;
import io.handoff.server.sync.SyncResult;
import io.handoff.server.sync.WriteValidator;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.cluster.api.async.RedisClusterAsyncCommands;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.internal.ThreadExecutorMap;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@link ResumeStore} in Redis: one call of {@code resume.lua}, which checks the device session,
 * marks the device online and reads the last write sequence, every followed document from its
 * position, activities, live offers, presence, recently ended offers and the number of pending
 * sign-in requests of the user. All of them are keys of the user's hash tag, so in a Cluster the
 * one script runs on the user's shard. The replies are parsed as the separate stores parse theirs.
 * A document whose deltas cannot serve (history past its age limit, divergence at the first delta)
 * is read again as a snapshot, as {@link RedisDocumentStore#read} does; the documents past the
 * reply's budget ({@link #replyBudget}) are read one by one after the script: the two cases with
 * more round trips. A resume that fails once its script may have marked the device online takes
 * that mark back ({@link #takeBack}). Thread-safe.
 */
final class RedisResume {
  private static final Logger log = LoggerFactory.getLogger(RedisResume.class);
  private static final byte[] EMPTY = {};
  private static final byte[] ZERO_FP = new byte[8];
  private static final String LATER = "later";

  private final RedisClusterAsyncCommands<byte[], byte[]> redis;
  private final RedisKeys keys;
  private final StoreLimits limits;
  private final Clock clock;
  private final RedisFailures failures;
  private final RedisDocumentStore documents;
  private final ConnectionNames connections;
  private final RedisHandoffStore presence;
  private final ClusterShards shards; // null on a standalone Redis: one shard
  private final RedisScript script = new RedisScript("resume.lua");
  // Resumes whose script is sent and not answered yet (takeBackInFlight).
  private final Set<Held> inFlight = ConcurrentHashMap.newKeySet();

  /** On a standalone Redis: one shard. */
  RedisResume(
      RedisClusterAsyncCommands<byte[], byte[]> redis,
      RedisKeys keys,
      StoreLimits limits,
      Clock clock,
      RedisFailures failures,
      RedisDocumentStore documents,
      ConnectionNames connections,
      RedisHandoffStore presence) {
    this(redis, keys, limits, clock, failures, documents, connections, presence, null);
  }

  /** On a Redis Cluster, whose masters {@code shards} tells apart. */
  RedisResume(
      RedisClusterAsyncCommands<byte[], byte[]> redis,
      RedisKeys keys,
      StoreLimits limits,
      Clock clock,
      RedisFailures failures,
      RedisDocumentStore documents,
      ConnectionNames connections,
      RedisHandoffStore presence,
      ClusterShards shards) {
    this.shards = shards;
    this.redis = redis;
    this.keys = keys;
    this.limits = limits;
    this.clock = clock;
    this.failures = failures;
    this.documents = documents;
    this.connections = connections;
    this.presence = presence;
  }

  /** The master that owns {@code userId}'s slot, its resume script's ({@link ClusterShards}). */
  Object shardOf(String userId) {
    return shards == null ? ResumeStore.ONE_SHARD : shards.of(keys.docs(userId));
  }

  /**
   * Whether {@code shard} is a master owning slots now ({@link ClusterShards#has}); standalone, the
   * one shard.
   */
  boolean hasShard(Object shard) {
    return shards == null ? ResumeStore.ONE_SHARD.equals(shard) : shards.has(shard);
  }

  CompletableFuture<ResumeStore.Resumed> resume(ResumeStore.Request r) {
    String user = r.userId();
    long now = clock.millis();
    boolean check = !r.sessionId().isEmpty();
    byte[][] k = {
      keys.docs(user),
      keys.outcomes(user, r.deviceId()),
      check ? keys.session(user, r.sessionId()) : keys.docs(user),
      keys.presence(user),
      keys.activities(user),
      keys.liveOffers(user),
      keys.endedOffers(user),
      keys.splitGuard(user),
      keys.approvalsOfUser(user)
    };
    List<byte[]> argv = new ArrayList<>();
    argv.add(check ? utf8(Long.toString(r.sessionInactivityMillis())) : EMPTY);
    argv.add(utf8(r.deviceId()));
    argv.add(connections.of(r.connection()));
    argv.add(utf8(Long.toString(now)));
    argv.add(utf8(Long.toString(now + r.presenceTtl().toMillis())));
    argv.add(utf8(Integer.toString(r.maxDevices())));
    argv.add(utf8(Long.toString(HandoffStore.PRESENCE_RETENTION.toMillis())));
    argv.add(utf8(Long.toString(limits.idleTtl().toMillis())));
    argv.add(utf8("(" + now));
    argv.add(utf8("(" + (now - HandoffStore.ENDED_RETENTION.toMillis())));
    argv.add(utf8(Integer.toString(HandoffStore.MAX_RECENTLY_ENDED)));
    argv.add(RedisHandoffStore.instance(r.instance()));
    argv.add(utf8(Integer.toString(r.follow().documents().size())));
    r.follow().documents().forEach(d -> argv.add(utf8(d)));
    argv.add(utf8(Integer.toString(r.follow().prefixes().size())));
    r.follow().prefixes().forEach(p -> argv.add(utf8(p)));
    // Followed positions only, the last of each document, as DocumentStore.sync takes them.
    Map<String, Position> byName = new HashMap<>();
    for (Position p : r.positions()) {
      if (r.follow().follows(p.getDocument())) {
        byName.put(p.getDocument(), p);
      }
    }
    argv.add(utf8(Integer.toString(byName.size())));
    for (Position p : byName.values()) {
      argv.add(utf8(p.getDocument()));
      argv.add(p.getEpoch() == 0 ? EMPTY : RedisDocumentStore.epochBytes(p.getEpoch()));
      argv.add(utf8(Long.toString(WriteValidator.clampVersion(p.getVersion()))));
      argv.add(
          p.getFingerprint() == 0 ? ZERO_FP : RedisDocumentStore.epochBytes(p.getFingerprint()));
    }
    argv.add(utf8(Long.toString(replyBudget(limits))));
    byte[][] args = argv.toArray(new byte[0][]);
    // The thread sending the script picks its Redis connection (RoutedCommands): a take-back sent
    // from it goes through the same one.
    EventExecutor sender = ThreadExecutorMap.currentExecutor();
    Held held = new Held(r, now, sender);
    inFlight.add(held);
    // A script Redis refused with temporary trouble is sent again after a pause, from the same
    // loop; once a stopping node took the resume back (takeBackInFlight), it is not: sent after
    // the take-back, it would mark the device online for good.
    CompletableFuture<List<Object>> sent =
        failures.run(
            () ->
                held.get()
                    ? CompletableFuture.failedFuture(
                        new StoreUnavailableException("resume taken back: the node stops", null))
                    : script.<List<Object>>eval(redis, ScriptOutputType.MULTI, k, args));
    sent.whenComplete((v, err) -> inFlight.remove(held));
    // The caller learns of the take-back (Request.takenBack) before the failure.
    return sent.thenCompose(reply -> parse(r, byName, reply, now))
        .whenComplete(
            (v, err) -> {
              if (err != null && mayHaveRun(sent) && held.claim()) {
                r.takenBack().accept(takeBack(r, now, sender, null));
              }
            });
  }

  /**
   * Takes back every resume whose script is sent and not answered yet, each through the connection
   * that carried its script (a loop's, or the shared one), behind it; returns once each take-back
   * is on its way (or cannot be sent), waiting at most {@code bound}. For a stopping node, while
   * its loops still run and before the engine's connections close (their sessions are closed by
   * then, so none of those devices stays online): without it, a script held in a paused Redis runs
   * once Redis is back and marks its device online until the presence deadline (the node, its loops
   * stopped, sends nothing when the closed connection fails the script). With loops bound, a
   * take-back sent once a loop's closed connection failed its script would go through the node's
   * shared connection, which Redis, back, may well read first (it had a command waiting before the
   * script), with the same outcome. A resume waiting to send its script again (Redis refused it
   * with temporary trouble) does not send it once taken back: the retry runs on the loop the
   * take-back is sent from, so it either went before the take-back, on the same connection, or it
   * is not sent at all.
   */
  void takeBackInFlight(Duration bound) {
    List<CompletableFuture<Void>> onTheirWay = new ArrayList<>();
    for (Held held : inFlight) {
      if (held.sender != null && held.claim()) {
        CompletableFuture<Void> onItsWay = new CompletableFuture<>();
        held.r.takenBack().accept(takeBack(held.r, held.now, held.sender, onItsWay));
        onTheirWay.add(onItsWay);
      }
    }
    try {
      CompletableFuture.allOf(onTheirWay.toArray(new CompletableFuture<?>[0]))
          .get(bound.toMillis(), TimeUnit.MILLISECONDS);
    } catch (ExecutionException | TimeoutException e) {
      log.warn("take-backs of {} held resumes not all sent before stopping", onTheirWay.size());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /**
   * Forgets every resume whose script is sent and not answered yet, sending nothing: for a node
   * that stops as a crash would ({@code HandoffServer.abort}), which sends no take-back, neither
   * now nor when the loops' connections, closed, fail the scripts. A held script marks its device
   * online until its presence deadline, as after a crash.
   */
  void abandonInFlight() {
    for (Held held : inFlight) {
      held.claim();
    }
  }

  /** A resume whose script is on its way, sent from {@code sender}: taken back at most once. */
  private static final class Held extends AtomicBoolean {
    final ResumeStore.Request r;
    final long now;
    final EventExecutor sender;

    Held(ResumeStore.Request r, long now, EventExecutor sender) {
      this.r = r;
      this.now = now;
      this.sender = sender;
    }

    boolean claim() {
      return compareAndSet(false, true);
    }
  }

  /**
   * Whether the script of a failed resume may have run, or may still run: it did (a later read
   * failed), or its fate is unknown (a timeout: the script stays queued in Redis, and a paused
   * Redis runs it when it resumes). Not when Redis refused it or it was never sent.
   */
  private static boolean mayHaveRun(CompletableFuture<?> sent) {
    try {
      sent.join();
      return true;
    } catch (CompletionException | CancellationException e) {
      return !(RedisFailures.unwrap(e) instanceof StoreUnavailableException);
    }
  }

  /**
   * Marks the device offline through the failed resume's connection (if its entry still names it),
   * sent from {@code sender}, so through the Redis connection that carried the script: Redis runs
   * one connection's commands in order, so this runs after the script, however late that runs. The
   * node closes the device's connection and never refreshes its entry; without this, a script held
   * in a paused Redis would list the device online until its presence deadline. No clock is
   * compared: the entry's connection tells a newer connection's entry apart, which is left alone.
   * The device is last seen at the resume's {@code now}, as the script marked it, and the entry is
   * marked as taken back: if this script, run late, overwrote a later connection's entry, that
   * connection's presence keeper refreshes it again, whatever the clocks of the two nodes. If it
   * changes the entry, the script tells the user's devices so itself, whether or not this node is
   * still there to hear its answer (a stopping node closes the connection right behind it).
   *
   * @return completes when Redis answered the take-back or it failed, false (nothing left for the
   *     caller to tell the user's devices); false at once when it cannot be sent
   */
  private CompletableFuture<Boolean> takeBack(
      ResumeStore.Request r, long now, EventExecutor sender, CompletableFuture<Void> onItsWay) {
    CompletableFuture<Boolean> done = new CompletableFuture<>();
    Runnable down =
        () -> {
          presence
              // Whole (EVAL): it may itself wait past its timeout, and Redis may lack the script.
              .takeBack(r.userId(), r.deviceId(), r.connection(), now)
              .whenComplete(
                  (changed, err) -> {
                    if (err != null) {
                      log.debug(
                          "taking back the presence of {}/{} failed: {}",
                          r.userId(),
                          r.deviceId(),
                          err.toString());
                    }
                    done.complete(false); // Told by the script, if it changed the entry.
                  });
          if (onItsWay != null) {
            onItsWay.complete(null);
          }
        };
    try {
      failures.sendFrom(sender, down);
    } catch (RejectedExecutionException stopping) {
      // The node is stopping: the entry expires at its deadline.
      done.complete(false);
      if (onItsWay != null) {
        onItsWay.complete(null);
      }
    }
    return done;
  }

  @SuppressWarnings("unchecked")
  private CompletableFuture<ResumeStore.Resumed> parse(
      ResumeStore.Request r, Map<String, Position> byName, List<Object> reply, long now) {
    // The script's now: the session, the deadlines and the expiries are judged as it judged them.
    String user = r.userId();
    SessionStore.Status status = null;
    List<Object> s = (List<Object>) reply.get(0);
    if (!s.isEmpty()) {
      status =
          status(
              (byte[]) s.get(0),
              (byte[]) s.get(1),
              (byte[]) s.get(2),
              (byte[]) s.get(3),
              now,
              r.sessionInactivityMillis());
      if (reply.size() == 1 || !ResumeStore.aliveFor(status, r.deviceId())) {
        return CompletableFuture.completedFuture(ResumeStore.Resumed.sessionNotAlive(status));
      }
    }
    byte[] last = (byte[]) reply.get(1);
    long seq = last.length == 0 ? 0 : Long.parseUnsignedLong(str(last));

    List<Object> docs = (List<Object>) reply.get(2);
    List<CompletableFuture<SyncResult>> reads = new ArrayList<>(docs.size() / 2);
    // The documents past the reply's budget, each read after the one before is answered: sent at
    // once, the last of them would wait for all the others' bytes within its own timeout.
    CompletableFuture<?> later = CompletableFuture.completedFuture(null);
    for (int i = 0; i + 1 < docs.size(); i += 2) {
      String name = str(docs.get(i));
      Position p = byName.get(name);
      long from = p == null ? 0 : p.getVersion();
      long fp = p == null ? 0 : p.getFingerprint();
      List<Object> read = (List<Object>) docs.get(i + 1);
      if (LATER.equals(str(read.get(0)))) {
        long epoch = p == null ? 0 : p.getEpoch();
        CompletableFuture<SyncResult> next =
            later.thenCompose(v -> documents.read(user, name, epoch, from, fp));
        later = next;
        reads.add(next);
        continue;
      }
      SyncResult result = documents.syncResult(user, name, from, fp, read);
      reads.add(documents.completed(user, result));
    }

    List<Activity> activities = new ArrayList<>();
    List<Object> act = (List<Object>) reply.get(3);
    for (int i = 1; i < act.size(); i += 2) {
      activities.add(RedisHandoffStore.parseActivity((byte[]) act.get(i)));
    }
    List<Offer> offers = new ArrayList<>();
    for (Object o : (List<Object>) reply.get(4)) {
      Offer offer = RedisHandoffStore.parseOffer((byte[]) o);
      if (offer.getExpiresMs() > now) {
        offers.add(offer);
      }
    }
    List<DevicePresence> presence = new ArrayList<>();
    List<Object> pr = (List<Object>) reply.get(5);
    for (int i = 0; i + 1 < pr.size(); i += 2) {
      presence.add(
          RedisHandoffStore.parsePresence((byte[]) pr.get(i), (byte[]) pr.get(i + 1), now));
    }
    List<OfferEnd> ended = new ArrayList<>();
    for (Object o : (List<Object>) reply.get(6)) {
      OfferEnd e = ended((List<Object>) o, now);
      if (e != null) {
        ended.add(e);
      }
    }
    // A reply without the count (as the script of a release before it answered) knows nothing.
    int approvals =
        reply.size() > 7 ? (int) Math.min((Long) reply.get(7), Integer.MAX_VALUE) : Resumed.UNKNOWN;
    SessionStore.Status st = status;
    return CompletableFuture.allOf(reads.toArray(new CompletableFuture<?>[0]))
        .thenApply(
            v -> {
              List<SyncResult> results = new ArrayList<>(reads.size());
              reads.forEach(f -> results.add(f.join()));
              return new ResumeStore.Resumed(
                  st, true, seq, results, activities, offers, presence, ended, approvals);
            });
  }

  /** The session's status from its hash's did, rev and seen, as RedisSessionStore#status. */
  private SessionStore.Status status(
      byte[] did, byte[] rev, byte[] seen, byte[] refreshedAt, long now, long inactivityMillis) {
    if (did == null || seen == null) {
      return new SessionStore.Status(false, false, null);
    }
    if (now - Long.parseLong(str(seen)) >= limits.idleTtl().toMillis()) {
      return new SessionStore.Status(false, false, null);
    }
    boolean revoked = rev != null && "1".equals(str(rev));
    if (!revoked
        && refreshedAt != null
        && now - Long.parseLong(str(refreshedAt)) > inactivityMillis) {
      return new SessionStore.Status(false, false, null); // Dead of inactivity: gone.
    }
    return new SessionStore.Status(!revoked, revoked, str(did));
  }

  /**
   * One recently ended offer from {o, st, by, end}, as RedisHandoffStore#recentlyEnded; ENDED for
   * one this resume recorded expired (st 0 as it was read).
   */
  private static OfferEnd ended(List<Object> f, long now) {
    if (f.get(0) == null || f.get(1) == null) {
      return null;
    }
    Offer o = RedisHandoffStore.parseOffer((byte[]) f.get(0));
    int st = Integer.parseInt(str(f.get(1)));
    if (st == 0 && o.getExpiresMs() <= now) {
      return new OfferEnd(EndStatus.ENDED, o, OfferOutcome.EXPIRED, "", o.getExpiresMs());
    }
    if (st != 0) {
      return new OfferEnd(
          EndStatus.ALREADY_ENDED,
          o,
          OfferOutcome.forNumber(st),
          str(f.get(2)),
          Long.parseLong(str(f.get(3))));
    }
    return null;
  }

  /**
   * The bytes of document fields and deltas past which the script leaves the user's other documents
   * to reads of their own: sixteen of the largest documents (4 MiB by default). A reply of every
   * document at once, up to max-documents-per-user times max-document-bytes (250 MiB by default),
   * would hold Redis for seconds and outlast the command's timeout, so the device could never
   * resume.
   */
  static long replyBudget(StoreLimits limits) {
    return 16L * limits.maxDocumentBytes();
  }

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private static String str(Object bytes) {
    return new String((byte[]) bytes, StandardCharsets.UTF_8);
  }
}
