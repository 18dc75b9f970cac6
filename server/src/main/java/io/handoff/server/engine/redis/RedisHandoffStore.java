package io.handoff.server.engine.redis;

import com.google.protobuf.InvalidProtocolBufferException;
import io.handoff.protocol.bus.v1.PresenceChanged;
import io.handoff.protocol.bus.v1.UserSignal;
import io.handoff.protocol.v1.Activity;
import io.handoff.protocol.v1.DevicePresence;
import io.handoff.protocol.v1.Offer;
import io.handoff.protocol.v1.OfferOutcome;
import io.handoff.server.handoff.HandoffStore;
import io.lettuce.core.Range;
import io.lettuce.core.RedisCommandTimeoutException;
import io.lettuce.core.RedisNoScriptException;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.cluster.api.async.RedisClusterAsyncCommands;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.internal.ThreadExecutorMap;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.RejectedExecutionException;

/**
 * {@link HandoffStore} in Redis, on the document store's connection. Ending an offer is one Lua
 * script ({@code offer_end.lua}) that checks the state, the deadline and the device's right and
 * flips the state in one step, so of concurrent accepts from any nodes exactly one wins. Offer
 * creation (with the live-offer bound) and presence changes are scripts too. Deadlines are stored
 * and compared with this node's clock; key expiry (PEXPIRE) only reclaims memory.
 */
final class RedisHandoffStore implements HandoffStore {
  private final RedisClusterAsyncCommands<byte[], byte[]> redis;
  private final RedisKeys keys;
  private final Clock clock;
  private final ConnectionNames connections;
  private final Script put = new Script("activity_put.lua");
  private final Script create = new Script("offer_create.lua");
  private final Script end = new Script("offer_end.lua");
  private final Script presence = new Script("presence.lua");
  private final Script keep = new Script("presence_keep.lua");
  private final RedisScript eraseScript = new RedisScript("erase_handoff.lua");

  RedisHandoffStore(
      RedisClusterAsyncCommands<byte[], byte[]> redis,
      RedisKeys keys,
      Clock clock,
      ConnectionNames connections) {
    this.redis = redis;
    this.keys = keys;
    this.clock = clock;
    this.connections = connections;
  }

  @Override
  public Clock clock() {
    return clock;
  }

  @Override
  public CompletableFuture<Void> putActivity(
      String userId, Activity activity, Duration retention, int maxDevices) {
    byte[] key = keys.activities(userId);
    byte[][] argv = {
      utf8(activity.getDeviceId()),
      activity.toByteArray(),
      utf8(Long.toString(retention.toMillis()))
    };
    return eval(put, ScriptOutputType.INTEGER, new byte[][] {key}, argv)
        .thenCompose(
            n ->
                (Long) n <= maxDevices
                    ? CompletableFuture.completedFuture(null)
                    : trim(key, maxDevices));
  }

  /**
   * Drops the least recently updated activities beyond {@code maxDevices}. Not atomic with the put
   * before it: two puts at once may both trim, which drops at most an old activity more.
   */
  private CompletableFuture<Void> trim(byte[] key, int maxDevices) {
    return redis
        .hgetall(key)
        .toCompletableFuture()
        .thenCompose(
            all -> {
              if (all.size() <= maxDevices) {
                return CompletableFuture.completedFuture(null);
              }
              List<Map.Entry<byte[], byte[]>> entries = new ArrayList<>(all.entrySet());
              entries.sort(
                  java.util.Comparator.comparingLong(
                      e -> parseActivity(e.getValue()).getUpdatedMs()));
              byte[][] gone = new byte[entries.size() - maxDevices][];
              for (int i = 0; i < gone.length; i++) {
                gone[i] = entries.get(i).getKey();
              }
              return redis.hdel(key, gone).toCompletableFuture().thenApply(x -> (Void) null);
            });
  }

  @Override
  public CompletableFuture<Void> clearActivity(String userId, String deviceId) {
    return redis
        .hdel(keys.activities(userId), utf8(deviceId))
        .toCompletableFuture()
        .thenApply(n -> null);
  }

  @Override
  public CompletableFuture<List<Activity>> activities(String userId) {
    return redis
        .hgetall(keys.activities(userId))
        .toCompletableFuture()
        .thenApply(
            all -> {
              List<Activity> out = new ArrayList<>(all.size());
              for (byte[] v : all.values()) {
                out.add(parseActivity(v));
              }
              return out;
            });
  }

