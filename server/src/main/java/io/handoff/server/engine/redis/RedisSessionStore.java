package io.handoff.server.engine.redis;

import io.handoff.server.devices.SessionStore;
import io.handoff.server.engine.StoreLimits;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.cluster.api.async.RedisClusterAsyncCommands;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * {@link SessionStore} on Redis. Every change runs as one Lua script on the user's keys (all under
 * the user's hash tag, see {@link RedisKeys}), so rotation and reuse detection are atomic across
 * nodes. Idle expiry: every key's TTL is the idle TTL, refreshed when the session is seen; the
 * scripts also compare "seen" with the engine's clock, so expiry holds to the millisecond and tests
 * can move the clock.
 */
final class RedisSessionStore implements SessionStore {
  static final int MAX_OLD_HASHES = 16;

  private final RedisClusterAsyncCommands<byte[], byte[]> redis;
  private final RedisKeys keys;
  private final StoreLimits limits;
  private final Clock clock;
  private final RedisScript createScript = new RedisScript("session_create.lua");
  private final RedisScript rotateScript = new RedisScript("session_rotate.lua");
  private final RedisScript revokeScript = new RedisScript("session_revoke.lua");
  private final RedisScript seenScript = new RedisScript("session_seen.lua");
  private final RedisScript eraseScript = new RedisScript("erase_sessions.lua");

  RedisSessionStore(
      RedisClusterAsyncCommands<byte[], byte[]> redis,
      RedisKeys keys,
      StoreLimits limits,
      Clock clock) {
    this.redis = redis;
    this.keys = keys;
    this.limits = limits;
    this.clock = clock;
  }

  private String idleMillis() {
    return Long.toString(limits.idleTtl().toMillis());
  }

  @Override
  public CompletableFuture<Created> create(
      String userId,
      String sessionId,
      String deviceId,
      String name,
      String platform,
      byte[] refreshHash,
      long inactivityMillis) {
    byte[][] k = {
      keys.deviceSessions(userId),
      keys.tombstones(userId),
      keys.session(userId, sessionId),
      keys.splitGuard(userId)
    };
    return createScript
        .<List<Object>>eval(
            redis,
            ScriptOutputType.MULTI,
            k,
            utf8(sessionId),
            utf8(deviceId),
            utf8(name),
            utf8(platform),
            hex(refreshHash),
            utf8(Long.toString(clock.millis())),
            utf8(Integer.toString(limits.maxDevicesPerUser())),
            utf8(idleMillis()),
            utf8(Long.toString(inactivityMillis)))
        .thenApply(
            r -> {
              String replaced = str(r.get(2));
              return new Created(
                  (Long) r.get(0) == 1,
                  ((Long) r.get(1)).intValue(),
                  replaced.isEmpty() ? null : replaced);
            });
  }

  @Override
  public CompletableFuture<Rotation> rotate(
      String userId,
      String sessionId,
      byte[] presented,
      byte[] newHash,
      byte[] sealedNew,
      long inactivityMillis,
      long reuseIntervalMillis) {
    byte[][] k = {
      keys.session(userId, sessionId),
      keys.rotatedOut(userId, sessionId),
      keys.deviceSessions(userId),
      keys.tombstones(userId)
    };
    return rotateScript
        .<List<Object>>eval(
            redis,
            ScriptOutputType.MULTI,
            k,
            hex(presented),
            hex(newHash),
            utf8(Long.toString(clock.millis())),
            utf8(Long.toString(inactivityMillis)),
            utf8(idleMillis()),
            utf8(Integer.toString(MAX_OLD_HASHES)),
            utf8(sessionId),
            hex(sealedNew),
            utf8(Long.toString(reuseIntervalMillis)))
        .thenApply(
            r -> {
              String did = str(r.get(1));
              byte[] sealed =
                  r.size() > 2 ? java.util.HexFormat.of().parseHex(str(r.get(2))) : null;
              return new Rotation(
                  Rotation.Outcome.valueOf(str(r.get(0))), did.isEmpty() ? null : did, sealed);
            });
  }

  @Override
  public CompletableFuture<Status> status(String userId, String sessionId, long inactivityMillis) {
    return redis
        .hmget(keys.session(userId, sessionId), utf8("did"), utf8("rev"), utf8("seen"), utf8("rat"))
        .toCompletableFuture()
        .thenApply(
            values -> {
              if (!values.get(0).hasValue() || !values.get(2).hasValue()) {
                return new Status(false, false, null);
              }
              long now = clock.millis();
              long seen = Long.parseLong(str(values.get(2).getValue()));
              if (now - seen >= limits.idleTtl().toMillis()) {
                return new Status(false, false, null);
              }
              boolean revoked =
                  values.get(1).hasValue() && "1".equals(str(values.get(1).getValue()));
              if (!revoked
                  && values.get(3).hasValue()
                  && now - Long.parseLong(str(values.get(3).getValue())) > inactivityMillis) {
                return new Status(false, false, null); // Dead of inactivity: gone, not revoked.
              }
              return new Status(!revoked, revoked, str(values.get(0).getValue()));
            });
  }

