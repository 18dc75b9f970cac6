package io.handoff.server;

import io.handoff.client.HandoffClient;
import io.handoff.client.HandoffListener;
import io.handoff.server.engine.Engine;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.memory.MemoryEngine;
import io.handoff.server.engine.redis.RedisEngine;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.cluster.RedisClusterClient;
import io.lettuce.core.cluster.api.StatefulRedisClusterConnection;
import java.time.Clock;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * Nodes of one test on a shared Redis (standalone or Cluster) under a key prefix of their own, or
 * on an in-memory engine each, and everything else the test opened; {@link #close()} stops all of
 * it, last opened first, once it resumed any {@link RedisProcess} of it and any process {@link
 * #pause paused} through it a test left paused (so that the nodes close against a Redis that
 * answers).
 */
final class Nodes implements AutoCloseable {
  private final List<AutoCloseable> closeables = new ArrayList<>();
  private final Set<String> paused = new LinkedHashSet<>();
  final String prefix = "test-" + UUID.randomUUID() + ":";

  /** A node on the standalone Redis at {@code redisUrl}. */
  HandoffServer redis(String redisUrl, String name) throws Exception {
    return redis(redisUrl, name, Clock.systemUTC(), b -> {});
  }

  HandoffServer redis(
      String redisUrl, String name, Clock clock, Consumer<ServerConfig.Builder> customize)
      throws Exception {
    return start(
        name,
        RedisEngine.connect(redisUrl, prefix, StoreLimits.builder().build(), clock),
        customize);
  }

  /** A node on an in-memory engine of its own, on {@code clock}. */
  HandoffServer memory(String name, Clock clock, Consumer<ServerConfig.Builder> customize)
      throws Exception {
    return start(name, new MemoryEngine(StoreLimits.builder().build(), clock), customize);
  }

  /** A node on the standalone Redis at {@code redisUrl} with {@code limits} (engine and node). */
  HandoffServer redis(String redisUrl, String name, StoreLimits limits) throws Exception {
    return start(name, RedisEngine.connect(redisUrl, prefix, limits), b -> b.storeLimits(limits));
  }

  /** A node on the Redis Cluster reached through {@code seeds}, with {@code limits}. */
  HandoffServer cluster(List<String> seeds, String name, StoreLimits limits) throws Exception {
    return start(
        name, RedisEngine.connectCluster(seeds, prefix, limits), b -> b.storeLimits(limits));
  }

  /** A node on the tests' Redis Cluster. */
  HandoffServer cluster(String name) throws Exception {
    return cluster(RedisClusterProcess.sharedSeeds(), name);
  }

  /** A node on the Redis Cluster of {@code seeds}. */
  HandoffServer cluster(List<String> seeds, String name) throws Exception {
    return cluster(seeds, name, b -> {});
  }

  /**
   * A node on the Redis Cluster of {@code seeds}, with the default limits and then {@code
   * customize}.
   */
  HandoffServer cluster(List<String> seeds, String name, Consumer<ServerConfig.Builder> customize)
      throws Exception {
    return start(
        name, RedisEngine.connectCluster(seeds, prefix, StoreLimits.builder().build()), customize);
  }

  /** A node on {@code engine} (opened by the caller, closed with the nodes) with {@code limits}. */
  HandoffServer start(String name, Engine engine, StoreLimits limits) throws Exception {
    return start(name, engine, b -> b.storeLimits(limits));
  }

  HandoffServer start(String name, Engine engine, Consumer<ServerConfig.Builder> customize)
      throws Exception {
    return start(name, engine, Scheduler.system(), customize);
  }

  /** As {@link #start(String, Engine, Consumer)}, the node on {@code time}. */
  HandoffServer start(
      String name, Engine engine, Scheduler time, Consumer<ServerConfig.Builder> customize)
      throws Exception {
    add(engine);
    ServerConfig.Builder b =
        ServerConfig.builder().host("127.0.0.1").port(0).nodeId(name).jwtSecret(TestServer.SECRET);
    customize.accept(b);
    return add(HandoffServer.start(b.build(), engine, time));
  }

  /**
   * A client of {@code user}'s {@code device} at {@code url} (quick reconnects), connected, and
   * closed with the nodes.
   */
  HandoffClient client(String url, String user, String device, HandoffListener listener)
      throws Exception {
    HandoffClient c = TestServer.clientBuilder(url, user, device).listener(listener).build();
    add(c);
    c.connect().get(10, TimeUnit.SECONDS);
    return c;
  }

  /**
   * As {@link #client}, but only begun: its connection is added to {@code connects}, for {@link
   * #connected} to wait for with the others, so that many clients connect side by side (on a loaded
   * machine each connection's round trips wait for CPU, and a dozen one after another took
   * seconds).
   */
  HandoffClient connecting(
      String url,
      String user,
      String device,
      HandoffListener listener,
      List<CompletableFuture<Void>> connects) {
    HandoffClient c = add(TestServer.clientBuilder(url, user, device).listener(listener).build());
    connects.add(c.connect());
    return c;
  }

  /** Waits until every connection {@link #connecting} began is made. */
  static void connected(List<CompletableFuture<Void>> connects) throws Exception {
    CompletableFuture.allOf(connects.toArray(new CompletableFuture<?>[0]))
        .get(10, TimeUnit.SECONDS);
  }

  /** A connection of the test's own to the Redis at {@code url}, closed with the nodes. */
  StatefulRedisConnection<String, String> control(String url) {
    RedisClient admin = RedisClient.create(url);
    add(admin::shutdown);
    return add(admin.connect());
  }

  /**
   * A connection of the test's own to the Redis Cluster of {@code seeds}, closed with the nodes.
   */
  StatefulRedisClusterConnection<String, String> clusterControl(List<String> seeds) {
    RedisClusterClient admin =
        RedisClusterClient.create(seeds.stream().map(RedisURI::create).toList());
    add(admin::shutdown);
    return add(admin.connect());
  }

  /** The key of {@code user}'s presence hash (a field per device) under these nodes' prefix. */
  String presenceKey(String user) {
    return prefix + "{" + user + "}:pr";
  }

  /** Closes {@code c} with the nodes. */
  <T extends AutoCloseable> T add(T c) {
    closeables.add(c);
    return c;
  }

  /**
   * Pauses (SIGSTOP) the process {@code pid} (a Redis found by {@link RedisSignals#pid}) until
   * {@link #resume} or {@link #close()}; returns {@code pid}.
   */
  String pause(String pid) throws Exception {
    paused.add(pid);
    RedisSignals.signal("-STOP", pid);
    return pid;
  }

  /** Resumes (SIGCONT) the process {@code pid} that {@link #pause} paused. */
  void resume(String pid) throws Exception {
    RedisSignals.signal("-CONT", pid);
    paused.remove(pid);
  }

  /**
   * Stops everything; a process left paused that could not be resumed fails the test, once the rest
   * is stopped.
   */
  @Override
  public void close() {
    AssertionError notResumed = null;
    for (String pid : List.copyOf(paused)) {
      try {
        resume(pid);
      } catch (Exception | AssertionError e) {
        notResumed = new AssertionError("could not resume paused process " + pid, e);
      }
    }
    for (AutoCloseable c : closeables) {
      if (c instanceof RedisProcess r) {
        try {
          r.resume();
        } catch (RuntimeException gone) {
          // Stopped by the test since.
        }
      }
    }
    for (int i = closeables.size() - 1; i >= 0; i--) {
      try {
        closeables.get(i).close();
      } catch (Exception ignored) {
        // Already stopped by the test.
      }
    }
    closeables.clear();
    if (notResumed != null) {
      throw notResumed;
    }
  }
}
