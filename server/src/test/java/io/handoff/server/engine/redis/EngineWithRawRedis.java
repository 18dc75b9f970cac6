package io.handoff.server.engine.redis;

import io.handoff.server.RedisProcess;
import io.handoff.server.engine.StoreLimits;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.sync.RedisCommands;
import java.time.Clock;

/**
 * A Redis engine on the tests' shared Redis, and a plain string connection beside it to look at and
 * change the keys behind the engine's back.
 */
final class EngineWithRawRedis implements AutoCloseable {
  final RedisEngine engine;
  final RedisCommands<String, String> redis;
  private final RedisClient client;
  private final StatefulRedisConnection<String, String> connection;

  EngineWithRawRedis(String prefix, StoreLimits limits, Clock clock) {
    engine = RedisEngine.connect(RedisProcess.sharedUrl(), prefix, limits, clock);
    client = RedisClient.create(RedisProcess.sharedUrl());
    connection = client.connect();
    redis = connection.sync();
  }

  @Override
  public void close() {
    connection.close();
    client.shutdown();
    engine.close();
  }
}
