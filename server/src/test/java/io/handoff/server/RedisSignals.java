package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.api.StatefulRedisConnection;
import java.util.concurrent.TimeUnit;

/** A Redis process found by its address and sent a signal ({@code -STOP}, {@code -CONT}). */
final class RedisSignals {
  private RedisSignals() {}

  /** The process id of the Redis at {@code url}, from its {@code INFO server}. */
  static String pid(String url) {
    return pid(RedisURI.create(url));
  }

  /** The process id of the Redis at {@code uri}, from its {@code INFO server}. */
  static String pid(RedisURI uri) {
    try (RedisClient client = RedisClient.create(uri);
        StatefulRedisConnection<String, String> c = client.connect()) {
      for (String line : c.sync().info("server").split("\r?\n")) {
        if (line.startsWith("process_id:")) {
          return line.substring("process_id:".length()).trim();
        }
      }
    }
    throw new AssertionError("no process_id in INFO server of " + uri);
  }

  /** Sends {@code sig} to process {@code pid} with kill(1) and checks that it was delivered. */
  static void signal(String sig, String pid) throws Exception {
    Process kill = new ProcessBuilder("kill", sig, pid).inheritIO().start();
    assertTrue(kill.waitFor(10, TimeUnit.SECONDS));
    assertEquals(0, kill.exitValue(), "kill " + sig + " " + pid);
  }
}