  @Override
  public CompletableFuture<Creation> createOffer(String userId, Offer offer, int maxLive) {
    long now = clock.millis();
    long lifetime = Math.max(1, offer.getExpiresMs() - now) + ENDED_RETENTION.toMillis();
    byte[][] k = {
      keys.offer(userId, offer.getOfferId()),
      keys.liveOffers(userId),
      keys.endedOffers(userId),
      keys.splitGuard(userId)
    };
    byte[][] argv = {
      utf8(offer.getOfferId()),
      offer.toByteArray(),
      utf8(Long.toString(now)),
      utf8(Long.toString(offer.getExpiresMs())),
      utf8(Integer.toString(maxLive)),
      utf8(offer.getFromDevice()),
      utf8(offer.getTargetDevice()),
      utf8(Long.toString(lifetime)),
      utf8(Long.toString(ENDED_RETENTION.toMillis())),
      utf8(Integer.toString(MAX_RECENTLY_ENDED))
    };
    return eval(create, ScriptOutputType.MULTI, k, argv)
        .thenApply(
            r -> {
              List<?> l = (List<?>) r;
              return switch (((Long) l.get(0)).intValue()) {
                case 1 -> new Creation(Made.CREATED, offer);
                case 2 -> new Creation(Made.EXISTS, parseOffer((byte[]) l.get(1)));
                default -> new Creation(Made.TOO_MANY, null);
              };
            });
  }

  @Override
  public CompletableFuture<List<Offer>> liveOffers(String userId) {
    long now = clock.millis();
    return redis
        .zrangebyscore(keys.liveOffers(userId), Range.create((double) now + 1, Double.MAX_VALUE))
        .toCompletableFuture()
        .thenCompose(
            ids -> {
              List<CompletableFuture<List<io.lettuce.core.KeyValue<byte[], byte[]>>>> reads =
                  new ArrayList<>();
              for (byte[] id : ids) {
                reads.add(
                    redis
                        .hmget(keys.offer(userId, str(id)), utf8("o"), utf8("st"))
                        .toCompletableFuture());
              }
              return CompletableFuture.allOf(reads.toArray(new CompletableFuture<?>[0]))
                  .thenApply(
                      v -> {
                        List<Offer> out = new ArrayList<>();
                        for (var f : reads) {
                          var fields = f.join();
                          if (fields.get(0).hasValue()
                              && fields.get(1).hasValue()
                              && str(fields.get(1).getValue()).equals("0")) {
                            Offer o = parseOffer(fields.get(0).getValue());
                            if (o.getExpiresMs() > now) {
                              out.add(o);
                            }
                          }
                        }
                        return out;
                      });
            });
  }

  @Override
  public CompletableFuture<OfferEnd> endOffer(
      String userId, String offerId, String deviceId, OfferOutcome outcome) {
    byte[][] k = {
      keys.offer(userId, offerId),
      keys.liveOffers(userId),
      keys.endedOffers(userId),
      keys.splitGuard(userId)
    };
    byte[][] argv = {
      utf8(offerId),
      utf8(deviceId),
      utf8(Integer.toString(outcome.getNumber())),
      utf8(Long.toString(clock.millis())),
      utf8(Long.toString(ENDED_RETENTION.toMillis())),
      utf8(Integer.toString(MAX_RECENTLY_ENDED))
    };
    return eval(end, ScriptOutputType.MULTI, k, argv)
        .thenApply(
            r -> {
              @SuppressWarnings("unchecked")
              List<Object> l = (List<Object>) r;
              String kind = str(l.get(0));
              if (kind.equals("notfound")) {
                return OfferEnd.notFound();
              }
              Offer offer = parseOffer((byte[]) l.get(1));
              return switch (kind) {
                case "early" -> new OfferEnd(EndStatus.NOT_YET_EXPIRED, offer, outcome, "", 0);
                case "denied" -> new OfferEnd(EndStatus.NOT_PERMITTED, offer, outcome, deviceId, 0);
                case "ended", "ok" ->
                    new OfferEnd(
                        kind.equals("ok") ? EndStatus.ENDED : EndStatus.ALREADY_ENDED,
                        offer,
                        OfferOutcome.forNumber(((Long) l.get(2)).intValue()),
                        str(l.get(3)),
                        (Long) l.get(4));
                default -> throw new IllegalStateException("unexpected script reply " + kind);
              };
            });
  }

