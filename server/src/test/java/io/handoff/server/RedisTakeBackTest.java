package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.DevicePresence;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.redis.RedisEngine;
import io.handoff.server.handoff.HandoffLimits;
import io.lettuce.core.api.StatefulRedisConnection;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * A resume script that timed out in a paused Redis (SIGSTOP) runs when Redis comes back (SIGCONT)
 * and marks its device online; the node's removal behind it marks it offline again and tells the
 * user's other devices so, as a disconnect does: a device that read the user's presence in between
 * saw the device online. On a real Redis process, with the loops' own connections; the node's
 * timers stand still, so no presence refresh tells the devices anything meanwhile.
 */
class RedisTakeBackTest {
  // Far past the test: a device the store holds online reads online for the whole test.
  private static final Duration PRESENCE_TTL = Duration.ofMinutes(10);

  private final Nodes nodes = new Nodes();
  private final RedisProcess redis = nodes.add(RedisProcess.start());
  private RedisEngine engine;

  @AfterEach
  void tearDown() {
    nodes.close(); // Resumes the Redis first if a test left it paused.
  }

  /**
   * A device that read the user's presence between the held script and its removal saw the laptop
   * online: the removal must push it offline, as a disconnect's offline mark does.
   */
  @Test
  void theRemovalOfADeviceMarkedOnlineByAHeldScriptTellsTheUsersOtherDevices() throws Exception {
    HandoffServer node = node();
    TestDevice phone =
        nodes.add(TestDevice.connect(node.port(), TestServer.token("u", "phone"))).presenceFrames();
    assertTrue(phone.hello().hasWelcome());

    redis.pause();
    HeldResumes.timedOut(nodes, node, "u", "laptop");
    redis.resume();

    // The held script marks the laptop online, its removal offline: the phone is told the latter.
    ServerFrame update = HeldResumes.toldOffline(phone, "laptop");
    DevicePresence laptopSeen =
        update.getPresenceUpdate().getDevicesList().stream()
            .filter(p -> p.getDeviceId().equals("laptop"))
            .findFirst()
            .orElseThrow();
    assertTrue(laptopSeen.getLastSeenMs() > 0, laptopSeen.toString());
  }

  /**
   * The removal itself waits in the paused Redis past its timeout, and Redis has never run the
   * presence script (a fresh one, or its script cache emptied by a restart or a failover): sent by
   * SHA, Redis would answer it NOSCRIPT when it comes back, to a node that gave up on it and so
   * cannot send it again whole, and the laptop would read online until its presence deadline. Two
   * Redis timeouts in a row (about 4 s): in the fault suite.
   */
  @Test
  @Tag("fault")
  void aRemovalThatTimesOutTooStillRunsInARedisWithoutThePresenceScript() throws Exception {
    HandoffServer node = node();
    TestDevice phone = nodes.add(TestDevice.connect(node.port(), TestServer.token("u", "phone")));
    // No device went offline yet: this Redis never ran the presence script (a resume runs its own).
    assertTrue(phone.hello().hasWelcome());

    redis.pause();
    HeldResumes.timedOut(nodes, node, "u", "laptop");
    // The laptop's removal was sent when its resume failed. Another resume, sent after it on the
    // same Redis connection, times out after it: once the tablet is closed, so is the removal.
    HeldResumes.timedOut(nodes, node, "u", "tablet");
    redis.resume();

    HeldResumes.awaitOfflineEntry(nodes, redis, "u", "laptop");
  }

  /**
   * The node stops while the paused Redis holds a resume's script, and its wait for the phone's
   * offline mark ends before the script times out: the script marks the laptop online when Redis
   * comes back, so the node must send the take-back behind it, through the same connection, before
   * it closes that connection. Sent once the closed connection failed the script, it went through
   * the node's shared connection, which Redis read first (a command waited there before the
   * script), and the laptop read online until its presence deadline.
   */
  @Test
  @Tag("fault")
  void aNodeThatStopsWhileAResumeScriptIsHeldTakesTheDeviceBackFirst() throws Exception {
    // No wait for writes in flight, a short close: the node is done waiting for the phone's offline
    // mark (which the paused Redis holds too) before the laptop's resume times out.
    HandoffServer node = node(Duration.ZERO, Duration.ofMillis(1));
    // A command on the node's shared Redis connection (sent from no event loop: a timer's retry),
    // held in the paused Redis before the laptop's script.
    laptopsResumeHeld(node, () -> engine.handoff().presence("u"));
    stopAndAwaitTheTakeBack(node);
  }

