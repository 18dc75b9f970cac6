package io.handoff.server.engine.redis;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.handoff.server.Conditions;
import io.handoff.server.RedisProcess;
import io.handoff.server.engine.Engine;
import io.handoff.server.engine.ResumeStore;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.sync.FollowFilter;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A resume whose script Redis refused with temporary trouble (a replica's READONLY) waits on its
 * event loop to be sent again when the node stops: the stop takes it back, and the script must not
 * be sent after that take-back, or Redis, writable again, runs the take-back and then the script,
 * and the device of a stopped node reads online until its presence deadline. Real epoll loops, a
 * real Redis made a replica (of nothing) and a primary again; the loops outlive the unbinding, as
 * they do for the moments a stopping node closes the loops' Redis connections.
 */
class RedisResumeRetryTakeBackTest {
  private final MultiThreadIoEventLoopGroup loops =
      Epoll.isAvailable() ? new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory()) : null;
  private final RedisProcess redis = RedisProcess.start();
  private RedisEngine engine;
  private Engine.LoopBinding binding = Engine.LoopBinding.NONE;

  @AfterEach
  void stop() {
    binding.close();
    if (engine != null) {
      engine.close();
    }
    if (loops != null) {
      loops.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS).syncUninterruptibly();
    }
    redis.close();
  }

  @Test
  void aResumeWaitingToBeSentAgainWhenTheNodeStopsIsNotSentAfterItsTakeBack() throws Exception {
    assumeTrue(Epoll.isAvailable(), "epoll is not offered here");
    String prefix = "test-" + UUID.randomUUID() + ":";
    engine = RedisEngine.connect(redis.url(), prefix, StoreLimits.builder().build());
    binding = engine.bindLoops(loops, "epoll");
    try (RedisClient admin = RedisClient.create(redis.url());
        StatefulRedisConnection<String, String> control = admin.connect()) {
      int nowhere;
      try (ServerSocket s = new ServerSocket(0)) {
        nowhere = s.getLocalPort();
      }
      control.sync().replicaof("127.0.0.1", nowhere);

      ResumeStore.Request r =
          new ResumeStore.Request(
              "u", "laptop", "", FollowFilter.all(), List.of(), 7, Duration.ofMinutes(10), 4);
      CompletableFuture<ResumeStore.Resumed> resumed =
          loops.next().submit(() -> engine.resume(r)).get(5, TimeUnit.SECONDS);
      Conditions.await(
          "the resume refused as a replica's, to be sent again",
          () -> control.sync().info("errorstats").contains("errorstat_ERR"),
          Duration.ofSeconds(10),
          Duration.ofMillis(5));
      assertFalse(resumed.isDone(), "still waiting to be sent again");

      binding.close(); // The node stops: the take-back, then the loops' connections closed.
      binding = Engine.LoopBinding.NONE;
      control.sync().replicaofNoOne();

      Conditions.await("the resume answered or given up", resumed::isDone, Duration.ofSeconds(20));
      String entry = control.sync().hget(prefix + "{u}:pr", "laptop");
      assertFalse(
          entry != null && entry.startsWith("1|"),
          "the laptop of a stopped node reads online: " + entry);
    }
  }
}
