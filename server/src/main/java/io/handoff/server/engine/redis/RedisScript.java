package io.handoff.server.engine.redis;

import io.lettuce.core.RedisNoScriptException;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.cluster.api.async.RedisClusterAsyncCommands;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

/**
 * One Lua script from this package's resources, run by SHA-1 with EVALSHA and loaded (once more)
 * when Redis answers NOSCRIPT (first use, or a Redis restart). Thread-safe.
 */
final class RedisScript {
  private final String name;
  private final byte[] text;
  private final String sha;

  RedisScript(String name) {
    this.name = name;
    try (InputStream in = RedisScript.class.getResourceAsStream(name)) {
      if (in == null) {
        throw new IllegalStateException("missing script " + name);
      }
      this.text = in.readAllBytes();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    try {
      this.sha = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-1").digest(text));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  <T> CompletableFuture<T> eval(
      RedisClusterAsyncCommands<byte[], byte[]> redis,
      ScriptOutputType type,
      byte[][] keys,
      byte[]... argv) {
    return redis
        .<T>evalsha(sha, type, keys, argv)
        .toCompletableFuture()
        .handle(
            (r, err) -> {
              Throwable cause = err instanceof CompletionException ? err.getCause() : err;
              if (cause instanceof RedisNoScriptException) {
                return redis
                    .scriptLoad(text)
                    .toCompletableFuture()
                    .thenCompose(
                        loaded -> redis.<T>evalsha(loaded, type, keys, argv).toCompletableFuture());
              }
              return err == null
                  ? CompletableFuture.completedFuture(r)
                  : CompletableFuture.<T>failedFuture(cause);
            })
        .thenCompose(f -> f);
  }

  <T> CompletableFuture<T> eval(
      RedisClusterAsyncCommands<byte[], byte[]> redis, ScriptOutputType type, byte[]... keys) {
    return eval(redis, type, keys, new byte[0][]);
  }

  @Override
  public String toString() {
    return name + "@" + sha;
  }
}
