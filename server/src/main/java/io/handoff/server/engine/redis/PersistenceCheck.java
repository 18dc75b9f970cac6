package io.handoff.server.engine.redis;

import io.lettuce.core.api.async.RedisServerAsyncCommands;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Warns at start when a Redis keeps an append-only file and would load a torn one in part ({@code
 * appendonly yes} with {@code aof-load-truncated yes}, Redis's default): after a crash that tears a
 * write's transaction, Redis replays part of that write at the restart after next (docs/redis.md,
 * "A torn transaction in the append-only file"). Only a warning: the operator may repair files
 * before every start, which the node cannot see. A Redis that refuses {@code CONFIG GET} (managed
 * services often do) is not checked. Called once per Redis server at connect, on the caller's
 * thread.
 */
final class PersistenceCheck {
  private static final Logger log = LoggerFactory.getLogger(PersistenceCheck.class);
  private static final long TIMEOUT_SECONDS = 2;

  private PersistenceCheck() {}

  /** Checks the Redis {@code server} answers for; {@code name} says which in the warning. */
  static void check(String name, RedisServerAsyncCommands<?, ?> server) {
    try {
      String appendOnly = value(server, "appendonly");
      String loadTruncated = value(server, "aof-load-truncated");
      if (tearsWrites(appendOnly, loadTruncated)) {
        log.warn(
            "{} keeps an append-only file (appendonly yes) and loads a torn one in part"
                + " (aof-load-truncated yes): after a crash that tears a write, Redis replays part"
                + " of it at the restart after next. Set aof-load-truncated no, and run"
                + " redis-check-aof --fix on the file before Redis starts after a crash, unless this"
                + " release cuts a torn file before the transaction (docs/redis.md, \"A torn"
                + " transaction in the append-only file\").",
            name);
      }
    } catch (Exception e) {
      if (e instanceof InterruptedException) {
        Thread.currentThread().interrupt();
      }
      log.debug(
          "{}: CONFIG GET not answered ({}); its persistence is not checked", name, e.toString());
    }
  }

  /** Whether a Redis with these two settings would replay part of a torn write. */
  static boolean tearsWrites(String appendOnly, String loadTruncated) {
    return "yes".equalsIgnoreCase(appendOnly) && "yes".equalsIgnoreCase(loadTruncated);
  }

  private static String value(RedisServerAsyncCommands<?, ?> server, String parameter)
      throws Exception {
    Map<String, String> answer =
        server.configGet(parameter).toCompletableFuture().get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
    return answer.get(parameter);
  }
}
