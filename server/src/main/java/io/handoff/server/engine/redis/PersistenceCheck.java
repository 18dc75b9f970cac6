package io.handoff.server.engine.redis;

import io.lettuce.core.api.async.RedisServerAsyncCommands;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Warns when a Redis keeps an append-only file and would load a torn one in part, and when it may
 * evict keys ({@link #evictionCheck}). The first ({@code appendonly yes} with {@code
 * aof-load-truncated yes}, Redis's default): after a crash that tears a write's transaction, Redis
 * replays part of that write at the restart after next (docs/redis.md, "A torn transaction in the
 * append-only file"). Only a warning: the operator may repair files before Redis starts, or run a
 * release that cuts a torn file before the transaction, which the node cannot see. Asynchronous and
 * never failing: the node's start does not wait for it, and a Redis that refuses {@code CONFIG GET}
 * (managed services often do), or cannot be reached, is not checked.
 */
final class PersistenceCheck {
  private static final Logger log = LoggerFactory.getLogger(PersistenceCheck.class);

  private PersistenceCheck() {}

  /**
   * Checks the Redis {@code server} comes from; {@code name} says which in the warning. Completes
   * with whether it warned, false when the Redis could not be asked; never exceptionally.
   */
  static CompletableFuture<Boolean> check(
      String name, CompletionStage<? extends RedisServerAsyncCommands<?, ?>> server) {
    return server
        .thenCompose(
            s -> {
              evictionCheck(name, s);
              return s.configGet("appendonly")
                  .thenCombine(
                      s.configGet("aof-load-truncated"),
                      (a, t) ->
                          tearsWrites(value(a, "appendonly"), value(t, "aof-load-truncated")));
            })
        .thenApply(
            tears -> {
              if (tears) {
                log.warn(
                    "{} keeps an append-only file (appendonly yes) and loads a torn one in part"
                        + " (aof-load-truncated yes): after a crash that tears a write, Redis"
                        + " replays part of it at the restart after next. Set aof-load-truncated no,"
                        + " and run redis-check-aof --fix when Redis then refuses a torn file, unless"
                        + " this release cuts a torn file before the transaction (docs/redis.md, \"A"
                        + " torn transaction in the append-only file\").",
                    name);
              }
              return tears;
            })
        .exceptionally(
            e -> {
              log.debug("{}: its persistence settings are not checked ({})", name, e.toString());
              return false;
            })
        .toCompletableFuture();
  }

  /**
   * Warns when Redis may evict keys ({@code maxmemory} set and a {@code maxmemory-policy} other
   * than {@code noeviction}): every Handoff key has a TTL, so a {@code volatile-*} policy may evict
   * any of them, a document's fields without its version or a device's remembered writes, and
   * nothing tells the devices. Completes with whether it warned; never exceptionally.
   */
  static CompletableFuture<Boolean> evictionCheck(String name, RedisServerAsyncCommands<?, ?> s) {
    return s.configGet("maxmemory")
        .thenCombine(
            s.configGet("maxmemory-policy"),
            (m, p) -> {
              String policy = value(p, "maxmemory-policy");
              boolean evicts = evicts(value(m, "maxmemory"), policy);
              if (evicts) {
                log.warn(
                    "{} may evict keys (maxmemory set, maxmemory-policy {}): Handoff's keys all"
                        + " have TTLs, so Redis may drop part of a document or a device's"
                        + " remembered writes under memory pressure, and no device would be told."
                        + " Set maxmemory-policy noeviction (writes are then refused, clearly,"
                        + " when Redis is full) (docs/redis.md, \"Memory\").",
                    name,
                    policy);
              }
              return evicts;
            })
        .exceptionally(
            e -> {
              log.debug("{}: its eviction policy is not checked ({})", name, e.toString());
              return false;
            })
        .toCompletableFuture();
  }

  /** Whether a Redis with these settings may evict keys. */
  static boolean evicts(String maxMemory, String policy) {
    return maxMemory != null
        && !maxMemory.trim().equals("0")
        && policy != null
        && !"noeviction".equalsIgnoreCase(policy);
  }

  /** Whether a Redis with these two settings would replay part of a torn write. */
  static boolean tearsWrites(String appendOnly, String loadTruncated) {
    return "yes".equalsIgnoreCase(appendOnly) && "yes".equalsIgnoreCase(loadTruncated);
  }

  private static String value(Map<String, String> answer, String parameter) {
    return answer == null ? null : answer.get(parameter);
  }
}
