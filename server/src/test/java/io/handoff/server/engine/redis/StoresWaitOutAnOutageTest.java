package io.handoff.server.engine.redis;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.handoff.protocol.v1.Activity;
import io.handoff.server.MutableClock;
import io.handoff.server.RedisProcess;
import io.handoff.server.engine.StoreLimits;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The device-session, handoff and sign-in stores wait out trouble Redis says is temporary, as the
 * document store does (a failover in progress, a Redis loading its data), so a device asking during
 * one gets a slower answer, not an error. Here the node talks to a replica (READONLY) that is
 * promoted while the calls wait.
 */
class StoresWaitOutAnOutageTest {
  private final RedisProcess master = RedisProcess.start();
  private final RedisProcess replica = RedisProcess.startReplicaOf(master);
  private RedisEngine engine;

  @AfterEach
  void tearDown() {
    if (engine != null) {
      engine.close();
    }
    replica.close();
    master.close();
  }

  @Test
  void callsRefusedAsReadOnlyDuringAFailoverAreAnsweredOnceTheReplicaIsPromoted() throws Exception {
    engine =
        RedisEngine.connect(
            replica.url(),
            "test-" + UUID.randomUUID() + ":",
            StoreLimits.builder().build(),
            new MutableClock(1_796_500_000_000L));
    Activity phone = Activity.newBuilder().setDeviceId("phone").setTitle("Episode 3").build();
    // Without the wait these fail at once with READONLY.
    CompletableFuture<Void> put =
        engine.handoff().putActivity("ann", phone, Duration.ofHours(1), 64);
    CompletableFuture<?> session =
        engine.sessions().create("ann", "s-1", "phone", "Phone", "ios", new byte[] {1});
    try (RedisClient client = RedisClient.create(replica.url());
        StatefulRedisConnection<String, String> c = client.connect()) {
      c.sync().replicaofNoOne();
    }
    put.get(15, TimeUnit.SECONDS);
    session.get(15, TimeUnit.SECONDS);
    assertEquals(List.of(phone), engine.handoff().activities("ann").get(15, TimeUnit.SECONDS));
  }
}
