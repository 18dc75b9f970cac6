package io.handoff.server.engine;

import io.handoff.protocol.v1.Activity;
import io.handoff.protocol.v1.DevicePresence;
import io.handoff.protocol.v1.Offer;
import io.handoff.protocol.v1.Position;
import io.handoff.server.devices.ApprovalStore;
import io.handoff.server.devices.SessionStore;
import io.handoff.server.handoff.HandoffStore;
import io.handoff.server.handoff.HandoffStore.OfferEnd;
import io.handoff.server.sync.DocumentStore;
import io.handoff.server.sync.FollowFilter;
import io.handoff.server.sync.SyncResult;
import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;

/**
 * Everything a device's Hello needs from the stores, read in one round trip: the device session's
 * status, the device's last applied write, where each followed document stands for the device, the
 * user's activities, live offers, presence (with this device registered online first) and recently
 * ended offers, and how many of the user's sign-in requests are pending. A reconnect storm
 * multiplies every store round trip of a resume by the number of devices; this keeps it at one.
 *
 * <h2>Contract</h2>
 *
 * <ul>
 *   <li><b>Same answers as the separate calls.</b> Each part is what {@link SessionStore#status},
 *       {@link DocumentStore#lastClientSeq}, {@link DocumentStore#sync}, {@link
 *       HandoffStore#online} then {@link HandoffStore#activities}, {@link HandoffStore#liveOffers},
 *       {@link HandoffStore#presence} and {@link HandoffStore#recentlyEnded} would answer at the
 *       same moment, with the same bounds and the same snapshot decisions (history, epoch,
 *       fingerprint divergence). {@link Resumed#pendingApprovals} counts what {@link
 *       ApprovalStore#pending} would list at the resume's now (it may count more, never fewer), or
 *       is {@link Resumed#UNKNOWN} when the engine does not read it.
 *   <li><b>Presence first.</b> The device is online through {@code connection} before the user's
 *       presence is read, so the read includes it.
 *   <li><b>A dead session changes nothing.</b> When {@code sessionId} is set and the session is not
 *       alive for {@code deviceId}, the answer carries only that status ({@link
 *       Resumed#sessionAlive} false): the device is not marked online and nothing else is read.
 *   <li><b>Failure</b> completes the future exceptionally, as the separate calls would; the device
 *       may then be online or not (the entry expires with its TTL). The Redis engine, whose
 *       timed-out script may still run later, marks the connection offline behind it, and hands
 *       that store call to {@link Request#takenBack} before the future fails.
 * </ul>
 *
 * <p>{@link #separately} gives the same answers with the separate calls, for engines that have no
 * faster way.
 */
@FunctionalInterface
public interface ResumeStore {

  CompletableFuture<Resumed> resume(Request request);

  /** The shard of a store that is one whole: every user's resume reads it ({@link #shardOf}). */
  Object ONE_SHARD = "one shard";

  /**
   * The part of the store {@code userId}'s resume reads, as the node's line of resumes keys its
   * state by: resumes of users with equal keys wait on the same server, and while one of them times
   * out the line sends that shard's one at a time, the others' at full width. Few keys in all (a
   * Redis Cluster's masters); {@link #ONE_SHARD} for a store that is one whole (the default). Any
   * thread; no I/O.
   */
  default Object shardOf(String userId) {
    return ONE_SHARD;
  }

  /**
   * Whether {@code shard}, a key {@link #shardOf} gave, is still part of the store: false for a
   * Cluster master that owns no slots now (failed over, though still listed as a failed master;
   * removed; back as a replica), whose state the line then drops. Any thread; no I/O.
   */
  default boolean hasShard(Object shard) {
    return ONE_SHARD.equals(shard);
  }