  @Override
  public CompletableFuture<List<OfferEnd>> recentlyEnded(String userId) {
    long now = clock.millis();
    CompletableFuture<List<byte[]>> ended =
        redis
            .zrangebyscore(
                keys.endedOffers(userId),
                Range.from(
                    Range.Boundary.excluding((double) now - ENDED_RETENTION.toMillis()),
                    Range.Boundary.unbounded()))
            .toCompletableFuture();
    CompletableFuture<List<byte[]>> expired =
        redis
            .zrangebyscore(
                keys.liveOffers(userId),
                Range.from(
                    Range.Boundary.excluding((double) now - ENDED_RETENTION.toMillis()),
                    Range.Boundary.including((double) now)))
            .toCompletableFuture();
    return ended
        .thenCombine(
            expired,
            (a, b) -> {
              List<byte[]> ids = new ArrayList<>(a);
              ids.addAll(b);
              return ids;
            })
        .thenCompose(
            ids -> {
              List<CompletableFuture<List<io.lettuce.core.KeyValue<byte[], byte[]>>>> reads =
                  new ArrayList<>();
              for (byte[] id :
                  ids.subList(Math.max(0, ids.size() - MAX_RECENTLY_ENDED), ids.size())) {
                reads.add(
                    redis
                        .hmget(
                            keys.offer(userId, str(id)),
                            utf8("o"),
                            utf8("st"),
                            utf8("by"),
                            utf8("end"))
                        .toCompletableFuture());
              }
              return CompletableFuture.allOf(reads.toArray(new CompletableFuture<?>[0]))
                  .thenApply(
                      v -> {
                        List<OfferEnd> out = new ArrayList<>();
                        for (var f : reads) {
                          var fields = f.join();
                          if (!fields.get(0).hasValue() || !fields.get(1).hasValue()) {
                            continue;
                          }
                          Offer o = parseOffer(fields.get(0).getValue());
                          int st = Integer.parseInt(str(fields.get(1).getValue()));
                          if (st == 0 && o.getExpiresMs() <= now) {
                            out.add(
                                new OfferEnd(
                                    EndStatus.ALREADY_ENDED,
                                    o,
                                    OfferOutcome.EXPIRED,
                                    "",
                                    o.getExpiresMs()));
                          } else if (st != 0) {
                            out.add(
                                new OfferEnd(
                                    EndStatus.ALREADY_ENDED,
                                    o,
                                    OfferOutcome.forNumber(st),
                                    str(fields.get(2).getValue()),
                                    Long.parseLong(str(fields.get(3).getValue()))));
                          }
                        }
                        return out;
                      });
            });
  }

  @Override
  public CompletableFuture<Void> online(
      String userId,
      String deviceId,
      long connection,
      long instance,
      Duration ttl,
      int maxDevices) {
    long now = clock.millis();
    byte[][] argv = {
      utf8("up"),
      utf8(deviceId),
      connections.of(connection),
      instance(instance),
      utf8(Long.toString(now)),
      utf8(Long.toString(now + ttl.toMillis())),
      utf8(Integer.toString(maxDevices)),
      utf8(Long.toString(PRESENCE_RETENTION.toMillis()))
    };
    return eval(presence, ScriptOutputType.INTEGER, new byte[][] {keys.presence(userId)}, argv)
        .thenApply(r -> null);
  }

  @Override
  public CompletableFuture<Boolean> offline(String userId, String deviceId, long connection) {
    byte[][] argv = {
      utf8("down"), utf8(deviceId), connections.of(connection), utf8(Long.toString(clock.millis()))
    };
    return downBySha(new byte[][] {keys.presence(userId)}, argv).thenApply(r -> ((Long) r) == 1L);
  }

  /**
   * As {@link #offline(String, String, long)}, the device last seen at {@code seenMs}, for a
   * connection whose resume failed ({@link RedisResume}): the entry is marked as taken back, which
   * any live connection of the device refreshes over (presence_keep.lua), whatever the clocks. If
   * the entry changes, the script itself tells the user's devices that the device went offline (a
   * signal on the user's channel): the node that sent it may have stopped, or given up on its
   * answer, by the time Redis runs it. Sent whole (EVAL), not by SHA: it may wait in a paused Redis
   * past its timeout, and answered NOSCRIPT then (Redis's script cache emptied by a restart or a
   * failover), the node, which gave up on it, could not send it again whole.
   */
  CompletableFuture<Boolean> takeBack(
      String userId, String deviceId, long connection, long seenMs) {
    byte[] told =
        RedisBroker.message(
            UserSignal.newBuilder()
                .setPresenceChanged(
                    PresenceChanged.newBuilder()
                        .setPresence(
                            DevicePresence.newBuilder()
                                .setDeviceId(deviceId)
                                .setOnline(false)
                                .setLastSeenMs(seenMs)))
                .build());
    byte[][] argv = {
      utf8("back"), utf8(deviceId), connections.of(connection), utf8(Long.toString(seenMs)), told
    };
    byte[][] k = {keys.presence(userId), keys.channel(userId)};
    return RedisScript.evalWhole(redis, presence.text, ScriptOutputType.INTEGER, k, argv)
        .thenApply(r -> ((Long) r) == 1L);
  }

