package io.handoff.server.engine.redis;

import io.handoff.server.engine.Engine;
import io.handoff.server.engine.StoreLimits;
import io.lettuce.core.ClientOptions;
import io.lettuce.core.RedisChannelHandler;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisConnectionStateListener;
import io.lettuce.core.RedisURI;
import io.lettuce.core.SocketOptions;
import io.lettuce.core.TimeoutOptions;
import io.lettuce.core.codec.ByteArrayCodec;
import java.time.Clock;
import java.time.Duration;

/**
 * The engine for many nodes: {@link RedisDocumentStore} and {@link RedisBroker} on one Redis
 * (standalone; keys are hash-tagged per user so Redis Cluster works unchanged). Commands fail fast
 * while Redis is unreachable instead of queueing, so a write is either applied or refused with a
 * retryable error.
 */
public final class RedisEngine implements Engine {
  public static final Duration DEFAULT_COMMAND_TIMEOUT = Duration.ofSeconds(2);

  private final RedisClient client;
  private final RedisDocumentStore store;
  private final RedisBroker broker;
  private final String url;

  private RedisEngine(String url, String keyPrefix, StoreLimits limits, Clock clock) {
    this.url = url;
    this.client = RedisClient.create(RedisURI.create(url));
    client.setOptions(
        ClientOptions.builder()
            .autoReconnect(true)
            .disconnectedBehavior(ClientOptions.DisconnectedBehavior.REJECT_COMMANDS)
            .timeoutOptions(TimeoutOptions.enabled(DEFAULT_COMMAND_TIMEOUT))
            .socketOptions(
                SocketOptions.builder()
                    .connectTimeout(Duration.ofSeconds(2))
                    .keepAlive(true)
                    .build())
            .build());
    RedisKeys keys = new RedisKeys(keyPrefix);
    try {
      this.store =
          new RedisDocumentStore(client.connect(ByteArrayCodec.INSTANCE), keys, limits, clock);
      this.broker = new RedisBroker(client.connectPubSub(ByteArrayCodec.INSTANCE), keys);
      client.addListener(
          new RedisConnectionStateListener() {
            @Override
            public void onRedisDisconnected(RedisChannelHandler<?, ?> connection) {
              if (broker.owns(connection)) {
                broker.connectionLost();
              }
            }
          });
    } catch (RuntimeException e) {
      client.shutdown();
      throw e;
    }
  }

  /**
   * Connects to {@code url} ({@code redis://host:port[/db]}); every key starts with {@code
   * keyPrefix} (e.g. {@code "handoff:"}), so several deployments or tests can share one Redis.
   */
  public static RedisEngine connect(String url, String keyPrefix, StoreLimits limits) {
    return new RedisEngine(url, keyPrefix, limits, Clock.systemUTC());
  }

  public static RedisEngine connect(String url, String keyPrefix, StoreLimits limits, Clock clock) {
    return new RedisEngine(url, keyPrefix, limits, clock);
  }

  @Override
  public RedisDocumentStore store() {
    return store;
  }

  @Override
  public RedisBroker broker() {
    return broker;
  }

  @Override
  public String name() {
    return "redis";
  }

  @Override
  public String durability() {
    return "Redis engine ("
        + RedisURI.create(url).toString().replaceAll(":[^:@/]*@", ":****@")
        + "): every acked write is in Redis before its ack; it survives this node and is as durable"
        + " as the Redis deployment (persistence and replication settings).";
  }

  @Override
  public boolean healthy() {
    return store.isOpen() && broker.isOpen();
  }

  @Override
  public void close() {
    broker.close();
    store.close();
    client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
  }
}
