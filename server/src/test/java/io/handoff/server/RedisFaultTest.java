package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.Delta;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.server.engine.redis.RedisEngine;
import io.handoff.server.sync.SyncResult;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Store trouble as Redis means it, against a real Redis process of this test: paused with SIGSTOP
 * (a hung Redis: commands are sent and queued, then run when it resumes) and stopped and started
 * again (a restart).
 */
class RedisFaultTest {
  private final Nodes nodes = new Nodes();
  private final RedisProcess redis = nodes.add(RedisProcess.start());
  private final Signal healthChanged = new Signal();
  private String pid;
  private boolean paused;

  @AfterEach
  void tearDown() throws Exception {
    if (paused) {
      signal("-CONT");
    }
    nodes.close();
  }

  private HandoffServer node() throws Exception {
    try (RedisClient client = RedisClient.create(redis.url());
        StatefulRedisConnection<String, String> c = client.connect()) {
      for (String line : c.sync().info("server").split("\r?\n")) {
        if (line.startsWith("process_id:")) {
          pid = line.substring("process_id:".length()).trim();
        }
      }
    }
    HandoffServer node = nodes.redis(redis.url(), "test");
    ((RedisEngine) node.engine()).onHealthChange(healthChanged::fire);
    return node;
  }

  private void signal(String sig) throws Exception {
    Process kill = new ProcessBuilder("kill", sig, pid).inheritIO().start();
    assertTrue(kill.waitFor(10, TimeUnit.SECONDS));
    assertEquals(0, kill.exitValue(), "kill " + sig + " " + pid);
    paused = sig.equals("-STOP");
  }

  private static int readyz(HandoffServer node) throws Exception {
    URI uri = URI.create("http://127.0.0.1:" + node.port() + "/readyz");
    return HttpClient.newHttpClient()
        .send(HttpRequest.newBuilder(uri).build(), HttpResponse.BodyHandlers.ofString())
        .statusCode();
  }

  @Test
  void writeTimingOutOnAHungRedisIsReportedUnknownAndItsResendIsAckedOnceWithItsRealVersion()
      throws Exception {
    HandoffServer node = node();
    TestDevice device = TestDevice.connect(node.port(), TestServer.token("ann", "phone"));
    device.hello();
    TestDevice observer = TestDevice.connect(node.port(), TestServer.token("ann", "tv"));
    observer.hello();
    assertTrue(device.answerTo(device.write("cart", 1, "f", "one")).hasAck());
    assertEquals(1, observer.next(ServerFrame::hasDelta).getDelta().getVersion());
    assertEquals(200, readyz(node));

    signal("-STOP");
    ServerFrame unknown = device.answerTo(device.write("cart", 2, "f", "two"));
    assertEquals(ErrorCode.OUTCOME_UNKNOWN, unknown.getError().getCode(), unknown.toString());
    assertTrue(unknown.getError().getRetryable());
    assertTrue(unknown.getError().getMessage().contains("same client_seq"));
    healthChanged.await(
        "/readyz answers 503 while Redis hangs",
        () -> !node.engine().healthy(),
        Duration.ofSeconds(10));
    assertEquals(503, readyz(node));

    signal("-CONT");
    // The paused Redis ran the write when it resumed (both devices see it), so the re-sent copy
    // is a duplicate of it. The writer's own delta is awaited too: a re-send still in flight when
    // it arrives would be acked by it (as the write it is) instead of by the store's answer.
    assertEquals(2, observer.next(ServerFrame::hasDelta).getDelta().getVersion());
    assertEquals(2, device.next(ServerFrame::hasDelta).getDelta().getVersion());
    ServerFrame ack = device.answerTo(device.write("cart", 2, "f", "two"));
    assertTrue(ack.hasAck(), ack.toString());
    assertTrue(ack.getAck().getDuplicate(), "applied once, while Redis was paused");
    assertEquals(2, ack.getAck().getVersion());
    SyncResult truth = node.engine().store().read("ann", "cart", 0, 0).get(10, TimeUnit.SECONDS);
    assertEquals(2, truth.toVersion());
    assertEquals(ack.getAck().getFingerprint(), truth.fingerprint());
    healthChanged.await(
        "/readyz answers 200 once Redis is back", node.engine()::healthy, Duration.ofSeconds(10));
    assertEquals(200, readyz(node));
    // Applied once: the next write is version 3, and the next version the observer sees.
    ServerFrame third = device.answerTo(device.write("cart", 3, "f", "three"));
    assertTrue(third.hasAck(), third.toString());
    assertEquals(3, third.getAck().getVersion(), "no other version came between");
    Delta next = observer.next(ServerFrame::hasDelta).getDelta();
    assertEquals(3, next.getVersion(), next.toString());
    assertEquals(3, next.getOriginSeq(), next.toString());
    device.close();
    observer.close();
  }

  @Test
  void writeSentWhileRedisRestartsWaitsItOutInsteadOfFailing() throws Exception {
    HandoffServer node = node();
    TestDevice device = TestDevice.connect(node.port(), TestServer.token("bob", "phone"));
    device.hello();
    assertTrue(device.answerTo(device.write("cart", 1, "f", "one")).hasAck());

    redis.stop();
    healthChanged.await(
        "the node sees Redis lost", () -> !node.engine().healthy(), Duration.ofSeconds(10));
    long request = device.write("cart", 2, "f", "two");
    redis.startAgain();
    ServerFrame ack = device.answerTo(request);
    assertTrue(ack.hasAck(), "waited out, not refused: " + ack);
    assertEquals(2, ack.getAck().getVersion());
    device.close();
  }
}
