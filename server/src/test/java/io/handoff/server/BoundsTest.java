package io.handoff.server;

import static io.handoff.server.TestServer.token;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.Hello;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.server.transport.TransportConfig;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** Slow, silent and flooding devices cost bounded memory and never hurt the others. */
class BoundsTest {
  private static final long MAX_QUEUED_BYTES = 256 * 1024;

  @Test
  void deviceThatStopsReadingIsClosedAsSlowWhileOthersKeepReceiving() throws Exception {
    try (TestServer server =
        TestServer.start(
            b ->
                b.maxQueuedBytes(MAX_QUEUED_BYTES)
                    .maxQueuedFrames(1024)
                    .transport(
                        TransportConfig.builder()
                            .writeBufferWaterMark(16 * 1024, 64 * 1024)
                            .build())
                    .maxInFlightWrites(100)
                    // The writer sends as fast as the node acks; the per-connection write rate
                    // limit is another bound, tested on its own, and must not refuse writes here.
                    .writeRate(0, 1))) {
      int writes = 3000;
      String value = "x".repeat(4 * 1024);
      try (TestDevice writer = TestDevice.connect(server.port(), token("u1", "writer"));
          TestDevice reader = TestDevice.connect(server.port(), token("u1", "reader"));
          RawSocket slow = RawSocket.connect(server.port(), token("u1", "slow"), 4096)) {
        writer.hello();
        reader.hello();
        slow.send(ClientFrame.newBuilder().setHello(Hello.getDefaultInstance()).build());
        // Pipelined in windows of 20; the reading device keeps up, the raw one never reads.
        int expected = 1;
        for (int i = 1; i <= writes; i++) {
          writer.send(Writes.frame("video", i, "frame", value + i));
          if (i % 20 == 0) {
            final long seq = i;
            writer.next(f -> f.hasAck() && f.getAck().getClientSeq() == seq);
            for (; expected <= i; expected++) {
              ServerFrame f = reader.next(ServerFrame::hasDelta);
              assertEquals(expected, f.getDelta().getVersion(), "every version, in order");
            }
          }
        }
        // The close frame queues behind the unread data, so the device sees it only if it reads
        // before the close timeout cuts the connection.
        int code = slow.readUntilClose();
        assertTrue(code == CloseCode.SLOW_CONSUMER.code() || code == -1, "close code " + code);
      }
      ServerStats stats = server.server.stats();
      assertEquals(1, stats.slowConsumerCloses.sum());
      long oneEvent = 4 * 1024 + 200;
      assertTrue(
          stats.maxQueuedBytes.get() <= MAX_QUEUED_BYTES + oneEvent,
          "queued bytes stayed bounded: " + stats.maxQueuedBytes.get());
    }
  }

  @Test
  void mutatedFramesOverRealSocketsNeverDisturbOtherConnections() throws Exception {
    try (TestServer server = TestServer.start();
        TestDevice writer = TestDevice.connect(server.port(), token("u1", "writer"));
        TestDevice reader = TestDevice.connect(server.port(), token("u1", "reader"));
        TestDevice stranger = TestDevice.connect(server.port(), token("u2", "phone"))) {
      writer.hello();
      reader.hello();
      stranger.hello();
      java.util.List<ClientFrame> seeds = FrameMutator.seeds();
      java.util.SplittableRandom random = new java.util.SplittableRandom(42);
      long[] seq = {1_000_000};
      int frames = 1_000;
      TestDevice garbage = null;
      try {
        for (int i = 1; i <= frames; i++) {
          if (garbage == null || garbage.isClosed()) {
            if (garbage != null) {
              garbage.close();
            }
            // Same user as the bystanders, and a device of its own: the closest a frame can get.
            garbage = TestDevice.connect(server.port(), token("u1", "garbage"));
          }
          byte[] base = FrameMutator.fresh(seeds.get(random.nextInt(seeds.size())), seq);
          byte[] other = FrameMutator.fresh(seeds.get(random.nextInt(seeds.size())), seq);
          try {
            garbage.sendRaw(FrameMutator.mutate(base, other, random));
          } catch (java.util.concurrent.CompletionException closedMeanwhile) {
            // The server closed this connection for an earlier frame; the next one reconnects.
          }
          if (i % 50 == 0) {
            writer.send(Writes.frame("notes", i / 50, "n", Integer.toString(i)));
            final long s = i / 50;
            assertEquals(
                s,
                writer
                    .next(f -> f.hasAck() && f.getAck().getClientSeq() == s)
                    .getAck()
                    .getClientSeq());
            ServerFrame d =
                reader.next(f -> f.hasDelta() && f.getDelta().getDocument().equals("notes"));
            assertEquals(Integer.toString(i), d.getDelta().getOps(0).getSet().toStringUtf8());
            stranger.send(
                ClientFrame.newBuilder()
                    .setPing(io.handoff.protocol.v1.Ping.newBuilder().setNonce(i)));
            assertEquals(i, stranger.next(ServerFrame::hasPong).getPong().getNonce());
          }
        }
      } finally {
        if (garbage != null) {
          garbage.close();
        }
      }
      assertTrue(!writer.isClosed() && !reader.isClosed() && !stranger.isClosed());
      assertTrue(
          server.engine.store().documents("u2").get().isEmpty(),
          "nothing of the garbage reached another user");
      assertTrue(server.server.stats().protocolErrorCloses.sum() > 100, "the garbage was refused");
    }
  }

