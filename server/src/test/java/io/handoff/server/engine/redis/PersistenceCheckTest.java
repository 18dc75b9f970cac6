package io.handoff.server.engine.redis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.spi.ILoggingEvent;
import io.handoff.server.CapturedLog;
import io.handoff.server.Conditions;
import io.handoff.server.RedisClusterProcess;
import io.handoff.server.RedisProcess;
import io.handoff.server.engine.StoreLimits;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A node connecting to a Redis that keeps an append-only file and would load a torn one in part
 * warns about it, naming the setting to change; a Redis that refuses torn files, keeps no file, or
 * refuses {@code CONFIG}, gets no warning and no error. In a Cluster each live master and replica
 * is asked: a replica a failover promotes keeps its own settings.
 */
class PersistenceCheckTest {
  private static final List<String> TEARS =
      List.of("appendonly yes", "appendfsync everysec", "save \"\"", "aof-load-truncated yes");

  @RegisterExtension final CapturedLog events = new CapturedLog(PersistenceCheck.class);

  @Test
  void aNodeConnectingToARedisThatLoadsTornFilesInPartWarnsNamingWhatToSet() {
    try (RedisProcess redis = RedisProcess.start(TEARS);
        RedisEngine engine =
            RedisEngine.connect(redis.url(), "test:", StoreLimits.builder().build())) {
      Conditions.await("the warning", () -> !warnings().isEmpty(), Duration.ofSeconds(10));
      String message = warnings().get(0).getFormattedMessage();
      assertTrue(message.startsWith("Redis at redis://127.0.0.1:"), message);
      assertTrue(message.contains("Set aof-load-truncated no"), message);
      assertTrue(message.contains("redis-check-aof --fix"), message);
    }
  }

  @Test
  void aNodeConnectingToAClusterWarnsAboutEachMasterAndEachReplicaThatLoadsTornFilesInPart() {
    try (RedisClusterProcess.Private cluster = RedisClusterProcess.startPrivateWithReplicas()) {
      List<String> nodes = new ArrayList<>(cluster.seeds());
      nodes.addAll(cluster.replicas());
      for (String url : nodes) {
        RedisClient client = RedisClient.create(url);
        try (StatefulRedisConnection<String, String> c = client.connect()) {
          c.sync().configSet("appendonly", "yes");
          c.sync().configSet("aof-load-truncated", "yes");
          // A node writing its first append-only file refuses to shut down: let it finish.
          Conditions.await(
              url + " wrote its first append-only file",
              () -> {
                String info = c.sync().info("persistence");
                return info.contains("aof_rewrite_in_progress:0")
                    && info.contains("aof_rewrite_scheduled:0");
              },
              Duration.ofSeconds(30));
        } finally {
          client.shutdown();
        }
      }
      try (RedisEngine engine =
          RedisEngine.connectCluster(cluster.seeds(), "test:", StoreLimits.builder().build())) {
        Conditions.await(
            "a warning for each of the six nodes",
            () -> warnings().size() == nodes.size(),
            Duration.ofSeconds(10));
        Set<String> named = new TreeSet<>();
        for (ILoggingEvent warning : warnings()) {
          String message = warning.getFormattedMessage();
          // "Redis Cluster master 127.0.0.1:7000 keeps ...": the role is as the topology said at
          // connect time (a replica just started may still be listed as a master), so not compared.
          String node = message.substring(0, message.indexOf(" keeps "));
          assertTrue(node.matches("Redis Cluster (master|replica) .*"), node);
          named.add(node.substring(node.lastIndexOf(' ') + 1));
        }
        Set<String> expected = new TreeSet<>();
        cluster.seeds().forEach(u -> expected.add(hostAndPort(u)));
        cluster.replicas().forEach(u -> expected.add(hostAndPort(u)));
        assertEquals(expected, named);
      }
    }
  }

  private static String hostAndPort(String url) {
    return url.substring("redis://".length());
  }

  @Test
  void onlyARedisWithAnAppendOnlyFileThatLoadsTornFilesInPartIsWarnedAbout() throws Exception {
    assertTrue(checked(TEARS));
    assertFalse(
        checked(
            List.of(
                "appendonly yes", "appendfsync everysec", "save \"\"", "aof-load-truncated no")));
    assertFalse(checked(List.of("appendonly no", "save \"\"", "aof-load-truncated yes")));
    assertEquals(1, warnings().size(), warnings().toString());
  }

  @Test
  void aRedisThatMayEvictKeysIsWarnedAboutAndOneThatMayNotIsNot() throws Exception {
    try (RedisProcess redis =
        RedisProcess.start(
            List.of("save \"\"", "maxmemory 64mb", "maxmemory-policy volatile-lru"))) {
      RedisClient client = RedisClient.create(redis.url());
      try (StatefulRedisConnection<String, String> c = client.connect()) {
        assertTrue(PersistenceCheck.evictionCheck("evicting", c.async()).get(10, TimeUnit.SECONDS));
        c.sync().configSet("maxmemory-policy", "noeviction");
        assertFalse(PersistenceCheck.evictionCheck("full", c.async()).get(10, TimeUnit.SECONDS));
        c.sync().configSet("maxmemory-policy", "allkeys-lru");
        c.sync().configSet("maxmemory", "0");
        assertFalse(
            PersistenceCheck.evictionCheck("unbounded", c.async()).get(10, TimeUnit.SECONDS));
      } finally {
        client.shutdown();
      }
    }
    List<ILoggingEvent> warned = warnings();
    assertEquals(1, warned.size(), warned.toString());
    assertTrue(warned.get(0).getFormattedMessage().contains("noeviction"), warned.toString());
  }

  @Test
  void aRedisThatRefusesConfigOrCannotBeReachedIsNotChecked() throws Exception {
    assertFalse(checked(List.of("appendonly yes", "save \"\"", "rename-command CONFIG \"\"")));
    assertFalse(
        PersistenceCheck.check("nowhere", CompletableFuture.failedFuture(new Exception("down")))
            .get(10, TimeUnit.SECONDS));
    assertEquals(List.of(), warnings());
  }

  private static boolean checked(List<String> settings) throws Exception {
    try (RedisProcess redis = RedisProcess.start(settings)) {
      RedisClient client = RedisClient.create(redis.url());
      try (StatefulRedisConnection<String, String> c = client.connect()) {
        return PersistenceCheck.check(redis.url(), CompletableFuture.completedFuture(c.async()))
            .get(10, TimeUnit.SECONDS);
      } finally {
        client.shutdown();
      }
    }
  }

  private List<ILoggingEvent> warnings() {
    synchronized (events) { // the appender appends under its own lock, from Lettuce's threads
      return events.events().stream().filter(e -> e.getLevel() == Level.WARN).toList();
    }
  }
}
