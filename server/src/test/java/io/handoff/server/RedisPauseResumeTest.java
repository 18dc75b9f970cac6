package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.DevicePresence;
import io.handoff.protocol.v1.Hello;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.redis.RedisEngine;
import io.handoff.server.handoff.HandoffLimits;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import java.util.function.IntFunction;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Redis hung (SIGSTOP) while devices resume, then back (SIGCONT). A resume's script that times out
 * on the node stays queued in Redis and runs when Redis comes back.
 *
 * <ul>
 *   <li>It marks its device online through a connection the node already closed (4005): the node
 *       takes that mark back on the same Redis connection, so it lands after the held script, and
 *       the device reads offline, in the store and to the user's other devices, long before the
 *       presence deadline the script set.
 *   <li>Every read sent after it would be held too (a resume script, or a new user's subscription
 *       on the same connection): once reads time out, the node's line sends one at a time and
 *       refuses the others at once, instead of sending its whole bound again at each timeout.
 * </ul>
 *
 * On a real Redis process, with the loops' own connections (the default).
 */
class RedisPauseResumeTest {
  // Far past the test: a device the store holds online reads online for the whole test.
  private static final Duration PRESENCE_TTL = Duration.ofMinutes(10);

  private final Nodes nodes = new Nodes();
  private final RedisProcess redis = nodes.add(RedisProcess.start());

  @AfterEach
  void tearDown() {
    nodes.close();
  }

  @Test
  void aResumeThatTimedOutWhileRedisWasPausedLeavesNoDeviceOnlineOnceRedisRunsIt()
      throws Exception {
    HandoffServer node =
        node(b -> b.handoffLimits(HandoffLimits.builder().presenceTtl(PRESENCE_TTL).build()));

    // The phone is online, so the user's channel is subscribed before Redis hangs.
    TestDevice phone = nodes.add(TestDevice.connect(node.port(), TestServer.token("u", "phone")));
    assertTrue(phone.hello().hasWelcome());

    redis.pause();
    // The resume's script times out on the node (Redis holds it): the laptop is closed, unwelcomed.
    HeldResumes.timedOut(nodes, node, "u", "laptop");
    Conditions.await(
        "the node closed the laptop's connection",
        () -> node.stats().connectionsClosed.sum() == 1,
        Duration.ofSeconds(10));
    redis.resume();

    // Redis runs the held script, which writes the laptop's entry; it must end offline.
    String entry = HeldResumes.awaitOfflineEntry(nodes, redis, "u", "laptop");

    // What the user's devices are told: a device welcomed now reads the laptop offline.
    TestDevice tablet = nodes.add(TestDevice.connect(node.port(), TestServer.token("u", "tablet")));
    ServerFrame welcome = tablet.hello();
    DevicePresence laptopSeen =
        welcome.getWelcome().getPresenceList().stream()
            .filter(p -> p.getDeviceId().equals("laptop"))
            .findFirst()
            .orElse(null);
    assertFalse(
        laptopSeen != null && laptopSeen.getOnline(),
        "the laptop, closed unwelcomed, reads online: " + laptopSeen + " (entry " + entry + ")");
  }

  @Test
  void resumesTimingOutInAPausedRedisStopTheLineSendingItMore() throws Exception {
    pileUp(i -> "u");
  }

  /**
   * Devices of users new to the node: each Hello's first store call is the subscription to its
   * user's channel, which the paused Redis holds on the loop's connection, as it holds scripts.
   */
  @Test
  void subscriptionsTimingOutInAPausedRedisStopTheLineSendingMore() throws Exception {
    pileUp(i -> "new" + i);
  }

  /**
   * {@code devices} Hellos against a bound of 2 in a paused Redis, device i of user {@code
   * userOf(i)}: once the first reads time out, the rest are refused unsent.
   */
  private void pileUp(IntFunction<String> userOf) throws Exception {
    int inFlight = 2;
    int devices = 16;
    HandoffServer node =
        node(
            b ->
                b.connectRatePerAddress(0, 1)
                    .maxConnectionsPerUser(devices + 1)
                    .maxResumes(inFlight, devices));
    // User u's channel is subscribed before Redis hangs: each Hello of u's devices has one store
    // call, its resume script.
    TestDevice phone = nodes.add(TestDevice.connect(node.port(), TestServer.token("u", "phone")));
    assertTrue(phone.hello().hasWelcome());
    List<TestDevice> all = new ArrayList<>();
    for (int i = 0; i < devices; i++) {
      all.add(
          nodes.add(TestDevice.connect(node.port(), TestServer.token(userOf.apply(i), "d" + i))));
    }

    redis.pause();
    for (TestDevice d : all) {
      d.send(ClientFrame.newBuilder().setHello(Hello.getDefaultInstance()));
    }
    Conditions.await(
        "every device closed while Redis holds what was sent",
        () -> all.stream().allMatch(TestDevice::isClosed),
        Duration.ofSeconds(90),
        Duration.ofMillis(10));
    for (TestDevice d : all) {
      assertEquals(CloseCode.UNAVAILABLE.code(), d.awaitClose());
    }
    // Store calls sent and timed out: each is held in Redis, to run when it resumes.
    long held = node.stats().resumesFailed.sum();
    long refused = node.stats().resumesRefused.sum();
    redis.resume();
    String seen =
        held + " resume reads left held in the paused Redis, " + refused + " Hellos refused unsent";
    System.out.println("RedisPauseResumeTest: " + seen + ", of " + devices);
    // The first ones the line sent; then, the store timing them out, it sends no more (a Hello
    // handled only after they timed out may be sent alone, as the one read at a time).
    assertTrue(held <= inFlight + 1, seen);
    assertEquals(devices, held + refused, seen);

    // Redis answers again: the line opens at the first read it answers, and every device resumes.
    for (int i = 0; i < devices; i++) {
      try (TestDevice again =
          TestDevice.connect(node.port(), TestServer.token(userOf.apply(i), "d" + i))) {
        assertTrue(again.hello().hasWelcome(), "device " + i + " resumes once Redis is back");
      }
    }
  }

  /** A node on the test's Redis, with default store limits, as {@code customize} sets it. */
  private HandoffServer node(Consumer<ServerConfig.Builder> customize) throws Exception {
    StoreLimits limits = StoreLimits.builder().build();
    return nodes.start(
        "n1",
        RedisEngine.connect(redis.url(), nodes.prefix, limits),
        b -> customize.accept(b.storeLimits(limits)));
  }
}
