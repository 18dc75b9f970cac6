package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.client.Document;
import io.handoff.client.DocumentChange;
import io.handoff.client.HandoffClient;
import io.handoff.protocol.CloseCode;
import io.handoff.protocol.bus.v1.DeviceKick;
import io.handoff.protocol.bus.v1.UserSignal;
import io.handoff.protocol.v1.Ack;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.DocumentSync;
import io.handoff.protocol.v1.Hello;
import io.handoff.protocol.v1.Ping;
import io.handoff.protocol.v1.Position;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.protocol.v1.Welcome;
import io.handoff.server.ClientEndToEndTest.Recorder;
import io.lettuce.core.KillArgs;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** Several nodes on one real Redis: the promises hold across nodes. */
@ExtendWith(SampledLeakDetection.class)
class MultiNodeTest {
  private final Nodes nodes = new Nodes();

  @AfterEach
  void stop() {
    nodes.close();
  }

  private HandoffServer node(String redisUrl, String name) throws Exception {
    return nodes.redis(redisUrl, name);
  }

  private static String url(int port) {
    return "ws://127.0.0.1:" + port + "/ws";
  }

  private HandoffClient client(String url, String user, String device, Recorder r)
      throws Exception {
    return nodes.client(url, user, device, r);
  }

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  /**
   * Three devices write {@code total} times in all, interleaved, while {@code disturbance} runs
   * once a third of the writes were acked. Returns the acked versions.
   */
  static List<Long> interleavedWrites(HandoffClient[] cs, int total, Runnable disturbance)
      throws Exception {
    List<CompletableFuture<Long>> acks = java.util.Collections.synchronizedList(new ArrayList<>());
    AtomicBoolean disturbed = new AtomicBoolean();
    List<Thread> writers = new ArrayList<>();
    for (int i = 0; i < cs.length; i++) {
      final int d = i;
      Thread t =
          new Thread(
              () -> {
                Document doc = cs[d].document("counter");
                for (int n = d; n < total; n += cs.length) {
                  acks.add(doc.edit().set("last", utf8("d" + d + "-" + n)).commit());
                  if (n % 50 == d) {
                    // Keep a bounded window in flight so the disturbance hits a running load.
                    acks.get(acks.size() - 1).exceptionally(e -> null).join();
                  }
                  if (n >= total / 3 && disturbed.compareAndSet(false, true)) {
                    disturbance.run();
                  }
                }
              });
      t.start();
      writers.add(t);
    }
    for (Thread t : writers) {
      t.join(TimeUnit.SECONDS.toMillis(120));
      assertTrue(!t.isAlive(), "a writer is stuck");
    }
    CompletableFuture.allOf(acks.toArray(new CompletableFuture<?>[0])).get(120, TimeUnit.SECONDS);
    return acks.stream().map(CompletableFuture::join).sorted().toList();
  }

  static void assertEveryDeviceSawEveryVersionOnceInOrder(
      HandoffClient[] cs, Recorder[] rs, long last) throws Exception {
    for (int i = 0; i < cs.length; i++) {
      rs[i].awaitVersion(cs[i], "counter", last);
    }
    Map<String, com.google.protobuf.ByteString> expected = cs[0].document("counter").fields();
    for (int i = 0; i < cs.length; i++) {
      final int d = i;
      assertEquals(expected, cs[i].document("counter").fields(), "device " + i + " converged");
      long previous = 0;
      List<DocumentChange> changes = List.copyOf(rs[i].changes);
      for (DocumentChange ch : changes) {
        if (ch.kind() == DocumentChange.Kind.SNAPSHOT) {
          long after = previous;
          assertTrue(
              ch.version() > previous,
              () ->
                  "device "
                      + d
                      + ": a snapshot never goes back: "
                      + ch
                      + " after "
                      + after
                      + "; the changes: "
                      + changes.stream().map(c -> c.kind() + " " + c.version()).toList());
        } else {
          assertEquals(previous + 1, ch.version(), "device " + i + ": no gap, no duplicate");
        }
        previous = ch.version();
      }
    }
  }

  @Test
  void threeNodesDeliverTenThousandInterleavedWritesToEveryDeviceOnceInOrder() throws Exception {
    String redis = RedisProcess.sharedUrl();
    HandoffServer[] nodes = {node(redis, "n1"), node(redis, "n2"), node(redis, "n3")};
    HandoffClient[] cs = new HandoffClient[3];
    Recorder[] rs = new Recorder[3];
    for (int i = 0; i < 3; i++) {
      rs[i] = new Recorder();
      cs[i] = client(url(nodes[i].port()), "alice", "device-" + i, rs[i]);
    }
    List<Long> versions = interleavedWrites(cs, 10_000, () -> {});
    for (int v = 0; v < versions.size(); v++) {
      assertEquals(v + 1, versions.get(v), "each write applied once");
    }
    assertEveryDeviceSawEveryVersionOnceInOrder(cs, rs, 10_000);
    for (Recorder r : rs) {
      assertEquals(0, r.count(DocumentChange.Kind.SNAPSHOT), "no fallback was needed");
    }
  }

