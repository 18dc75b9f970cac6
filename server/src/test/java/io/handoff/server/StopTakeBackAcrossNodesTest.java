package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.Hello;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.redis.RedisEngine;
import io.handoff.server.handoff.HandoffLimits;
import io.lettuce.core.api.StatefulRedisConnection;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A node stops while a resume's script ran in Redis (the device online there) but its answer has
 * not reached the node: the stopping node takes the device back, and the user's devices on another
 * node, which read the device online meanwhile, must be told it went offline at once, as a drained
 * node's devices are, not at their node's next presence re-read. The stopping node's link to Redis
 * (a proxy) loses every answer from the resume script on, so the node never hears whether its
 * take-back changed the entry; the other node's timers stand still, so no presence re-read tells
 * its device anything.
 */
class StopTakeBackAcrossNodesTest {
  // Far past the test: only a push can tell the watch the laptop went offline.
  private static final Duration PRESENCE_TTL = Duration.ofMinutes(10);

  private final Nodes nodes = new Nodes();

  @AfterEach
  void tearDown() {
    nodes.close();
  }

  @Test
  void theUsersDevicesOnAnotherNodeAreToldOfflineADeviceTakenBackByAStoppingNode()
      throws Exception {
    String url = RedisProcess.sharedUrl();
    ChaosProxy link = nodes.add(new ChaosProxy(Integer.parseInt(url.split(":")[2])));
    HandoffServer stopping =
        nodes.redis(
            "redis://127.0.0.1:" + link.port(),
            "stopping",
            Clock.systemUTC(),
            b ->
                b.drainTimeout(Duration.ZERO)
                    .closeTimeout(Duration.ofMillis(1))
                    .handoffLimits(HandoffLimits.builder().presenceTtl(PRESENCE_TTL).build()));
    StoreLimits limits = StoreLimits.builder().build();
    RedisEngine otherEngine = nodes.add(RedisEngine.connect(url, nodes.prefix, limits));
    HandoffServer other =
        nodes.add(
            HandoffServer.start(
                ServerConfig.builder()
                    .host("127.0.0.1")
                    .port(0)
                    .nodeId("other")
                    .jwtSecret(TestServer.SECRET)
                    .storeLimits(limits)
                    .handoffLimits(HandoffLimits.builder().presenceTtl(PRESENCE_TTL).build())
                    .build(),
                otherEngine,
                new FakeScheduler()));
    StatefulRedisConnection<String, String> control = nodes.control(url);
    String presenceKey = nodes.presenceKey("u");

    // The phone keeps the user's channel subscribed on the stopping node: the laptop's Hello there
    // is one store call, its resume script.
    TestDevice phone =
        nodes.add(TestDevice.connect(stopping.port(), TestServer.token("u", "phone")));
    assertTrue(phone.hello().hasWelcome());

    link.loseAnswersAfter("laptop".getBytes(StandardCharsets.UTF_8));
    TestDevice laptop =
        nodes.add(TestDevice.connect(stopping.port(), TestServer.token("u", "laptop")));
    laptop.send(ClientFrame.newBuilder().setHello(Hello.getDefaultInstance()));
    Conditions.await(
        "the laptop's resume script ran",
        () -> {
          String entry = control.sync().hget(presenceKey, "laptop");
          return entry != null && entry.startsWith("1|");
        },
        Duration.ofSeconds(10),
        Duration.ofMillis(5));

    // The watch, on the other node, reads the laptop online.
    TestDevice watch =
        nodes
            .add(TestDevice.connect(other.port(), TestServer.token("u", "watch")))
            .presenceFrames();
    assertTrue(
        watch.hello().getWelcome().getPresenceList().stream()
            .anyMatch(p -> p.getDeviceId().equals("laptop") && p.getOnline()),
        "the watch reads the laptop online");

    stopping.close();
    Conditions.await(
        "the stopping node took the laptop back",
        () -> control.sync().hget(presenceKey, "laptop").startsWith("0|"),
        Duration.ofSeconds(10),
        Duration.ofMillis(5));

    HeldResumes.toldOffline(watch, "laptop");
  }
}