  /**
   * As above with the node's Redis I/O on the engine's own threads (--redis-on-loops off, as with
   * NIO loops or on a Redis Cluster, where nothing is bound to the loops): the stopping node must
   * take the held resume back all the same, through the shared connection that carried its script.
   * Once the engine closed that connection, the script's failure could send nothing (the node's
   * loops are stopped), and the laptop read online until its presence deadline.
   */
  @Test
  void aNodeWithRedisOffItsLoopsThatStopsWhileAResumeScriptIsHeldTakesTheDeviceBack()
      throws Exception {
    HandoffServer node = node(Duration.ZERO, Duration.ofMillis(1), false);
    laptopsResumeHeld(node, () -> {});
    stopAndAwaitTheTakeBack(node);
  }

  /**
   * abort() stops as a crash would: a crashed process sends nothing more, not the take-back of a
   * resume whose script the paused Redis holds either. When Redis comes back, the script marks the
   * laptop online, and it reads online (until its presence deadline), as after a real crash: the
   * fault tests that abort a node see what a crash leaves, not the kinder stop of close().
   */
  @Test
  void aNodeThatAbortsWhileAResumeScriptIsHeldSendsNoTakeBackAsACrashedOneCouldNot()
      throws Exception {
    HandoffServer node = node();
    laptopsResumeHeld(node, () -> {});
    node.abort();
    engine.close(); // Everything the node and its engine sent is on its way before Redis runs it.
    redis.resume();

    String presenceKey = nodes.presenceKey("u");
    StatefulRedisConnection<String, String> control = nodes.control(redis.url());
    AtomicReference<String> entry = new AtomicReference<>();
    Conditions.await(
        "the held script wrote the laptop's presence entry",
        () -> {
          entry.set(control.sync().hget(presenceKey, "laptop"));
          return entry.get() != null;
        },
        Duration.ofSeconds(20),
        Duration.ofMillis(10));
    // Read once Redis ran everything it held: a take-back the node sent is run by now too.
    entry.set(control.sync().hget(presenceKey, "laptop"));
    assertTrue(entry.get().startsWith("1|"), "online as the held script left it: " + entry.get());
  }

  /**
   * The phone of user u welcomed on {@code node} (the user's channel subscribed: the laptop's Hello
   * has one store call, its script), then Redis paused, {@code whilePaused} run, and the laptop's
   * Hello sent: registered, and its resume script sent in the same task of its event loop (before a
   * drain's), held in the paused Redis.
   */
  private void laptopsResumeHeld(HandoffServer node, Runnable whilePaused) throws Exception {
    TestDevice phone = nodes.add(TestDevice.connect(node.port(), TestServer.token("u", "phone")));
    assertTrue(phone.hello().hasWelcome());

    redis.pause();
    whilePaused.run();
    HeldResumes.resumeSent(nodes, node, "u", "laptop");
  }

  /**
   * {@code node} stops, and its engine closes as a stopping process's does (NodeRun), Redis still
   * paused; once Redis runs again, the held script's entry must end offline: taken back.
   */
  private void stopAndAwaitTheTakeBack(HandoffServer node) {
    node.close();
    engine.close();
    redis.resume();

    HeldResumes.awaitOfflineEntry(nodes, redis, "u", "laptop");
  }

  private HandoffServer node() throws Exception {
    return node(ServerConfig.DEFAULT_DRAIN_TIMEOUT, ServerConfig.DEFAULT_CLOSE_TIMEOUT);
  }

  private HandoffServer node(Duration drainTimeout, Duration closeTimeout) throws Exception {
    return node(drainTimeout, closeTimeout, true);
  }

  private HandoffServer node(Duration drainTimeout, Duration closeTimeout, boolean redisOnLoops)
      throws Exception {
    StoreLimits limits = StoreLimits.builder().build();
    engine = nodes.add(RedisEngine.connect(redis.url(), nodes.prefix, limits));
    ServerConfig config =
        ServerConfig.builder()
            .host("127.0.0.1")
            .port(0)
            .nodeId("n1")
            .jwtSecret(TestServer.SECRET)
            .drainTimeout(drainTimeout)
            .closeTimeout(closeTimeout)
            .redisOnLoops(redisOnLoops)
            .storeLimits(limits)
            .handoffLimits(HandoffLimits.builder().presenceTtl(PRESENCE_TTL).build())
            .build();
    return nodes.add(HandoffServer.start(config, engine, new FakeScheduler()));
  }
}
