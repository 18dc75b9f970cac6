package io.handoff.server.engine.redis;

import io.lettuce.core.RedisNoScriptException;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.cluster.api.async.RedisClusterAsyncCommands;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

/**
 * One Lua script from this package's resources, run by SHA-1 with EVALSHA and sent whole with EVAL
 * (which caches it on that shard) when Redis answers NOSCRIPT (first use, or a Redis restart).
 * Thread-safe.
 */
final class RedisScript {
  private static final String INCLUDE = "-- include:";

  private final String name;
  private final byte[] text;
  private final String sha;

  RedisScript(String name) {
    this.name = name;
    this.text = source(name).getBytes(StandardCharsets.UTF_8);
    this.sha = sha1(text);
  }

  /** The SHA-1 Redis gives {@code text} as a script, in hex (what EVALSHA takes). */
  static String sha1(byte[] text) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-1").digest(text));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * After NOSCRIPT: the script sent whole with EVAL, which Redis routes by its keys like EVALSHA
   * (on a Cluster, to the one shard that owns them) and which puts it in that shard's script cache.
   * Not SCRIPT LOAD: on a Cluster Lettuce sends that to every node it knows, and it fails whenever
   * one of them is down (a dead replica, a failed master not yet forgotten), though the shard that
   * needs the script answers.
   */
  static <T> CompletableFuture<T> evalWhole(
      RedisClusterAsyncCommands<byte[], byte[]> redis,
      byte[] text,
      ScriptOutputType type,
      byte[][] keys,
      byte[]... argv) {
    return redis.<T>eval(text, type, keys, argv).toCompletableFuture();
  }

  /**
   * The text of a script in this package's resources, each line {@code -- include: NAME.lua}
   * replaced by that resource's text. Redis scripts cannot call each other, so the parts two
   * scripts share (presence.lua's 'up' in resume.lua, read.lua's read in resume.lua) are kept once
   * and put in when the script is loaded. Parts do not include parts.
   */
  static String source(String name) {
    StringBuilder out = new StringBuilder();
    for (String line : resource(name).split("\n", -1)) {
      if (line.startsWith(INCLUDE)) {
        String part = line.substring(INCLUDE.length()).trim();
        String text = resource(part);
        if (text.contains("\n" + INCLUDE) || text.startsWith(INCLUDE)) {
          throw new IllegalStateException(part + " includes another part; parts do not nest");
        }
        out.append(text);
      } else {
        out.append(line).append('\n');
      }
    }
    out.setLength(out.length() - 1);
    return out.toString();
  }

  private static String resource(String name) {
    try (InputStream in = RedisScript.class.getResourceAsStream(name)) {
      if (in == null) {
        throw new IllegalStateException("missing script " + name);
      }
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
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
                return RedisScript.<T>evalWhole(redis, text, type, keys, argv);
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
