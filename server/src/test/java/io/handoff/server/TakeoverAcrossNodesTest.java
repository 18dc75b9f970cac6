package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.DevicePresence;
import io.handoff.protocol.v1.Ping;
import io.handoff.server.HandoffMultiNodeTest.Inbox;
import io.handoff.server.handoff.HandoffLimits;
import java.time.Clock;
import java.time.Duration;
import java.util.UUID;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A second connection of the same device replaces the first also when the two are on different
 * nodes of one Redis: the older one is closed with REPLACED, the newer one stays, and the device
 * reads online through it and offline once it leaves.
 */
class TakeoverAcrossNodesTest {
  private static final Duration BOUND = Duration.ofSeconds(20);

  private final Nodes nodes = new Nodes();
  private final String user = "u-" + UUID.randomUUID();

  @AfterEach
  void stop() {
    nodes.close();
  }

  private HandoffServer node(String name) throws Exception {
    Consumer<ServerConfig.Builder> limits =
        b -> b.handoffLimits(HandoffLimits.builder().presenceTtl(Duration.ofSeconds(3)).build());
    return nodes.redis(RedisProcess.sharedUrl(), name, Clock.systemUTC(), limits);
  }

  private Inbox device(HandoffServer node, String name) {
    TestDevice d = TestDevice.connect(node.port(), TestServer.token(user, name)).presenceFrames();
    nodes.add(d);
    return new Inbox(d);
  }

  private static boolean online(Inbox d, String device) {
    DevicePresence p = d.presence.get(device);
    return p != null && p.getOnline();
  }

  @Test
  void aDeviceConnectingOnAnotherNodeReplacesItsConnectionOnTheFirst() throws Exception {
    HandoffServer a = node("a");
    HandoffServer b = node("b");
    Inbox laptop = device(a, "laptop");
    laptop.hello();
    Inbox phoneOnA = device(a, "phone");
    phoneOnA.hello();
    Inbox phoneOnB = device(b, "phone");
    phoneOnB.hello();

    assertEquals(CloseCode.REPLACED.code(), phoneOnA.device.awaitClose(), "the older connection");
    // The newer one is alive and answers.
    long ping = phoneOnB.device.send(ClientFrame.newBuilder().setPing(Ping.newBuilder()));
    phoneOnB.await(f -> f.hasPong() && f.getRequestId() == ping);
    assertFalse(phoneOnB.device.isClosed(), "the newer connection stays");
    laptop.awaitPresence(p -> online(laptop, "phone"), System.nanoTime() + BOUND.toNanos());

    phoneOnB.device.close();
    laptop.awaitPresence(p -> !online(laptop, "phone"), System.nanoTime() + BOUND.toNanos());
  }

  @Test
  void aDeviceThatMovesBackQuicklyKeepsItsNewestConnection() throws Exception {
    HandoffServer a = node("a");
    HandoffServer b = node("b");
    Inbox laptop = device(a, "laptop");
    laptop.hello();
    for (int i = 0; i < 10; i++) {
      Inbox phone = device(i % 2 == 0 ? a : b, "phone");
      phone.hello();
      Inbox next = device(i % 2 == 0 ? b : a, "phone");
      next.hello();
      assertEquals(CloseCode.REPLACED.code(), phone.device.awaitClose(), "round " + i);
      long ping = next.device.send(ClientFrame.newBuilder().setPing(Ping.newBuilder()));
      next.await(f -> f.hasPong() && f.getRequestId() == ping);
      assertFalse(next.device.isClosed(), "the newest connection stays, round " + i);
      next.device.close();
      laptop.awaitPresence(p -> !online(laptop, "phone"), System.nanoTime() + BOUND.toNanos());
    }
  }
}
