package io.handoff.server.engine.redis;

import io.lettuce.core.RedisFuture;
import io.lettuce.core.cluster.PipelinedRedisFuture;
import io.lettuce.core.cluster.api.async.RedisClusterAsyncCommands;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.util.concurrent.CompletableFuture;

/**
 * Commands that wait out the trouble Redis says is temporary ({@link RedisFailures#waitOut}): a
 * failover in progress, a Redis loading its data, a connection being made again. For the stores
 * whose calls are not on the write path (device sessions, handoff, sign-in), so that a failover
 * gives their devices a slower answer instead of an error, as it does for writes. Every other
 * failure reaches the store as Lettuce reported it. Thread-safe.
 */
final class WaitingCommands {
  private WaitingCommands() {}

  /** {@code target}, each command of which is sent again while Redis reports temporary trouble. */
  @SuppressWarnings("unchecked")
  static RedisClusterAsyncCommands<byte[], byte[]> of(
      RedisClusterAsyncCommands<byte[], byte[]> target, RedisFailures failures) {
    return (RedisClusterAsyncCommands<byte[], byte[]>)
        Proxy.newProxyInstance(
            WaitingCommands.class.getClassLoader(),
            new Class<?>[] {RedisClusterAsyncCommands.class},
            (proxy, method, args) -> {
              if (method.getDeclaringClass() == Object.class) {
                return invoke(method, target, args);
              }
              if (method.getReturnType() != RedisFuture.class) {
                return invoke(method, target, args);
              }
              return new PipelinedRedisFuture<>(
                  failures.waitOut(
                      () -> {
                        try {
                          return ((RedisFuture<Object>) invoke(method, target, args))
                              .toCompletableFuture();
                        } catch (Throwable t) {
                          return CompletableFuture.failedFuture(t);
                        }
                      }));
            });
  }

  private static Object invoke(java.lang.reflect.Method method, Object target, Object[] args)
      throws Throwable {
    try {
      return method.invoke(target, args);
    } catch (InvocationTargetException e) {
      throw e.getCause();
    }
  }
}
