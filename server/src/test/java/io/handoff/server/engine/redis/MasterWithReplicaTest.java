package io.handoff.server.engine.redis;

import io.handoff.server.Conditions;
import io.handoff.server.RedisProcess;
import io.handoff.server.engine.StoreLimits;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import java.time.Duration;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;

/**
 * A base for tests of durable acks on a real Redis master with its replica: {@link #start} starts
 * both, waits until the replica is linked and connects an engine to the master under a key prefix
 * of the test's own; the replica can be paused (SIGSTOP); all of it is stopped after each test.
 */
abstract class MasterWithReplicaTest {
  RedisProcess master;
  RedisProcess replica;
  RedisEngine engine;
  String prefix;
  // The paused replica's process id, continued after the test if it still is.
  String paused;

  final void start(StoreLimits limits) {
    master = RedisProcess.start();
    replica = RedisProcess.startReplicaOf(master);
    Conditions.await(
        "the replica is linked to its master",
        () -> {
          try (RedisClient c = RedisClient.create(replica.url());
              StatefulRedisConnection<String, String> s = c.connect()) {
            return s.sync().info("replication").contains("master_link_status:up");
          }
        },
        Duration.ofSeconds(30));
    prefix = "t-" + UUID.randomUUID() + ":";
    engine = RedisEngine.connect(master.url(), prefix, limits);
  }

  final void pauseReplica() {
    paused = replica.pid();
    RedisProcess.signal("-STOP", paused);
  }

  final void resumeReplica() {
    RedisProcess.signal("-CONT", paused);
    paused = null;
  }

  @AfterEach
  void stop() {
    if (paused != null) {
      RedisProcess.signal("-CONT", paused);
    }
    if (engine != null) {
      engine.close();
    }
    if (replica != null) {
      replica.crash();
    }
    if (master != null) {
      master.close();
    }
  }
}