  @Test
  void devicesOfANodeThatDiesMidLoadMoveToOtherNodesAndLoseNothing() throws Exception {
    String redis = RedisProcess.sharedUrl();
    HandoffServer n1 = node(redis, "n1");
    HandoffServer n2 = node(redis, "n2");
    HandoffServer n3 = node(redis, "n3");
    ChaosProxy lb1 = new ChaosProxy(n1.port());
    nodes.add(lb1);
    HandoffClient[] cs = new HandoffClient[3];
    Recorder[] rs = new Recorder[3];
    String[] urls = {lb1.url(), url(n2.port()), url(n3.port())};
    for (int i = 0; i < 3; i++) {
      rs[i] = new Recorder();
      cs[i] = client(urls[i], "bob", "device-" + i, rs[i]);
    }
    int total = 3_000;
    List<Long> versions =
        interleavedWrites(
            cs,
            total,
            () -> {
              lb1.retarget(n2.port());
              n1.abort();
            });
    assertEquals(total, versions.size());
    for (int v = 0; v < total; v++) {
      assertEquals(v + 1, versions.get(v), "each write applied once, none lost");
    }
    assertEveryDeviceSawEveryVersionOnceInOrder(cs, rs, total);
  }

  @Test
  void drainedNodeLosesNothingWhileItsDevicesMoveToAnotherNode() throws Exception {
    String redis = RedisProcess.sharedUrl();
    HandoffServer n1 = node(redis, "n1");
    HandoffServer n2 = node(redis, "n2");
    ChaosProxy lb = new ChaosProxy(n1.port());
    nodes.add(lb);
    HandoffClient[] cs = new HandoffClient[3];
    Recorder[] rs = new Recorder[3];
    for (int i = 0; i < 3; i++) {
      rs[i] = new Recorder();
      cs[i] = client(i == 2 ? url(n2.port()) : lb.url(), "hank", "device-" + i, rs[i]);
    }
    int total = 3_000;
    List<Long> versions =
        interleavedWrites(
            cs,
            total,
            () -> {
              lb.retarget(n2.port()); // The load balancer sends new connections elsewhere.
              n1.close();
            });
    assertEquals(total, versions.size());
    for (int v = 0; v < total; v++) {
      assertEquals(v + 1, versions.get(v), "each write applied once, none lost");
    }
    assertEveryDeviceSawEveryVersionOnceInOrder(cs, rs, total);
    assertEquals(0, n1.stats().openConnections(), "the drained node let every connection go");
    assertEquals(3, n2.hub().sessions(), "every device moved to the other node");
    // Ground truth: what the store holds, read by a new device, is what every device holds.
    try (TestDevice probe = TestDevice.connect(n2.port(), TestServer.token("hank", "probe"))) {
      probe.hello();
      io.handoff.protocol.v1.Snapshot store = probe.next(ServerFrame::hasSnapshot).getSnapshot();
      assertEquals(total, store.getVersion(), "the store holds every write once");
      for (int i = 0; i < cs.length; i++) {
        assertEquals(
            store.getFieldsMap(), cs[i].document("counter").fields(), "device " + i + " = store");
      }
    }
  }

  @Test
  void afterRedisRestartsMidLoadEveryDeviceConverges() throws Exception {
    RedisProcess redis = RedisProcess.start();
    nodes.add(redis);
    HandoffServer n1 = node(redis.url(), "n1");
    HandoffServer n2 = node(redis.url(), "n2");
    HandoffClient[] cs = new HandoffClient[2];
    Recorder[] rs = new Recorder[2];
    cs[0] = client(url(n1.port()), "carol", "phone", rs[0] = new Recorder());
    cs[1] = client(url(n2.port()), "carol", "laptop", rs[1] = new Recorder());
    List<CompletableFuture<Long>> acks = new ArrayList<>();
    for (int i = 0; i < 200; i++) {
      acks.add(cs[i % 2].document("counter").set("n", utf8(Integer.toString(i))));
      if (i == 100) {
        redis.restart();
      }
    }
    for (CompletableFuture<Long> a : acks) {
      a.exceptionally(e -> -1L).get(60, TimeUnit.SECONDS);
    }
    // One more write from each side after Redis is back, acked for sure.
    long v0 = cs[0].document("counter").set("after", utf8("phone")).get(60, TimeUnit.SECONDS);
    long v1 = cs[1].document("counter").set("after", utf8("laptop")).get(60, TimeUnit.SECONDS);
    long last = Math.max(v0, v1);
    assertEveryDeviceSawEveryVersionOnceInOrder(cs, rs, last);
    long acked = acks.stream().filter(a -> a.join() > 0).count();
    assertTrue(
        last >= acked + 2, "every acked write survived the restart: " + acked + " / " + last);
  }

