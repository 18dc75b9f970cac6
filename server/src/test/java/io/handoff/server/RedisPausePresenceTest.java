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
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Redis hung (SIGSTOP) while a device resumes: the resume's script times out on the node, which
 * closes the device's connection with 4005, but the script stays queued in Redis and runs when
 * Redis comes back (SIGCONT), marking the device online through a connection the node already
 * closed. The node takes that mark back on the same Redis connection, so it lands after the held
 * script: the device reads offline, in the store and to the user's other devices, long before the
 * presence deadline the script set. On a real Redis process, with the loops' own connections (the
 * default).
 */
class RedisPausePresenceTest {
  // Far past the test: a device the store holds online reads online for the whole test.
  private static final Duration PRESENCE_TTL = Duration.ofMinutes(10);

  private final Nodes nodes = new Nodes();
  private final RedisProcess redis = nodes.add(RedisProcess.start());
  private String pausedPid;

  @AfterEach
  void tearDown() {
    if (pausedPid != null) {
      RedisProcess.signal("-CONT", pausedPid);
    }
    nodes.close();
  }

  @Test
  void aResumeThatTimedOutWhileRedisWasPausedLeavesNoDeviceOnlineOnceRedisRunsIt()
      throws Exception {
    StoreLimits limits = StoreLimits.builder().build();
    HandoffServer node =
        nodes.start(
            "n1",
            RedisEngine.connect(redis.url(), nodes.prefix, limits),
            b ->
                b.storeLimits(limits)
                    .handoffLimits(HandoffLimits.builder().presenceTtl(PRESENCE_TTL).build()));
    RedisClient admin = RedisClient.create(redis.url());
    nodes.add(admin::shutdown);
    StatefulRedisConnection<String, String> control = admin.connect();
    nodes.add(control::close);
    String presenceKey = nodes.prefix + "{u}:pr";

    // The phone is online, so the user's channel is subscribed before Redis hangs.
    TestDevice phone = nodes.add(TestDevice.connect(node.port(), TestServer.token("u", "phone")));
    assertTrue(phone.hello().hasWelcome());

    String pid = redis.pid();
    RedisProcess.signal("-STOP", pausedPid = pid);
    TestDevice laptop = nodes.add(TestDevice.connect(node.port(), TestServer.token("u", "laptop")));
    laptop.send(ClientFrame.newBuilder().setHello(Hello.getDefaultInstance()));
    // The resume's script times out on the node (Redis holds it): the laptop is closed, unwelcomed.
    assertEquals(CloseCode.UNAVAILABLE.code(), laptop.awaitClose());
    Conditions.await(
        "the node closed the laptop's connection",
        () -> node.stats().connectionsClosed.sum() == 1,
        Duration.ofSeconds(10));
    RedisProcess.signal("-CONT", pid);
    pausedPid = null;

    // Redis runs the held script, which writes the laptop's entry; it must end offline.
    AtomicReference<String> entry = new AtomicReference<>();
    try {
      Conditions.await(
          "the laptop's presence entry written by the held script, and offline",
          () -> {
            entry.set(control.sync().hget(presenceKey, "laptop"));
            return entry.get() != null && entry.get().startsWith("0|");
          },
          Duration.ofSeconds(20),
          Duration.ofMillis(10));
    } catch (AssertionError e) {
      throw new AssertionError(
          e.getMessage() + "; the entry (online|connection|seen|deadline): " + entry.get(), e);
    }

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
}