  /**
   * A 'down' by SHA, sent again whole (EVAL) if it times out: a paused Redis that lacks the script
   * (its cache emptied by a restart, a failover or SCRIPT FLUSH) answers NOSCRIPT when it comes
   * back, to a node that gave up on it, and the device would read online until its presence
   * deadline. A 'down' runs twice harmlessly: the second finds the entry offline, or naming another
   * connection, and changes nothing. Whole only after a timeout: every disconnect sending the
   * script's text would cost Redis that much more in a reconnect storm.
   */
  private CompletableFuture<Object> downBySha(byte[][] k, byte[][] argv) {
    // The thread sending it picks its Redis connection (RoutedCommands): sent again from it, the
    // whole script goes through the same one, behind the first.
    EventExecutor sender = ThreadExecutorMap.currentExecutor();
    return eval(presence, ScriptOutputType.INTEGER, k, argv)
        .exceptionallyCompose(
            err -> {
              Throwable cause = err instanceof CompletionException ? err.getCause() : err;
              if (!(cause instanceof RedisCommandTimeoutException)) {
                return CompletableFuture.failedFuture(cause);
              }
              CompletableFuture<Object> again = new CompletableFuture<>();
              Runnable send =
                  () ->
                      RedisScript.evalWhole(redis, presence.text, ScriptOutputType.INTEGER, k, argv)
                          .whenComplete(
                              (r, e) -> {
                                if (e != null) {
                                  again.completeExceptionally(e);
                                } else {
                                  again.complete(r);
                                }
                              });
              try {
                if (sender == null) {
                  send.run();
                } else {
                  sender.execute(send);
                }
              } catch (RejectedExecutionException stopping) {
                send.run(); // Through the node's shared connection: a 'down' needs no order.
              }
              return again;
            });
  }

  @Override
  public CompletableFuture<OptionalLong> heldElsewhere(
      String userId, String deviceId, long connection) {
    String mine = str(connections.of(connection));
    return redis
        .hget(keys.presence(userId), utf8(deviceId))
        .toCompletableFuture()
        .thenApply(
            entry ->
                entry == null ? OptionalLong.empty() : holder(str(entry), clock.millis(), mine));
  }

  /**
   * Who holds the device, by its presence entry {@code v} as of now, if not the connection named
   * {@code mine} ({@link HandoffStore#heldElsewhere}). Reads both "online|connection|instance|
   * last_seen|deadline" and the entry of a node that kept no instance, "online|connection|
   * last_seen|deadline" (instance 0): connection names hold no '|'.
   */
  static OptionalLong holder(String v, long now, String mine) {
    int first = v.indexOf('|');
    int last = v.lastIndexOf('|');
    int beforeSeen = v.lastIndexOf('|', last - 1);
    if (v.charAt(0) != '1' || Long.parseLong(v.substring(last + 1)) <= now) {
      return OptionalLong.empty();
    }
    String named = v.substring(first + 1, beforeSeen);
    int bar = named.indexOf('|');
    String conn = bar < 0 ? named : named.substring(0, bar);
    if (conn.equals(mine)) {
      return OptionalLong.empty();
    }
    return OptionalLong.of(bar < 0 ? 0 : Long.parseUnsignedLong(named.substring(bar + 1)));
  }

  @Override
  public CompletableFuture<List<DevicePresence>> presence(String userId) {
    return redis
        .hgetall(keys.presence(userId))
        .toCompletableFuture()
        .thenApply(
            all -> {
              long now = clock.millis();
              List<DevicePresence> out = new ArrayList<>(all.size());
              for (Map.Entry<byte[], byte[]> e : all.entrySet()) {
                out.add(parsePresence(e.getKey(), e.getValue(), now));
              }
              return out;
            });
  }