  @Test
  void afterThePubSubConnectionIsCutDevicesRecoverWhatItMissed() throws Exception {
    String redis = RedisProcess.sharedUrl();
    HandoffServer n1 = node(redis, "n1");
    HandoffServer n2 = node(redis, "n2");
    Recorder r0 = new Recorder();
    Recorder r1 = new Recorder();
    HandoffClient writer = client(url(n1.port()), "dave", "phone", r0);
    HandoffClient reader = client(url(n2.port()), "dave", "tv", r1);
    RedisClient admin = RedisClient.create(redis);
    nodes.add(admin::shutdown);
    try (StatefulRedisConnection<String, String> c = admin.connect()) {
      List<CompletableFuture<Long>> acks = new ArrayList<>();
      for (int i = 0; i < 300; i++) {
        acks.add(writer.document("counter").set("n", utf8(Integer.toString(i))));
        if (i == 150) {
          c.sync().clientKill(KillArgs.Builder.typePubsub());
        }
      }
      CompletableFuture.allOf(acks.toArray(new CompletableFuture<?>[0])).get(60, TimeUnit.SECONDS);
    }
    assertEveryDeviceSawEveryVersionOnceInOrder(
        new HandoffClient[] {writer, reader}, new Recorder[] {r0, r1}, 300);
  }

  @Test
  void signalFromOneNodeClosesTheDeviceOnAnotherAndSparesTheOthers() throws Exception {
    String redis = RedisProcess.sharedUrl();
    HandoffServer n1 = node(redis, "n1");
    HandoffServer n2 = node(redis, "n2");
    try (TestDevice phone = TestDevice.connect(n2.port(), TestServer.token("gina", "phone"));
        TestDevice tv = TestDevice.connect(n2.port(), TestServer.token("gina", "tv"));
        TestDevice laptop = TestDevice.connect(n1.port(), TestServer.token("gina", "laptop"))) {
      phone.hello();
      tv.hello();
      laptop.hello();
      n1.engine()
          .broker()
          .signal(
              "gina",
              UserSignal.newBuilder()
                  .setOriginNode("n1")
                  .setKick(
                      DeviceKick.newBuilder()
                          .setDeviceId("phone")
                          .setCloseCode(CloseCode.SESSION_REVOKED.code())
                          .setReason("revoked in a test"))
                  .build());
      assertEquals(CloseCode.SESSION_REVOKED.code(), phone.awaitClose());
      tv.send(ClientFrame.newBuilder().setPing(Ping.newBuilder().setNonce(7)));
      assertEquals(7, tv.next(ServerFrame::hasPong).getPong().getNonce());
      assertTrue(!tv.isClosed() && !laptop.isClosed());
    }
  }

  @Test
  void retriedWriteLandingOnAnotherNodeIsAppliedOnce() throws Exception {
    String redis = RedisProcess.sharedUrl();
    HandoffServer n1 = node(redis, "n1");
    HandoffServer n2 = node(redis, "n2");
    long version;
    try (TestDevice a = TestDevice.connect(n1.port(), TestServer.token("erin", "phone"))) {
      a.hello();
      a.send(Writes.frame("draft", 1, "text", "hi"));
      version = a.next(ServerFrame::hasAck).getAck().getVersion();
    }
    try (TestDevice a = TestDevice.connect(n2.port(), TestServer.token("erin", "phone"))) {
      Welcome w = a.hello().getWelcome();
      assertEquals(1, w.getLastClientSeq());
      a.send(Writes.frame("draft", 1, "text", "hi"));
      Ack again = a.next(ServerFrame::hasAck).getAck();
      assertTrue(again.getDuplicate());
      assertEquals(version, again.getVersion());
    }
  }

  @Test
  void deviceThatWasOnOneNodeResumesOnAnotherWithExactlyWhatItMissed() throws Exception {
    String redis = RedisProcess.sharedUrl();
    HandoffServer n1 = node(redis, "n1");
    HandoffServer n2 = node(redis, "n2");
    long epoch;
    try (TestDevice w = TestDevice.connect(n1.port(), TestServer.token("frank", "laptop"))) {
      w.hello();
      w.send(Writes.frame("cart", 1, "items", "0"));
      epoch = w.next(ServerFrame::hasAck).getAck().getEpoch();
      for (int i = 2; i <= 51; i++) {
        w.send(Writes.frame("cart", i, "items", Integer.toString(i)));
      }
      w.next(f -> f.hasAck() && f.getAck().getClientSeq() == 51);
    }
    try (TestDevice b = TestDevice.connect(n2.port(), TestServer.token("frank", "phone"))) {
      Welcome w =
          b.hello(
                  Hello.newBuilder()
                      .addPositions(
                          Position.newBuilder().setDocument("cart").setEpoch(epoch).setVersion(1))
                      .build())
              .getWelcome();
      assertEquals(DocumentSync.Mode.DELTAS, w.getSync().getDocuments(0).getMode());
      List<ServerFrame> frames = SessionProtocolTest.framesBeforePong(b);
      assertEquals(50, frames.size());
      for (int i = 0; i < 50; i++) {
        assertEquals(i + 2, frames.get(i).getDelta().getVersion());
      }
    }
  }
}
