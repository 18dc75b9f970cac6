package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.Hello;
import io.handoff.protocol.v1.ListDevices;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.memory.MemoryEngine;
import io.handoff.server.transport.TransportConfig;
import java.io.ByteArrayOutputStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A device that keeps asking and never reads: the answers waiting for its full socket count toward
 * its connection's bound as pushes do, and it is closed as a slow consumer, while another device of
 * the same user on the same node (and event loop) is served. Real sockets, real sign-ins over the
 * node's HTTP API; the memory engine behind a {@link GatedEngine}, which answers a device's
 * ListDevices together once the test lets it, as Redis does when their round trips end after the
 * socket of a device that never reads has filled up. Each DeviceList here is about 28 KB: 60
 * signed-in devices with the longest ids and names sign-in takes.
 */
class AskingWithoutReadingTest {
  private static final int DEVICES = 60;

  private final AppBackend app = new AppBackend();
  private GatedEngine engine;
  private HandoffServer node;
  private List<String> tokens;

  @AfterEach
  void stop() {
    if (node != null) {
      node.close();
    }
    if (engine != null) {
      engine.close();
    }
  }

  /**
   * A node on {@code time}, whose device sockets get the smallest kernel send buffer (so that a
   * device that does not read soon leaves its answers waiting where the node counts them), and
   * {@value #DEVICES} signed-in devices of user "ivy".
   */
  private void start(Scheduler time, Consumer<ServerConfig.Builder> customize) throws Exception {
    ServerConfig.Builder b =
        ServerConfig.builder()
            .host("127.0.0.1")
            .port(0)
            .nodeId("asking")
            .jwtSecret(TestServer.SECRET)
            .storeLimits(StoreLimits.builder().build())
            .tokens(app.tokens().build())
            // The close frame waits behind what the device has not read; give the test time to
            // read up to it.
            .closeTimeout(Duration.ofSeconds(30))
            .transport(TransportConfig.builder().socketSendBufferBytes(4096).build());
    customize.accept(b);
    ServerConfig config = b.build();
    engine = new GatedEngine(new MemoryEngine(config.storeLimits(), time.clock()));
    node = HandoffServer.start(config, engine, time);
    HttpApi api = new HttpApi(node.port());
    tokens = new ArrayList<>();
    String identity = app.identityRs256("ivy"); // One for all: the cheapest for the node to check.
    for (int i = 0; i < DEVICES; i++) {
      String device = String.format("%03d-", i) + "d".repeat(252);
      HttpApi.Answer a = api.signIn(identity, device, "n".repeat(128), "p".repeat(64));
      assertEquals(201, a.status(), a.toString());
      tokens.add(a.field("access_token"));
    }
  }

  /**
   * Has {@code asker} send as many ListDevices as may wait at once, in one write, and waits until
   * the store holds them all. Nothing was written to it since its Welcome: the node read them all.
   */
  private int askAll(RawSocket asker) throws Exception {
    int asks = ServerConfig.DEFAULT_MAX_DEVICE_REQUESTS_IN_FLIGHT;
    engine.holdDeviceLists(asks);
    ByteArrayOutputStream frames = new ByteArrayOutputStream();
    for (int i = 1; i <= asks; i++) {
      frames.writeBytes(
          RawSocket.frame(
              ClientFrame.newBuilder()
                  .setRequestId(i)
                  .setListDevices(ListDevices.getDefaultInstance())
                  .build()
                  .toByteArray()));
    }
    asker.writeRaw(frames.toByteArray());
    engine.changed.await("the asker's listings", () -> engine.heldDeviceLists() == asks);
    return asks;
  }

  private static void listsAllDevices(TestDevice d) {
    long id = d.send(ClientFrame.newBuilder().setListDevices(ListDevices.getDefaultInstance()));
    assertEquals(DEVICES, d.next(f -> f.getRequestId() == id).getDeviceList().getDevicesCount());
  }

  @Test
  void answersWaitingForAFullSocketCountTowardItsBoundAndCloseTheDeviceAsSlow() throws Exception {
    long bound = 32 * 1024;
    start(Scheduler.system(), b -> b.maxQueuedBytes(bound));
    ServerStats stats = node.stats();
    try (RawSocket asker = RawSocket.connect(node.port(), tokens.get(0), 4096);
        TestDevice other = TestDevice.connect(node.port(), tokens.get(1))) {
      asker.send(ClientFrame.newBuilder().setHello(Hello.getDefaultInstance()).build());
      other.hello();
      askAll(asker);
      // 8 answers of 28 KB at once: more than the kernel, Netty's buffer and the bound hold.
      engine.releaseDeviceLists();
      Conditions.await(
          "the asker is closed as a slow consumer",
          () -> stats.slowConsumerCloses.sum() == 1,
          Duration.ofSeconds(10));
      assertEquals(CloseCode.SLOW_CONSUMER.code(), asker.readUntilClose());
      assertEquals(0, stats.slowConsumerBudgetCloses.sum(), "its own bound, not the node's");
      assertTrue(
          stats.maxQueuedBytes.get() <= bound + 32 * 1024,
          "what waited for the asker stayed bounded: " + stats.maxQueuedBytes.get());

      listsAllDevices(other);
      assertFalse(other.isClosed());
    }
  }

  @Test
  void deviceWhoseAnswersStayUnderItsBoundIsClosedAsSlowAtTheHeartbeat() throws Exception {
    // The default bound (4 MiB) is far above 8 answers of 28 KB, the most that may wait: the node
    // stops reading the asker once its socket is full, so it asks no more, and the heartbeat finds
    // the socket still full two intervals later. Fake time: heartbeats move when told.
    FakeScheduler time = new FakeScheduler();
    Duration heartbeat = ServerConfig.DEFAULT_HEARTBEAT_INTERVAL;
    start(time, b -> {});
    ServerStats stats = node.stats();
    try (RawSocket asker = RawSocket.connect(node.port(), tokens.get(0), 4096);
        TestDevice other = TestDevice.connect(node.port(), tokens.get(1))) {
      asker.send(ClientFrame.newBuilder().setHello(Hello.getDefaultInstance()).build());
      other.hello();
      askAll(asker);
      // A round trip of the other device, on the same event loop (the user's): the asker's read
      // is over, and was at time 0.
      listsAllDevices(other);
      engine.releaseDeviceLists();
      Conditions.await(
          "answers wait for the asker's full socket",
          () -> stats.maxQueuedBytes.get() > 0,
          Duration.ofSeconds(10));

      time.advance(heartbeat);
      listsAllDevices(other); // Heard: the other device is not silent.
      time.advance(heartbeat);
      Conditions.await(
          "the asker is closed as a slow consumer",
          () -> stats.slowConsumerStalledCloses.sum() == 1,
          Duration.ofSeconds(10));
      assertEquals(CloseCode.SLOW_CONSUMER.code(), asker.readUntilClose());
      assertEquals(0, stats.idleCloses.sum(), "not for silence: it was not read");
      assertEquals(0, stats.slowConsumerCloses.sum(), "its answers stayed under its bound");
      assertTrue(
          stats.maxQueuedBytes.get() <= 8 * 32 * 1024,
          "what waited for the asker: " + stats.maxQueuedBytes.get());

      listsAllDevices(other);
      assertFalse(other.isClosed());
    }
  }
}
