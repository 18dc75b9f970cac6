package io.handoff.server.engine.redis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.Activity;
import io.handoff.protocol.v1.Offer;
import io.handoff.server.MutableClock;
import io.handoff.server.RedisProcess;
import io.handoff.server.Writes;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.handoff.HandoffStore;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.api.StatefulRedisConnection;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * What a device of the user sends in the moment between an erasure's deletion and the kick that
 * closes it (security.md, "Revocation and erasure"): a write, an activity, an offer and a presence
 * mark that reach Redis just after {@code Engine.erase} made the user's keys again, as the docs
 * say. Each of those keys carries its own lifetime (none lives without a TTL, none longer than the
 * docs give it), and sending the erasure again removes every one.
 */
class RedisErasureAfterglowTest {
  private static final Duration IDLE_TTL = Duration.ofDays(30);
  private static final Duration OFFER_TTL = Duration.ofMinutes(1);

  @Test
  void whatLandsJustAfterTheDeletionIsKeptWithItsOwnLifetimeAndGoesWithTheNextErasure()
      throws Exception {
    String prefix = "test-" + UUID.randomUUID() + ":";
    String user = "user-" + UUID.randomUUID();
    MutableClock clock = new MutableClock(1_700_000_000_000L);
    StoreLimits limits = StoreLimits.builder().idleTtl(IDLE_TTL).build();
    try (RedisEngine engine =
        RedisEngine.connect(RedisProcess.sharedUrl(), prefix, limits, clock)) {
      sendEverything(engine, user, clock, 1);
      get(engine.erase(user));
      assertEquals(List.of(), traces(prefix, user), "the erasure took everything");

      // The device's connection is still open (the kick has not reached its node): what it sends
      // now is stored after the erasure.
      sendEverything(engine, user, clock, 2);
      List<String> after = traces(prefix, user);
      List<String> kinds = new ArrayList<>();
      String base = prefix + "{" + RedisKeys.escape(user) + "}:";
      try (Ttls ttls = new Ttls()) {
        for (String key : after) {
          String kind = key.substring(base.length()).split(":", 2)[0];
          kinds.add(kind);
          long ttl = ttls.of(key);
          Duration lifetime = lifetime(kind);
          assertTrue(
              ttl > 0 && ttl <= lifetime.toMillis(),
              key + " expires within " + lifetime + ", its documented lifetime: PTTL " + ttl);
        }
      }
      for (String kind : List.of("m", "f", "h", "docs", "s", "o", "wd", "act", "of", "pr")) {
        assertTrue(kinds.contains(kind), "made again: " + kind + " in " + after);
      }

      get(engine.erase(user));
      assertEquals(List.of(), traces(prefix, user), "sending the erasure again removes it");
    }
  }

  /** The longest a key of this kind lives after the call that made it, as docs/redis.md says. */
  private static Duration lifetime(String kind) {
    return switch (kind) {
      // Documents and a device's write outcomes: the idle TTL and its slack of a sixteenth.
      case "m", "f", "h", "docs", "s", "o", "wd" -> IDLE_TTL.plus(IDLE_TTL.dividedBy(16));
      case "act" -> Duration.ofDays(1);
      // An offer: its deadline, then the ended offers' retention (and a second's margin).
      case "of", "offers" ->
          OFFER_TTL.plus(HandoffStore.ENDED_RETENTION).plus(Duration.ofSeconds(1));
      case "pr" -> HandoffStore.PRESENCE_RETENTION;
      default -> Duration.ZERO; // Any other key fails: the docs name no other.
    };
  }

  /** A write, an activity, an offer and a presence mark of the user's phone. */
  private static void sendEverything(RedisEngine engine, String user, MutableClock clock, int n)
      throws Exception {
    get(engine.store().write(user, "phone", Writes.set("player", n, "position", "v" + n)));
    HandoffStore handoff = engine.handoff();
    get(
        handoff.putActivity(
            user,
            Activity.newBuilder().setDeviceId("phone").setDocument("player").build(),
            Duration.ofDays(1),
            8));
    get(
        handoff.createOffer(
            user,
            Offer.newBuilder()
                .setOfferId("offer-" + n)
                .setFromDevice("phone")
                .setActivity(Activity.newBuilder().setDeviceId("phone").setDocument("player"))
                .setCreatedMs(clock.millis())
                .setExpiresMs(clock.millis() + OFFER_TTL.toMillis())
                .build(),
            8));
    get(handoff.online(user, "phone", n, 0, Duration.ofSeconds(30), 8));
  }

  private static List<String> traces(String prefix, String user) {
    return RedisKeyspace.userTraces(List.of(RedisProcess.sharedUrl()), prefix, user);
  }

  private static <T> T get(CompletableFuture<T> f) throws Exception {
    return f.get(10, TimeUnit.SECONDS);
  }

  /** Reads keys' remaining lifetimes (PTTL: -1 for a key without one). */
  private static final class Ttls implements AutoCloseable {
    private final RedisClient client =
        RedisClient.create(RedisURI.create(url(RedisProcess.sharedUrl())));
    private final StatefulRedisConnection<String, String> connection = client.connect();

    long of(String key) {
      return connection.sync().pttl(key);
    }

    private static String url(String url) {
      return url.contains("://") ? url : "redis://" + url;
    }

    @Override
    public void close() {
      connection.close();
      client.shutdown();
    }
  }
}