  /**
   * One device's resume.
   *
   * @param sessionId the device session of the token, or empty for a token without one (no check)
   * @param connection this node's number for the connection, which the device's presence entry
   *     names (see {@link HandoffStore#online})
   * @param instance the connection's Hello instance (0: none), which the entry keeps where several
   *     nodes share it
   * @param presenceTtl how long the presence entry stays online without a refresh
   * @param maxDevices the most presence entries of the user
   * @param sessionInactivityMillis the session is dead once its refresh token was unused this long
   *     (see {@link SessionStore#status(String, String, long)})
   * @param takenBack told, before a failed resume's future fails, of the store call that marks the
   *     connection offline behind it, if the store makes one (its answer: whether the caller is to
   *     tell the user's devices that the device went offline, as after {@link
   *     HandoffStore#offline}; false when the store call tells them itself, as the Redis engine's
   *     does); any thread
   */
  record Request(
      String userId,
      String deviceId,
      String sessionId,
      FollowFilter follow,
      Collection<Position> positions,
      long connection,
      long instance,
      Duration presenceTtl,
      int maxDevices,
      long sessionInactivityMillis,
      Consumer<CompletableFuture<Boolean>> takenBack) {

    /**
     * A request with no inactivity limit on the session and no instance, whose take-back nobody
     * waits for.
     */
    public Request(
        String userId,
        String deviceId,
        String sessionId,
        FollowFilter follow,
        Collection<Position> positions,
        long connection,
        Duration presenceTtl,
        int maxDevices) {
      this(
          userId,
          deviceId,
          sessionId,
          follow,
          positions,
          connection,
          0,
          presenceTtl,
          maxDevices,
          Long.MAX_VALUE,
          f -> {});
    }
  }

  /**
   * What a resume read. {@code session} is null when the request named no session; {@code
   * sessionAlive} is false when it named one that is not alive for the device, and then every other
   * part is empty. {@code ended} is as {@link HandoffStore#recentlyEnded}, except that a store may
   * record the expiry of an offer that passed its deadline with nobody ending it, and return that
   * one as {@link HandoffStore.EndStatus#ENDED}: the node then counts and signals the expiry.
   * {@code pendingApprovals}: how many of the user's new-device sign-in requests were pending at
   * the read, or {@link #UNKNOWN}; zero lets the Welcome skip its read of them (a request made
   * after the read reaches the device by signal).
   */
  record Resumed(
      SessionStore.Status session,
      boolean sessionAlive,
      long lastClientSeq,
      List<SyncResult> documents,
      List<Activity> activities,
      List<Offer> offers,
      List<DevicePresence> presence,
      List<OfferEnd> ended,
      int pendingApprovals) {

    /** {@link #pendingApprovals} not read: the Welcome reads the pending requests itself. */
    public static final int UNKNOWN = -1;

    /** An answer for a session that is not alive for the device: nothing else was done. */
    public static Resumed sessionNotAlive(SessionStore.Status session) {
      return new Resumed(
          session, false, 0, List.of(), List.of(), List.of(), List.of(), List.of(), UNKNOWN);
    }
  }

  /** Whether {@code status} is the live session of {@code deviceId}. */
  static boolean aliveFor(SessionStore.Status status, String deviceId) {
    return status.alive() && deviceId.equals(status.deviceId());
  }

  /** The resume as the separate calls of each store, in the contract's order. */
  static CompletableFuture<Resumed> separately(Engine engine, Request r) {
    CompletableFuture<SessionStore.Status> status =
        r.sessionId().isEmpty()
            ? CompletableFuture.completedFuture(null)
            : engine.sessions().status(r.userId(), r.sessionId(), r.sessionInactivityMillis());
    return status.thenCompose(
        st -> {
          if (st != null && !aliveFor(st, r.deviceId())) {
            return CompletableFuture.completedFuture(Resumed.sessionNotAlive(st));
          }
          DocumentStore docs = engine.store();
          HandoffStore handoff = engine.handoff();
          CompletableFuture<Long> seq = docs.lastClientSeq(r.userId(), r.deviceId());
          CompletableFuture<List<SyncResult>> sync =
              docs.sync(r.userId(), r.follow(), r.positions());
          return handoff
              .online(
                  r.userId(),
                  r.deviceId(),
                  r.connection(),
                  r.instance(),
                  r.presenceTtl(),
                  r.maxDevices())
              .thenCompose(
                  v -> {
                    var a = handoff.activities(r.userId());
                    var o = handoff.liveOffers(r.userId());
                    var p = handoff.presence(r.userId());
                    var e = handoff.recentlyEnded(r.userId());
                    return CompletableFuture.allOf(seq, sync, a, o, p, e)
                        .thenApply(
                            x ->
                                new Resumed(
                                    st,
                                    true,
                                    seq.join(),
                                    sync.join(),
                                    a.join(),
                                    o.join(),
                                    p.join(),
                                    e.join(),
                                    Resumed.UNKNOWN));
                  });
        });
  }
}