  @Override
  public CompletableFuture<Void> seen(
      String userId, String sessionId, String node, boolean connected) {
    byte[][] k = {
      keys.session(userId, sessionId),
      keys.deviceSessions(userId),
      keys.rotatedOut(userId, sessionId)
    };
    return seenScript
        .<Long>eval(
            redis,
            ScriptOutputType.INTEGER,
            k,
            utf8(Long.toString(clock.millis())),
            utf8(node),
            utf8(connected ? "1" : "0"),
            utf8(idleMillis()))
        .thenApply(r -> null);
  }

  @Override
  public CompletableFuture<List<DeviceSession>> list(String userId, long inactivityMillis) {
    return redis
        .hgetall(keys.deviceSessions(userId))
        .toCompletableFuture()
        .thenCompose(
            devices -> {
              List<CompletableFuture<Map<byte[], byte[]>>> reads = new ArrayList<>();
              List<String> sids = new ArrayList<>();
              for (byte[] sid : devices.values()) {
                sids.add(str(sid));
                reads.add(redis.hgetall(keys.session(userId, str(sid))).toCompletableFuture());
              }
              return CompletableFuture.allOf(reads.toArray(new CompletableFuture<?>[0]))
                  .thenApply(
                      v -> {
                        long now = clock.millis();
                        List<DeviceSession> out = new ArrayList<>();
                        for (int i = 0; i < reads.size(); i++) {
                          DeviceSession d =
                              session(sids.get(i), reads.get(i).join(), now, inactivityMillis);
                          if (d != null) {
                            out.add(d);
                          }
                        }
                        out.sort(
                            Comparator.comparingLong(DeviceSession::createdMillis)
                                .thenComparing(DeviceSession::deviceId));
                        return out;
                      });
            });
  }

  private DeviceSession session(
      String sid, Map<byte[], byte[]> raw, long now, long inactivityMillis) {
    if (raw == null || raw.isEmpty()) {
      return null;
    }
    java.util.HashMap<String, String> h = new java.util.HashMap<>();
    raw.forEach((key, value) -> h.put(str(key), str(value)));
    if ("1".equals(h.get("rev")) || h.get("seen") == null) {
      return null;
    }
    long seen = Long.parseLong(h.get("seen"));
    if (now - seen >= limits.idleTtl().toMillis()) {
      return null;
    }
    String refreshedAt = h.get("rat");
    if (refreshedAt != null && now - Long.parseLong(refreshedAt) > inactivityMillis) {
      return null; // Its refresh token is dead of inactivity, as rotate would find it.
    }
    return new DeviceSession(
        sid,
        h.getOrDefault("did", ""),
        h.getOrDefault("name", ""),
        h.getOrDefault("platform", ""),
        Long.parseLong(h.getOrDefault("created", "0")),
        seen,
        h.getOrDefault("node", ""));
  }

  @Override
  public CompletableFuture<List<String>> revoke(String userId, String deviceId, boolean allOthers) {
    byte[][] k = {keys.deviceSessions(userId), keys.tombstones(userId), keys.splitGuard(userId)};
    return revokeScript
        .<List<Object>>eval(
            redis,
            ScriptOutputType.MULTI,
            k,
            utf8(deviceId),
            utf8(allOthers ? "1" : "0"),
            utf8(Long.toString(clock.millis())),
            utf8(idleMillis()))
        .thenApply(
            r -> {
              List<String> out = new ArrayList<>();
              for (Object o : r) {
                out.add(str(o));
              }
              return out;
            });
  }

  @Override
  public CompletableFuture<Void> erase(String userId) {
    return eraseScript
        .<Long>eval(
            redis,
            ScriptOutputType.INTEGER,
            keys.deviceSessions(userId),
            keys.tombstones(userId),
            keys.splitGuard(userId))
        .thenApply(r -> null);
  }

  /** Nothing to do: Redis expires each user's keys after the idle TTL by itself. */
  @Override
  public CompletableFuture<Void> sweep(Instant now) {
    return CompletableFuture.completedFuture(null);
  }

  private static byte[] hex(byte[] hash) {
    return utf8(java.util.HexFormat.of().formatHex(hash));
  }

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private static String str(Object bytes) {
    return new String((byte[]) bytes, StandardCharsets.UTF_8);
  }
}