  /** One script: the refreshes and the read in one round trip. */
  @Override
  public CompletableFuture<List<DevicePresence>> keep(
      String userId, List<Live> live, Duration ttl, int maxDevices) {
    long now = clock.millis();
    byte[][] argv = new byte[4 + 4 * live.size()][];
    argv[0] = utf8(Long.toString(now));
    argv[1] = utf8(Long.toString(now + ttl.toMillis()));
    argv[2] = utf8(Integer.toString(maxDevices));
    argv[3] = utf8(Long.toString(PRESENCE_RETENTION.toMillis()));
    for (int i = 0; i < live.size(); i++) {
      argv[4 + 4 * i] = utf8(live.get(i).deviceId());
      argv[5 + 4 * i] = connections.of(live.get(i).connection());
      argv[6 + 4 * i] = instance(live.get(i).instance());
      argv[7 + 4 * i] = utf8(Long.toString(live.get(i).sinceMs()));
    }
    return eval(keep, ScriptOutputType.MULTI, new byte[][] {keys.presence(userId)}, argv)
        .thenApply(
            r -> {
              List<?> all = (List<?>) r;
              List<DevicePresence> out = new ArrayList<>(all.size() / 2);
              for (int i = 0; i + 1 < all.size(); i += 2) {
                out.add(parsePresence((byte[]) all.get(i), (byte[]) all.get(i + 1), now));
              }
              return out;
            });
  }

  /**
   * One entry of the presence hash ("online|connection|instance|last_seen_ms|deadline_ms", or an
   * older node's "online|connection|last_seen_ms|deadline_ms") as of now.
   */
  static DevicePresence parsePresence(byte[] device, byte[] entry, long now) {
    String v = str(entry);
    int last = v.lastIndexOf('|');
    int beforeSeen = v.lastIndexOf('|', last - 1);
    long deadline = Long.parseLong(v.substring(last + 1));
    long seen = Long.parseLong(v.substring(beforeSeen + 1, last));
    return DevicePresence.newBuilder()
        .setDeviceId(str(device))
        .setOnline(v.charAt(0) == '1' && deadline > now)
        .setLastSeenMs(seen)
        .build();
  }

  @Override
  public CompletableFuture<Void> erase(String userId) {
    return eraseScript
        .<Long>eval(
            redis,
            ScriptOutputType.INTEGER,
            keys.activities(userId),
            keys.liveOffers(userId),
            keys.endedOffers(userId),
            keys.presence(userId),
            keys.splitGuard(userId))
        .thenApply(r -> null);
  }

  /** Nothing to do: every key has a TTL that outlives what it holds by at most its retention. */
  @Override
  public CompletableFuture<Void> sweep(Instant now) {
    return CompletableFuture.completedFuture(null);
  }

  /** Runs a script by SHA, sent whole if Redis lacks it (see {@link RedisScript#evalWhole}). */
  private CompletableFuture<Object> eval(
      Script script, ScriptOutputType type, byte[][] k, byte[][] argv) {
    return redis
        .evalsha(script.sha, type, k, argv)
        .toCompletableFuture()
        .handle(
            (r, err) -> {
              Throwable cause = err instanceof CompletionException ? err.getCause() : err;
              if (cause instanceof RedisNoScriptException) {
                return RedisScript.<Object>evalWhole(redis, script.text, type, k, argv);
              }
              return err == null
                  ? CompletableFuture.completedFuture(r)
                  : CompletableFuture.failedFuture(cause);
            })
        .thenCompose(f -> f);
  }

  static Activity parseActivity(byte[] b) {
    try {
      return Activity.parseFrom(b);
    } catch (InvalidProtocolBufferException e) {
      throw new IllegalStateException("corrupt activity in Redis: " + e.getMessage(), e);
    }
  }

  static Offer parseOffer(byte[] b) {
    try {
      return Offer.parseFrom(b);
    } catch (InvalidProtocolBufferException e) {
      throw new IllegalStateException("corrupt offer in Redis: " + e.getMessage(), e);
    }
  }

  /** A Hello instance as the presence entry keeps it: unsigned decimal (it is a fixed64). */
  static byte[] instance(long instance) {
    return utf8(Long.toUnsignedString(instance));
  }

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private static String str(Object bytes) {
    return new String((byte[]) bytes, StandardCharsets.UTF_8);
  }

  /** A Lua script resource and its SHA. */
  private static final class Script {
    final byte[] text;
    final String sha;

    Script(String name) {
      this.text = utf8(RedisScript.source(name));
      this.sha = RedisScript.sha1(text);
    }
  }
}
