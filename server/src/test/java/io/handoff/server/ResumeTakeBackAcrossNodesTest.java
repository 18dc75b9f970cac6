package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.Hello;
import io.handoff.server.handoff.HandoffLimits;
import io.lettuce.core.api.StatefulRedisConnection;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A resume whose script timed out on one node runs late in Redis, after its device came online
 * through a new connection on another node: the held script marks the device online through the old
 * connection, and the node takes that mark back behind it (offline, last seen at the failed
 * resume's time, on its node's clock). The device is live on the other node, which refreshes its
 * presence: it must read online again within the keeper's period, whichever node's clock is ahead.
 * The delay is a link (a proxy) that holds what the first node sends to Redis; node clocks differ
 * by 10 s, more than the few seconds between the failed resume and the new connection, and inside
 * what the nodes tolerate elsewhere (tokens' 30 s skew).
 */
class ResumeTakeBackAcrossNodesTest {
  private static final Duration PRESENCE_TTL = Duration.ofSeconds(3);

  private final Nodes nodes = new Nodes();

  @AfterEach
  void tearDown() {
    nodes.close();
  }

  @Test
  void aDeviceLiveOnANodeBehindInTimeReadsOnlineAgainAfterAnotherNodesLateResumeIsTakenBack()
      throws Exception {
    String url = RedisProcess.sharedUrl();
    ChaosProxy link = nodes.add(new ChaosProxy(Integer.parseInt(url.split(":")[2])));
    Consumer<ServerConfig.Builder> presence =
        b -> b.handoffLimits(HandoffLimits.builder().presenceTtl(PRESENCE_TTL).build());
    HandoffServer ahead =
        nodes.redis(
            "redis://127.0.0.1:" + link.port(),
            "ahead",
            Clock.offset(Clock.systemUTC(), Duration.ofSeconds(10)),
            presence);
    HandoffServer behind = nodes.redis(url, "behind", Clock.systemUTC(), presence);
    StatefulRedisConnection<String, String> control = nodes.control(url);
    String presenceKey = nodes.presenceKey("u");

    // The phone keeps the user's channel subscribed on the first node: the laptop's resume there
    // is one script.
    TestDevice phone = nodes.add(TestDevice.connect(ahead.port(), TestServer.token("u", "phone")));
    assertTrue(phone.hello().hasWelcome());

    link.holdUpstream(true);
    TestDevice first = nodes.add(TestDevice.connect(ahead.port(), TestServer.token("u", "laptop")));
    first.send(ClientFrame.newBuilder().setHello(Hello.getDefaultInstance()));
    assertEquals(CloseCode.UNAVAILABLE.code(), first.awaitClose());
    // The take-back ("down") is held behind the script, as a paused Redis would hold both.
    Conditions.await(
        "the node sent the take-back of the failed resume",
        () ->
            link.holds("down".getBytes(StandardCharsets.UTF_8))
                || link.holds("back".getBytes(StandardCharsets.UTF_8)),
        Duration.ofSeconds(10));

    // The laptop reconnects to the other node and is welcomed there: online through that one.
    TestDevice second =
        nodes.add(TestDevice.connect(behind.port(), TestServer.token("u", "laptop")));
    assertTrue(second.hello().hasWelcome());
    String live = control.sync().hget(presenceKey, "laptop");
    assertTrue(live != null && live.startsWith("1|"), "online through the new connection: " + live);
    String liveConnection = live.split("\\|")[1];

    // The link lets the held script and its take-back through. Redis's MONITOR says when it ran
    // the take-back: the entry it leaves lasts only until the second node's keeper refreshes it
    // (within a second), too short a window to catch by reading on a loaded machine.
    AtomicReference<String> entry = new AtomicReference<>();
    try (Socket monitor = new Socket("127.0.0.1", Integer.parseInt(url.split(":")[2]))) {
      monitor.setSoTimeout(10_000);
      monitor.getOutputStream().write("MONITOR\r\n".getBytes(StandardCharsets.US_ASCII));
      BufferedReader executed =
          new BufferedReader(
              new InputStreamReader(monitor.getInputStream(), StandardCharsets.UTF_8));
      assertEquals("+OK", executed.readLine());
      link.holdUpstream(false);
      String line;
      do {
        line = executed.readLine(); // Throws after 10 s without a command run.
        assertTrue(line != null, "Redis closed the monitor before the take-back ran");
        // The take-back goes whole (EVAL), its action "down"; the node's other calls go by SHA.
      } while (!(line.contains("\"EVAL\"") && line.contains("down")));
    }

    // The laptop is connected to the second node, which keeps its presence every second.
    try {
      Conditions.await(
          "the laptop, connected, reads online again",
          () -> {
            entry.set(control.sync().hget(presenceKey, "laptop"));
            return entry.get() != null && entry.get().startsWith("1|" + liveConnection + "|");
          },
          Duration.ofSeconds(20),
          Duration.ofMillis(50));
    } catch (AssertionError e) {
      throw new AssertionError(
          e.getMessage() + "; the entry (online|connection|seen|deadline): " + entry.get(), e);
    }
    assertTrue(!second.isClosed(), "the laptop's connection is still open");
  }
}
