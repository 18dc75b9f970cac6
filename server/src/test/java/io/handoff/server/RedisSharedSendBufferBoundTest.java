package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.FollowSpec;
import io.handoff.protocol.v1.Hello;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.redis.RedisEngine;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.time.Clock;
import java.time.Duration;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * {@link RedisSendBufferBoundTest} for the node's shared Redis client, which carries the writes
 * when Redis I/O is not on the node's loops ({@code --no-redis-on-loops}, loops not on epoll, a
 * Redis Cluster): while Redis, or one Cluster shard, is hung (SIGSTOP), past 32 MiB waiting in the
 * send buffer to it a document write to it is refused {@code UNAVAILABLE} unsent, so the bytes
 * waiting stay within 32 MiB and the writes in flight when it passed the bound; writes to the
 * Cluster's other shards are still applied; once Redis runs again, writes are applied again. The
 * shared client's threads end with the engine.
 */
class RedisSharedSendBufferBoundTest {
  private final Nodes nodes = new Nodes();
  private String pausedPid; // stopped with SIGSTOP, until resumed

  @AfterEach
  void tearDown() throws Exception {
    resume();
    nodes.close();
  }

  private void pause(String url) throws Exception {
    String pid = RedisSignals.pid(url);
    RedisSignals.signal("-STOP", pid);
    pausedPid = pid;
  }

  private void resume() throws Exception {
    if (pausedPid != null) {
      RedisSignals.signal("-CONT", pausedPid);
      pausedPid = null;
    }
  }

  @Test
  void writesPastTheSharedSendBuffersBoundAreRefusedUnsentWhileRedisIsHung() throws Exception {
    RedisProcess redis = nodes.add(RedisProcess.startInMemory());
    Set<Thread> before = lettuceThreads();
    // 1,000 writes of 60 KiB in flight (the count bound) is past the send buffer's bound.
    HandoffServer n =
        nodes.redis(
            redis.url(),
            "n1",
            Clock.systemUTC(),
            b -> b.maxInFlightWriteBytes(1L << 30, 1L << 30).redisOnLoops(false));
    SendBufferFlood phone = SendBufferFlood.connect(n, "u1");
    try (TestDevice device = phone.device()) {
      assertNull(
          ((RedisEngine) n.engine()).subscriberLoop("u1"), "Redis I/O on the engine's threads");
      pause(redis.url());
      int refused = phone.untilRefused();
      phone.withinBound(inFlight(n));
      assertTrue(n.stats().writesRefused.sum() >= refused, "refusals counted");

      resume();
      phone.appliedAgain();
    }
    endsItsThreads(before);
  }

  @Test
  void onARedisClusterOnlyTheHungShardsWritesAreRefused() throws Exception {
    onlyTheHungShardsWritesAreRefused(nodes.add(RedisClusterProcess.startPrivate()));
  }

  /**
   * The same with a Cluster whose topology names its nodes by IPv6 address ({@code ::1}, as Redis
   * writes it), which the connections' addresses spell {@code 0:0:0:0:0:0:0:1}.
   */
  @Test
  @Tag("fault") // A second Cluster, on IPv6: in the faults profile; the IPv4 Cluster's case runs by
  // default.
  void onARedisClusterAnnouncingIpv6OnlyTheHungShardsWritesAreRefused() throws Exception {
    assumeTrue(ipv6Loopback(), "no IPv6 loopback here");
    onlyTheHungShardsWritesAreRefused(nodes.add(RedisClusterProcess.startPrivateAnnouncingIpv6()));
  }

  private void onlyTheHungShardsWritesAreRefused(RedisClusterProcess.Private cluster)
      throws Exception {
    // A user on the shard to hang, and one on another shard.
    String hungSeed = cluster.seeds().get(cluster.seeds().size() - 1);
    RedisClusterProcess.Split split = cluster.split(1);
    String onHung = split.onLastSeed().get(0);
    String elsewhere = split.elsewhere();
    Set<Thread> before = lettuceThreads();
    StoreLimits limits = StoreLimits.builder().build();
    HandoffServer n =
        nodes.start(
            "n1",
            RedisEngine.connectCluster(cluster.seeds(), nodes.prefix, limits),
            b -> b.storeLimits(limits).maxInFlightWriteBytes(1L << 30, 1L << 30));
    SendBufferFlood phone = SendBufferFlood.connect(n, onHung);
    try (TestDevice device = phone.device();
        TestDevice other = TestDevice.connect(n.port(), TestServer.token(elsewhere, "phone"))) {
      other.hello(Hello.newBuilder().setFollow(FollowSpec.getDefaultInstance()).build());
      pause(hungSeed);
      int refused = phone.untilRefused();
      phone.withinBound(inFlight(n));
      assertTrue(n.stats().writesRefused.sum() >= refused, "refusals counted");

      // The hung shard's full buffer refuses nothing to the others, while it still refuses.
      ServerFrame applied = other.answerTo(other.write("elsewhere", 1, "v", SendBufferFlood.KB60));
      assertTrue(applied.hasAck(), applied.toString());
      ServerFrame still = device.answerTo(device.write("still", 1_000_000, "v", "x"));
      assertEquals(ErrorCode.UNAVAILABLE, still.getError().getCode(), still.toString());

      resume();
      phone.appliedAgain();
    }
    endsItsThreads(before);
  }

  /**
   * The writes a node holds in flight at most: the shared client is written from other threads than
   * its own, so writes handed to its thread before it encoded the one that passed the mark are sent
   * too.
   */
  private static long inFlight(HandoffServer n) {
    return n.config().maxInFlightWrites() * (SendBufferFlood.KB60.length() + 4096L);
  }

  private static boolean ipv6Loopback() {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getByName("::1"))) {
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  private static Set<Thread> lettuceThreads() {
    return Thread.getAllStackTraces().keySet().stream()
        .filter(t -> t.getName().startsWith("lettuce-"))
        .collect(Collectors.toSet());
  }

  /**
   * Stops the node and its engine, and waits until every Redis client thread started since {@code
   * before} ended: the shared client's own resources are shut down with it.
   */
  private void endsItsThreads(Set<Thread> before) throws Exception {
    resume();
    nodes.close();
    Conditions.await(
        "the engine's Redis threads ended",
        () -> {
          Set<Thread> now = lettuceThreads();
          now.removeAll(before);
          return now.isEmpty();
        },
        Duration.ofSeconds(30),
        Duration.ofMillis(50));
  }
}