  @Test
  void deviceThatNeverAnswersPingsIsClosedForIdleness() throws Exception {
    try (TestServer server = TestServer.start(b -> b.heartbeatInterval(Duration.ofMillis(50)));
        RawSocket silent = RawSocket.connect(server.port(), token("u1", "silent"), 0)) {
      silent.send(ClientFrame.newBuilder().setHello(Hello.getDefaultInstance()).build());
      assertEquals(CloseCode.IDLE_TIMEOUT.code(), silent.readUntilClose());
      assertEquals(1, server.server.stats().idleCloses.sum());
    }
  }

  /**
   * On fake time: the live device answers each ping with a pong and sends nothing else, and before
   * time moves on the test waits until the node has read that pong (the kernel's queues of the
   * connection are empty), so only the pong can keep it, however slowly the machine answers.
   */
  @Test
  void deviceThatAnswersPingsStaysConnectedWhileASilentOneIsClosed() throws Exception {
    FakeScheduler time = new FakeScheduler();
    Duration heartbeat = Duration.ofSeconds(10);
    try (TestServer server = TestServer.start(time, b -> b.heartbeatInterval(heartbeat));
        RawSocket alive = RawSocket.connect(server.port(), token("u1", "alive"), 0);
        RawSocket silent = RawSocket.connect(server.port(), token("u1", "silent"), 0)) {
      alive.send(ClientFrame.newBuilder().setHello(Hello.getDefaultInstance()).build());
      assertTrue(alive.readFrame().hasWelcome());
      silent.send(ClientFrame.newBuilder().setHello(Hello.getDefaultInstance()).build());
      assertTrue(silent.readFrame().hasWelcome());
      // Six intervals in which the live device is heard only through its pongs; the silent one
      // is closed after two.
      for (int i = 1; i <= 6; i++) {
        time.advance(heartbeat);
        alive.sendFrame(0xA, alive.readUntilPing()); // "closed by the server" if it was closed.
        Loopback.awaitReadByNode(alive.socket, server.port(), Duration.ofSeconds(10));
      }
      assertEquals(CloseCode.IDLE_TIMEOUT.code(), silent.readUntilClose());
      assertEquals(1, server.server.stats().idleCloses.sum(), "only the silent device");
    }
  }

  @Test
  void secondConnectionOfADeviceReplacesTheFirst() throws Exception {
    try (TestServer server = TestServer.start();
        TestDevice first = TestDevice.connect(server.port(), token("u1", "phone"))) {
      first.hello();
      try (TestDevice second = TestDevice.connect(server.port(), token("u1", "phone"))) {
        second.hello();
        assertEquals(CloseCode.REPLACED.code(), first.awaitClose());
        second.send(Writes.frame("doc", 1, "f", "v"));
        assertEquals(1, second.next(ServerFrame::hasAck).getAck().getVersion());
      }
    }
  }

  @Test
  void welcomeTellsTheDeviceTheServersLimits() throws Exception {
    try (TestServer server =
            TestServer.start(
                b ->
                    b.maxInFlightWrites(7)
                        .maxFrameBytes(4096)
                        .storeLimits(
                            io.handoff.server.engine.StoreLimits.builder()
                                .maxValueBytes(1024)
                                .build()));
        TestDevice d = TestDevice.connect(server.port(), token("u1", "d"))) {
      var w = d.hello().getWelcome();
      assertEquals(7, w.getMaxInFlightWrites());
      assertEquals(4096, w.getMaxFrameBytes());
      assertEquals(ServerConfig.DEFAULT_HEARTBEAT_INTERVAL.toMillis(), w.getHeartbeatIntervalMs());
    }
  }
}
