package io.handoff.server.engine.redis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.DevicePresence;
import io.handoff.server.MutableClock;
import io.handoff.server.RedisProcess;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.handoff.HandoffStore;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import java.time.Duration;
import java.util.List;
import java.util.OptionalLong;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A device's presence entry keeps the Hello instance of the connection it names, through the
 * keeper's refreshes, and {@link HandoffStore#heldElsewhere} tells it to another node; an entry a
 * node of an earlier release wrote (no instance) reads as held by instance 0.
 */
class RedisPresenceInstanceTest {
  private static final Duration TTL = Duration.ofSeconds(20);
  private final String prefix = "test-" + UUID.randomUUID() + ":";
  private final MutableClock clock = new MutableClock();
  private final StoreLimits limits = StoreLimits.builder().build();

  @Test
  void anotherNodeIsToldTheInstanceOfTheConnectionHoldingTheDevice() throws Exception {
    long instance = 0xF000_0000_0000_0001L; // Past Long.MAX_VALUE unsigned, as a fixed64 may be.
    try (RedisEngine a = RedisEngine.connect(RedisProcess.sharedUrl(), prefix, limits, clock);
        RedisEngine b = RedisEngine.connect(RedisProcess.sharedUrl(), prefix, limits, clock)) {
      get(b.handoff().online("u", "phone", 1, 77, TTL, 10));
      get(a.handoff().online("u", "phone", 1, instance, TTL, 10));
      assertEquals(OptionalLong.of(instance), get(b.handoff().heldElsewhere("u", "phone", 1)));
      assertEquals(OptionalLong.empty(), get(a.handoff().heldElsewhere("u", "phone", 1)), "own");

      clock.advance(TTL.minusSeconds(1));
      long since = clock.millis() - TTL.toMillis();
      get(
          a.handoff()
              .keep("u", List.of(new HandoffStore.Live("phone", 1, instance, since)), TTL, 10));
      clock.advance(Duration.ofSeconds(2)); // Past the first deadline: online by the refresh.
      assertEquals(
          OptionalLong.of(instance),
          get(b.handoff().heldElsewhere("u", "phone", 1)),
          "kept through the keeper's refresh");
    }
  }

  @Test
  void anEntryWrittenBeforeInstancesReadsAsHeldByInstanceZero() throws Exception {
    RedisClient client = RedisClient.create(RedisProcess.sharedUrl());
    try (StatefulRedisConnection<String, String> control = client.connect();
        RedisEngine a = RedisEngine.connect(RedisProcess.sharedUrl(), prefix, limits, clock)) {
      long now = clock.millis();
      // As a node of the earlier release writes it: "online|connection|last_seen|deadline".
      control
          .sync()
          .hset(prefix + "{u}:pr", "phone", "1|0123456789ab/5|" + now + "|" + (now + 20_000));
      assertEquals(OptionalLong.of(0), get(a.handoff().heldElsewhere("u", "phone", 1)));
      DevicePresence p = get(a.handoff().presence("u")).get(0);
      assertTrue(p.getOnline());
      assertEquals(now, p.getLastSeenMs());

      // Its node's refresh of its own (old) entry is newer news than this node's keeper of a
      // connection that came online before it; a 'down' of this node's leaves it too.
      get(a.handoff().keep("u", List.of(new HandoffStore.Live("phone", 1, 9, now - 1)), TTL, 10));
      assertEquals(OptionalLong.of(0), get(a.handoff().heldElsewhere("u", "phone", 1)));
      get(a.handoff().offline("u", "phone", 1));
      assertEquals(OptionalLong.of(0), get(a.handoff().heldElsewhere("u", "phone", 1)));
    } finally {
      client.shutdown();
    }
  }

  private static <T> T get(CompletableFuture<T> f) throws Exception {
    return f.get(10, TimeUnit.SECONDS);
  }
}
