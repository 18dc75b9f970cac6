package io.handoff.server.engine.redis;

import io.handoff.server.devices.ApprovalStore;
import io.handoff.server.util.AddressGroups;
import io.lettuce.core.Range;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.cluster.api.async.RedisClusterAsyncCommands;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * {@link ApprovalStore} on Redis. A request is one hash under a hash tag of its own; claim, decide
 * and poll are one Lua script each on that key, so "exactly once" holds across nodes and on Redis
 * Cluster. The per-address, per-user and store-wide bounds are sorted sets (request id by deadline)
 * reserved by a script before the request is stored, trimmed of expired entries by that script, and
 * released as soon as the request is refused, decided, seen expired or erased: they live in other
 * slots, so a crash between the steps can leave a reservation that counts until its deadline, never
 * one that lets more requests in than the bound.
 *
 * <p>A request is noted in its user's request index ({@code apk}, where {@link #erase} finds it)
 * before it is bound to the user (stored with the user, claimed, or answered unclaimed), never
 * after: a crash between the two leaves an entry naming a request that is no one's (which erasure
 * deletes too) or another user's (which it leaves alone), never a request of the user that erasure
 * cannot find. A claim or an answer notes a code only while its device session is alive and the
 * user is not marked as being erased ({@link #beginErasure}), in the same script (the session's key
 * and the mark share the user's slot), so a code is never bound to a user whose sessions are erased
 * without {@link #erase}, run after them, finding it.
 */
final class RedisApprovalStore implements ApprovalStore {
  private static final String NEW_DEVICE = "new_device";
  // What approval_reserve.lua answers besides 0 (the index is full).
  private static final long RESERVED = 1;
  private static final long TAKEN = -1;

  private final RedisClusterAsyncCommands<byte[], byte[]> redis;
  private final RedisKeys keys;
  private final long erasingMillis;
  private final RedisScript reserveScript = new RedisScript("approval_reserve.lua");
  private final RedisScript putScript = new RedisScript("approval_put.lua");
  private final RedisScript claimScript = new RedisScript("approval_claim.lua");
  private final RedisScript decideScript = new RedisScript("approval_decide.lua");
  private final RedisScript pollScript = new RedisScript("approval_poll.lua");
  private final RedisScript failScript = new RedisScript("attempt_fail.lua");
  private final RedisScript forgiveScript = new RedisScript("attempt_forgive.lua");
  private final RedisScript unconsumeScript = new RedisScript("approval_unconsume.lua");
  private final RedisScript settleScript = new RedisScript("approval_settle.lua");
  private final RedisScript indexScript = new RedisScript("approval_index.lua");
  private final RedisScript eraseScript = new RedisScript("approval_erase.lua");
  private final RedisScript markScript = new RedisScript("erasure_mark.lua");
  private final RedisScript endScript = new RedisScript("erasure_end.lua");
  private final RedisScript approvableScript = new RedisScript("approval_approvable.lua");

  /** {@code erasureMark}: the longest an erasure's mark holds ({@link #beginErasure}). */
  RedisApprovalStore(
      RedisClusterAsyncCommands<byte[], byte[]> redis,
      RedisKeys keys,
      java.time.Duration erasureMark) {
    this.redis = redis;
    this.keys = keys;
    this.erasingMillis = erasureMark.toMillis();
  }

  /**
   * Reserves the request's place from its address, then its user's (for a request made with a
   * user), then the store's as a whole, then stores it; a refusal at any step gives back the places
   * taken before it. An id found in an index already belongs to a pending request (a user-code
   * collision): it is {@code ID_TAKEN} at once, and that request's places are left alone.
   */
  @Override
  public CompletableFuture<Created> create(Request r, Bounds bounds) {
    long ttl = r.expiresMillis() - r.createdMillis() + RETAIN_MILLIS;
    byte[] address = keys.approvalsOfAddress(r.addressGroup());
    boolean byUser = !r.userId().isEmpty();
    byte[] user = byUser ? keys.approvalsOfUser(r.userId()) : null;
    byte[] all = keys.approvalsPending();
    return reserve(address, r, bounds.perAddress(), ttl)
        .thenCompose(
            inAddress -> {
              if (inAddress != RESERVED) {
                return CompletableFuture.completedFuture(refused(inAddress, Created.ADDRESS_LIMIT));
              }
              CompletableFuture<Long> inUser =
                  byUser
                      ? reserve(user, r, bounds.perUser(), ttl)
                      : CompletableFuture.completedFuture(RESERVED);
              return inUser.thenCompose(
                  u -> {
                    if (u != RESERVED) {
                      return release(r, address).thenApply(v -> refused(u, Created.USER_LIMIT));
                    }
                    return reserve(all, r, bounds.total(), ttl)
                        .thenCompose(
                            a ->
                                a == RESERVED
                                    ? put(r, ttl, address, user, all)
                                    : release(r, address, user)
                                        .thenApply(v -> refused(a, Created.FULL)));
                  });
            });
  }

  private static Created refused(long reserved, Created full) {
    return reserved == TAKEN ? Created.ID_TAKEN : full;
  }

  private CompletableFuture<Created> put(
      Request r, long ttl, byte[] address, byte[] user, byte[] all) {
    return indexed(r.id(), r.expiresMillis(), r.userId(), "", r.createdMillis())
        .thenCompose(
            v ->
                putScript.<Long>eval(
                    redis,
                    ScriptOutputType.INTEGER,
                    new byte[][] {keys.approval(r.id())},
                    fields(r, ttl)))
        .thenCompose(
            stored ->
                stored == 1
                    ? CompletableFuture.completedFuture(Created.CREATED)
                    : release(r, address, user, all).thenApply(v -> Created.ID_TAKEN));
  }

  /** {@link #RESERVED}, 0 (full) or {@link #TAKEN}: see approval_reserve.lua. */
  private CompletableFuture<Long> reserve(byte[] index, Request r, int max, long ttl) {
    return reserveScript.eval(
        redis,
        ScriptOutputType.INTEGER,
        new byte[][] {index},
        utf8(r.id()),
        utf8(Long.toString(r.expiresMillis())),
        utf8(Long.toString(r.createdMillis())),
        utf8(Integer.toString(max)),
        utf8(Long.toString(ttl)));
  }

  /** Gives back the request's places in the given indexes (null: none taken there). */
  private CompletableFuture<Void> release(Request r, byte[]... indexes) {
    List<CompletableFuture<Long>> steps = new ArrayList<>();
    for (byte[] index : indexes) {
      if (index != null) {
        steps.add(redis.zrem(index, utf8(r.id())).toCompletableFuture());
      }
    }
    return CompletableFuture.allOf(steps.toArray(new CompletableFuture<?>[0]));
  }

  /** Once a request stops being pending it stops counting against its address, user and store. */
  private CompletableFuture<Void> released(Request r) {
    if (r == null) {
      return CompletableFuture.completedFuture(null);
    }
    return release(
        r,
        keys.approvalsOfAddress(r.addressGroup()),
        NEW_DEVICE.equals(r.kind()) && !r.userId().isEmpty()
            ? keys.approvalsOfUser(r.userId())
            : null,
        keys.approvalsPending());
  }

  @Override
  public CompletableFuture<Request> claim(String id, String userId, String sessionId, long now) {
    return claim(id, userId, sessionId, now, false);
  }

  private CompletableFuture<Request> claim(
      String id, String userId, String sessionId, long now, boolean indexed) {
    return claimScript
        .<List<Object>>eval(
            redis,
            ScriptOutputType.MULTI,
            new byte[][] {keys.approval(id)},
            utf8(userId),
            utf8(Long.toString(now)),
            utf8(indexed ? "1" : "0"))
        .thenCompose(
            r -> {
              if (!indexed && unbound(r)) {
                return indexed(id, Long.parseLong(str(r.get(1))), userId, sessionId, now)
                    .thenCompose(
                        noted ->
                            noted
                                ? claim(id, userId, sessionId, now, true)
                                : CompletableFuture.completedFuture(null));
              }
              return CompletableFuture.completedFuture(r.isEmpty() ? null : request(id, r, 0));
            });
  }

  /**
   * What approval_claim.lua and approval_decide.lua answer for a request bound to no one yet that
   * the caller has not said is in the user's index: {@code UNBOUND} and the request's deadline.
   */
  private static boolean unbound(List<Object> r) {
    return r.size() == 2 && "UNBOUND".equals(str(r.get(0)));
  }

  /**
   * Notes request {@code id} in its user's index, where {@link #erase} finds it, while the device
   * session {@code sessionId} of the user is alive (checked in the same script: the session's key
   * shares the user's slot; empty: no session to check). Completes with false, noting nothing, when
   * that session is gone.
   */
  private CompletableFuture<Boolean> indexed(
      String id, long expiresMillis, String userId, String sessionId, long now) {
    if (userId.isEmpty()) {
      return CompletableFuture.completedFuture(true);
    }
    byte[][] k =
        sessionId.isEmpty()
            ? new byte[][] {keys.requestsOfUser(userId)}
            : new byte[][] {
              keys.requestsOfUser(userId), keys.session(userId, sessionId), keys.erasing(userId)
            };
    return indexScript
        .<Long>eval(
            redis,
            ScriptOutputType.INTEGER,
            k,
            utf8(id),
            utf8(Long.toString(expiresMillis + RETAIN_MILLIS)),
            utf8(Long.toString(now)))
        .thenApply(n -> n == 1);
  }

  /**
   * Deletes every request in the user's index that is the user's or no one's (each its own key, so
   * one call each; one another user won is left alone) and frees its places in its address's bound
   * and the store's at once, then the index entries it read (not the index: an entry noted
   * meanwhile stays for the erasure's next pass, {@link io.handoff.server.engine.Engine#erase}),
   * the user's pending set and attempt counter.
   */
  @Override
  public CompletableFuture<Void> erase(String userId) {
    byte[] index = keys.requestsOfUser(userId);
    byte[] all = keys.approvalsPending();
    return redis
        .zrange(index, 0, -1)
        .toCompletableFuture()
        .thenCompose(
            ids -> {
              List<CompletableFuture<?>> steps = new ArrayList<>();
              for (byte[] raw : ids) {
                String id = str(raw);
                byte[] key = keys.approval(id);
                steps.add(
                    eraseScript
                        .<byte[]>eval(
                            redis, ScriptOutputType.VALUE, new byte[][] {key}, utf8(userId))
                        .thenCompose(
                            addr ->
                                addr == null
                                    ? CompletableFuture.completedFuture(0L)
                                    : redis
                                        .zrem(
                                            keys.approvalsOfAddress(AddressGroups.of(str(addr))),
                                            raw)
                                        .toCompletableFuture()
                                        .thenCompose(
                                            n -> redis.zrem(all, raw).toCompletableFuture())));
              }
              steps.add(redis.del(keys.approvalsOfUser(userId)).toCompletableFuture());
              steps.add(
                  redis.del(keys.attempts(ApprovalStore.userScope(userId))).toCompletableFuture());
              steps.add(redis.del(keys.userAttemptsOfOldReleases(userId)).toCompletableFuture());
              return CompletableFuture.allOf(steps.toArray(new CompletableFuture<?>[0]))
                  .thenApply(v -> ids);
            })
        .thenCompose(
            ids ->
                ids.isEmpty()
                    ? CompletableFuture.completedFuture(0L)
                    : redis.zrem(index, ids.toArray(new byte[0][])).toCompletableFuture())
        .thenApply(n -> (Void) null);
  }

  /** Every key of a request expires by itself. */
  @Override
  public CompletableFuture<Void> sweep(java.time.Instant now) {
    return CompletableFuture.completedFuture(null);
  }

  @Override
  public CompletableFuture<Decision> decide(
      String id, String userId, String byDevice, String sessionId, boolean approve, long now) {
    return decide(id, userId, byDevice, sessionId, approve, now, false);
  }

  private CompletableFuture<Decision> decide(
      String id,
      String userId,
      String byDevice,
      String sessionId,
      boolean approve,
      long now,
      boolean indexed) {
    return decideScript
        .<List<Object>>eval(
            redis,
            ScriptOutputType.MULTI,
            new byte[][] {keys.approval(id)},
            utf8(userId),
            utf8(byDevice),
            utf8(approve ? "1" : "0"),
            utf8(Long.toString(now)),
            utf8(indexed ? "1" : "0"))
        .thenCompose(
            r -> {
              if (!indexed && unbound(r)) {
                // Answered without a claim first: bound to the user by this answer, so noted in
                // the user's index first, as for a claim, or erasing the user could leave it (an
                // approved code still giving a session).
                return indexed(id, Long.parseLong(str(r.get(1))), userId, sessionId, now)
                    .thenCompose(
                        noted ->
                            noted
                                ? decide(id, userId, byDevice, sessionId, approve, now, true)
                                : CompletableFuture.completedFuture(
                                    new Decision(Decision.Status.SESSION_GONE, null, false)));
              }
              Decision.Status status = Decision.Status.valueOf(str(r.get(0)));
              Request req = r.size() > 3 ? request(id, r, 3) : null;
              Decision d = new Decision(status, req, "1".equals(str(r.get(1))));
              if (status == Decision.Status.DECIDED || d.firstSeenExpired()) {
                return released(req).handle((x, err) -> d);
              }
              return CompletableFuture.completedFuture(d);
            });
  }

  @Override
  public CompletableFuture<Poll> poll(String id, String secretHash, long now) {
    return pollScript
        .<List<Object>>eval(
            redis,
            ScriptOutputType.MULTI,
            new byte[][] {keys.approval(id)},
            utf8(secretHash),
            utf8(Long.toString(now)),
            utf8(Long.toString(SLOW_DOWN_STEP_MILLIS)),
            utf8(Long.toString(CONSUME_LEASE_MILLIS)))
        .thenCompose(
            r -> {
              Poll.Status status = Poll.Status.valueOf(str(r.get(0)));
              Request req = r.size() > 2 ? request(id, r, 2) : null;
              Poll p = new Poll(status, req, "1".equals(str(r.get(1))));
              if (p.firstSeenExpired()) {
                return released(req).handle((v, err) -> p);
              }
              return CompletableFuture.completedFuture(p);
            });
  }

  @Override
  public CompletableFuture<Boolean> unconsume(String id, String secretHash) {
    return unconsumeScript
        .<Long>eval(
            redis, ScriptOutputType.INTEGER, new byte[][] {keys.approval(id)}, utf8(secretHash))
        .thenApply(n -> n == 1L);
  }

  @Override
  public CompletableFuture<Boolean> settle(String id, String secretHash) {
    return settleScript
        .<Long>eval(
            redis, ScriptOutputType.INTEGER, new byte[][] {keys.approval(id)}, utf8(secretHash))
        .thenApply(n -> n == 1L);
  }

  @Override
  public CompletableFuture<List<Request>> pending(String userId, long now) {
    return redis
        .zrangebyscore(
            keys.approvalsOfUser(userId), Range.create((double) now + 1, Double.POSITIVE_INFINITY))
        .toCompletableFuture()
        .thenCompose(
            ids -> {
              List<CompletableFuture<Map<byte[], byte[]>>> reads = new ArrayList<>();
              for (byte[] id : ids) {
                reads.add(redis.hgetall(keys.approval(str(id))).toCompletableFuture());
              }
              return CompletableFuture.allOf(reads.toArray(new CompletableFuture<?>[0]))
                  .thenApply(
                      v -> {
                        List<Request> out = new ArrayList<>();
                        for (int i = 0; i < reads.size(); i++) {
                          Map<byte[], byte[]> raw = reads.get(i).join();
                          if (raw == null || raw.isEmpty()) {
                            continue;
                          }
                          List<Object> flat = new ArrayList<>();
                          raw.forEach(
                              (k, val) -> {
                                flat.add(k);
                                flat.add(val);
                              });
                          Request r = request(str(ids.get(i)), flat, 0);
                          if (r.state() == State.PENDING
                              && r.expiresMillis() > now
                              && r.userId().equals(userId)) {
                            out.add(r);
                          }
                        }
                        out.sort(
                            Comparator.comparingLong(Request::createdMillis)
                                .thenComparing(Request::id));
                        return out;
                      });
            });
  }

  @Override
  public CompletableFuture<Long> failures(String scope, long now) {
    return redis
        .get(keys.attempts(scope))
        .toCompletableFuture()
        .thenApply(v -> v == null ? 0L : Long.parseLong(str(v)));
  }

  @Override
  public CompletableFuture<Long> fail(String scope, long windowMillis, long now) {
    return failScript.eval(
        redis,
        ScriptOutputType.INTEGER,
        new byte[][] {keys.attempts(scope)},
        utf8(Long.toString(windowMillis)));
  }

  @Override
  public CompletableFuture<Long> failBySession(
      String userId, String sessionId, long windowMillis, long now) {
    if (sessionId.isEmpty()) {
      return fail(ApprovalStore.userScope(userId), windowMillis, now);
    }
    return failScript.eval(
        redis,
        ScriptOutputType.INTEGER,
        new byte[][] {
          keys.attempts(ApprovalStore.userScope(userId)),
          keys.erasing(userId),
          keys.session(userId, sessionId)
        },
        utf8(Long.toString(windowMillis)));
  }

  @Override
  public CompletableFuture<Approvable> approvable(String userId, String deviceId) {
    return approvableScript
        .<Long>eval(
            redis,
            ScriptOutputType.INTEGER,
            new byte[][] {keys.deviceSessions(userId), keys.erasing(userId)},
            utf8(deviceId))
        .thenApply(
            n -> n == 1L ? Approvable.YES : n == 2L ? Approvable.ERASING : Approvable.NO_APPROVER);
  }

  @Override
  public CompletableFuture<Void> withdraw(Request r) {
    byte[] id = utf8(r.id());
    return eraseScript
        .<byte[]>eval(
            redis, ScriptOutputType.VALUE, new byte[][] {keys.approval(r.id())}, utf8(r.userId()))
        .thenCompose(addr -> released(r))
        .thenCompose(v -> redis.zrem(keys.requestsOfUser(r.userId()), id).toCompletableFuture())
        .thenApply(n -> (Void) null);
  }

  @Override
  public CompletableFuture<Void> beginErasure(String userId, String erasureId) {
    return markScript
        .<Long>eval(
            redis,
            ScriptOutputType.INTEGER,
            new byte[][] {keys.erasing(userId)},
            utf8(erasureId),
            utf8(Long.toString(erasingMillis)))
        .thenApply(n -> (Void) null);
  }

  @Override
  public CompletableFuture<Boolean> endErasure(String userId, String erasureId) {
    return endScript
        .<Long>eval(
            redis, ScriptOutputType.INTEGER, new byte[][] {keys.erasing(userId)}, utf8(erasureId))
        .thenApply(n -> n == 1L);
  }

  @Override
  public CompletableFuture<Long> forgive(String scope, long now) {
    return forgiveScript.eval(redis, ScriptOutputType.INTEGER, new byte[][] {keys.attempts(scope)});
  }

  private static byte[][] fields(Request r, long ttl) {
    String[] kv = {
      Long.toString(ttl),
      "kind",
      r.kind(),
      "user",
      r.userId(),
      "did",
      r.deviceId(),
      "name",
      r.name(),
      "platform",
      r.platform(),
      "addr",
      r.address(),
      "created",
      Long.toString(r.createdMillis()),
      "expires",
      Long.toString(r.expiresMillis()),
      "interval",
      Long.toString(r.intervalMillis()),
      "secret",
      r.secretHash(),
      "state",
      r.state().name(),
      "by",
      r.byDevice(),
      "decided",
      Long.toString(r.decidedMillis())
    };
    byte[][] out = new byte[kv.length][];
    for (int i = 0; i < kv.length; i++) {
      out[i] = utf8(kv[i]);
    }
    return out;
  }

  private static Request request(String id, List<Object> flat, int from) {
    Map<String, String> h = new HashMap<>();
    for (int i = from; i + 1 < flat.size(); i += 2) {
      h.put(str(flat.get(i)), str(flat.get(i + 1)));
    }
    return new Request(
        id,
        h.getOrDefault("kind", ""),
        h.getOrDefault("user", ""),
        h.getOrDefault("did", ""),
        h.getOrDefault("name", ""),
        h.getOrDefault("platform", ""),
        h.getOrDefault("addr", ""),
        Long.parseLong(h.getOrDefault("created", "0")),
        Long.parseLong(h.getOrDefault("expires", "0")),
        Long.parseLong(h.getOrDefault("interval", "0")),
        h.getOrDefault("secret", ""),
        State.valueOf(h.getOrDefault("state", "EXPIRED")),
        h.getOrDefault("by", ""),
        Long.parseLong(h.getOrDefault("decided", "0")));
  }

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private static String str(Object bytes) {
    return new String((byte[]) bytes, StandardCharsets.UTF_8);
  }
}
