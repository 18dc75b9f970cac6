package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.redis.RedisEngine;
import io.handoff.server.handoff.HandoffLimits;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Offline marks against a paused Redis (SIGSTOP): a disconnect's mark, sent by SHA to a Redis whose
 * script cache is empty (a restart, a failover, SCRIPT FLUSH), times out on the node, and Redis,
 * back, answers it NOSCRIPT to a node that gave up on it; a device gone while Redis held its
 * resume. On a real Redis process; the node's timers stand still, so no presence refresh tells the
 * devices anything meanwhile.
 */
class RedisOfflineMarkTest {
  // Far past the test: a device the store holds online reads online for the whole test.
  private static final Duration PRESENCE_TTL = Duration.ofMinutes(10);

  private final Nodes nodes = new Nodes();
  private final RedisProcess redis = nodes.add(RedisProcess.start());

  @AfterEach
  void tearDown() {
    nodes.close(); // Resumes the Redis first if a test left it paused.
  }

  /** Two Redis timeouts in a row (about 4 s): in the fault suite. */
  @Test
  @Tag("fault")
  void anOfflineMarkThatTimedOutInARedisWithoutThePresenceScriptStillMarksTheDeviceOffline()
      throws Exception {
    HandoffServer node = node();
    TestDevice phone =
        nodes.add(TestDevice.connect(node.port(), TestServer.token("u", "phone"))).presenceFrames();
    assertTrue(phone.hello().hasWelcome());
    TestDevice laptop = nodes.add(TestDevice.connect(node.port(), TestServer.token("u", "laptop")));
    assertTrue(laptop.hello().hasWelcome());
    // Redis's script cache emptied, as a restart or a failover to a replica empties it.
    try (RedisClient admin = RedisClient.create(redis.url());
        StatefulRedisConnection<String, String> control = admin.connect()) {
      control.sync().scriptFlush();
    }

    redis.pause();
    laptop.abort();
    Conditions.await(
        "the node saw the laptop's connection end (its offline mark sent)",
        () -> node.stats().connectionsClosed.sum() == 1,
        Duration.ofSeconds(10));
    // A resume sent after the laptop's offline mark times out after it: once the tablet is
    // closed, the mark has timed out too.
    HeldResumes.timedOut(nodes, node, "u", "tablet");
    redis.resume();

    // The laptop reads offline in Redis, and the phone is told so, as after any disconnect.
    HeldResumes.awaitOfflineEntry(nodes, redis, "u", "laptop");
    HeldResumes.toldOffline(phone, "laptop");
  }

  /**
   * The laptop's connection ends while the paused Redis holds its resume's script, and Redis comes
   * back before the script times out: the script marks the laptop online, the node marks it offline
   * again (its session closed), and the phone must end up told it is offline, not online.
   */
  @Test
  void aDeviceGoneWhileItsResumeWasHeldIsToldOfflineToItsUsersOtherDevices() throws Exception {
    HandoffServer node = node();
    TestDevice phone =
        nodes.add(TestDevice.connect(node.port(), TestServer.token("u", "phone"))).presenceFrames();
    // The user's channel is subscribed: the laptop's Hello has one store call, its script.
    assertTrue(phone.hello().hasWelcome());

    redis.pause();
    TestDevice laptop = HeldResumes.resumeSent(nodes, node, "u", "laptop");
    laptop.abort();
    Conditions.await(
        "the node saw the laptop's connection end",
        () -> node.stats().connectionsClosed.sum() == 1,
        Duration.ofSeconds(10));
    redis.resume();

    HeldResumes.awaitOfflineEntry(nodes, redis, "u", "laptop");
    HeldResumes.toldOffline(phone, "laptop");
  }

  private HandoffServer node() throws Exception {
    StoreLimits limits = StoreLimits.builder().build();
    RedisEngine engine = nodes.add(RedisEngine.connect(redis.url(), nodes.prefix, limits));
    ServerConfig config =
        ServerConfig.builder()
            .host("127.0.0.1")
            .port(0)
            .nodeId("n1")
            .jwtSecret(TestServer.SECRET)
            .storeLimits(limits)
            .handoffLimits(HandoffLimits.builder().presenceTtl(PRESENCE_TTL).build())
            .build();
    return nodes.add(HandoffServer.start(config, engine, new FakeScheduler()));
  }
}
