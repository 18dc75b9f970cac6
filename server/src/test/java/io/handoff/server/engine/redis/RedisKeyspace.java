package io.handoff.server.engine.redis;

import io.lettuce.core.KeyScanCursor;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.ScanArgs;
import io.lettuce.core.ScanCursor;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.sync.RedisCommands;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads a Redis keyspace directly (every node of a cluster), so tests check what the engine left in
 * Redis itself rather than what its API shows.
 */
final class RedisKeyspace {
  private RedisKeyspace() {}

  /** Every key on the Redis nodes at {@code urls} that matches the glob {@code pattern}. */
  static List<String> keys(List<String> urls, String pattern) {
    List<String> found = new ArrayList<>();
    for (String url : urls) {
      RedisClient client =
          RedisClient.create(RedisURI.create(url.contains("://") ? url : "redis://" + url));
      try (StatefulRedisConnection<String, String> c = client.connect()) {
        RedisCommands<String, String> redis = c.sync();
        ScanArgs args = ScanArgs.Builder.matches(pattern).limit(1000);
        KeyScanCursor<String> cursor = redis.scan(args);
        while (true) {
          found.addAll(cursor.getKeys());
          if (cursor.isFinished()) {
            break;
          }
          cursor = redis.scan(ScanCursor.of(cursor.getCursor()), args);
        }
      } finally {
        client.shutdown();
      }
    }
    return found;
  }

  /**
   * Kills the pub/sub connections of the clients named {@code clientName} (set with {@code
   * ?clientName=} on the engine's URL) on the first node at {@code urls} that has any, as a network
   * failure would cut them. Returns how many were killed.
   *
   * <p>It stops at that node: a cluster client reconnects at once and may land on a node further
   * down the list, and killing it there too would be a second, unintended cut.
   */
  static int killSubscribers(List<String> urls, String clientName) {
    int killed = 0;
    for (String url : urls) {
      RedisClient client =
          RedisClient.create(RedisURI.create(url.contains("://") ? url : "redis://" + url));
      try (StatefulRedisConnection<String, String> c = client.connect()) {
        RedisCommands<String, String> redis = c.sync();
        for (String line : redis.clientList().split("\n")) {
          if (line.contains(" name=" + clientName + " ") && !line.contains(" sub=0 ")) {
            for (String field : line.split(" ")) {
              if (field.startsWith("id=")) {
                redis.clientKill(
                    io.lettuce.core.KillArgs.Builder.id(Long.parseLong(field.substring(3))));
                killed++;
              }
            }
          }
        }
      } finally {
        client.shutdown();
      }
      if (killed > 0) {
        break;
      }
    }
    return killed;
  }

  /** The glob of every key of {@code user} under {@code prefix}. */
  static String userKeys(String prefix, String user) {
    return prefix + "{" + RedisKeys.escape(user) + "}*";
  }

  /**
   * Every key of {@code user} under {@code prefix} on the Redis nodes at {@code urls}: those under
   * the user's hash tag, and the user's wrong-code counter wherever a release kept it.
   */
  static List<String> userTraces(List<String> urls, String prefix, String user) {
    List<String> found = new ArrayList<>(keys(urls, userKeys(prefix, user)));
    found.addAll(keys(urls, prefix + "{" + RedisKeys.escape("att:u:" + user) + "}*"));
    return found;
  }
}
