package io.handoff.server;

import static io.handoff.server.TestServer.token;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.Hello;
import io.handoff.protocol.v1.Ping;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.protocol.v1.Write;
import io.handoff.server.transport.TransportConfig;
import io.netty.channel.EventLoop;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A device that reads all the time, only slower than the node writes: a resume of many large
 * documents keeps its socket full for longer than two heartbeat intervals. The node reads nothing
 * from it meanwhile (its socket is full), but the device is reading, and is not closed as a slow
 * consumer that stopped reading. Real sockets; heartbeats on fake time, moved as the device reads.
 */
class SlowReaderTest {
  private static final Duration HEARTBEAT = Duration.ofSeconds(10);
  private static final int DOCUMENTS = 24;

  @Test
  void deviceReadingALongResumeSteadilyIsNotClosedAsStalled() throws Exception {
    FakeScheduler time = new FakeScheduler();
    try (TestServer server =
            TestServer.start(
                time,
                b ->
                    b.heartbeatInterval(HEARTBEAT)
                        .transport(TransportConfig.builder().socketSendBufferBytes(4096).build()));
        TestDevice writer = TestDevice.connect(server.port(), token("reader", "writer"))) {
      writer.hello();
      for (int d = 1; d <= DOCUMENTS; d++) {
        Write w = Writes.parts("doc" + d, d, 3, "x".repeat(60_000));
        long id = writer.send(ClientFrame.newBuilder().setWrite(w));
        assertTrue(writer.answerTo(id).hasAck());
      }

      try (RawSocket slow = RawSocket.connect(server.port(), token("reader", "slow"), 4096)) {
        slow.send(ClientFrame.newBuilder().setHello(Hello.getDefaultInstance()).build());
        EventLoop loop = server.server.hub().loopsOf("reader").get(0);
        int snapshots = 0;
        int frames = 0;
        // About 4 MB of snapshots; a quarter heartbeat interval passes for every one read, and
        // the device says something after each (it is alive): six intervals in all.
        while (snapshots < DOCUMENTS) {
          ServerFrame f = slow.readFrame();
          frames++;
          assertTrue(
              !f.hasDisconnect(),
              "closed after " + snapshots + " snapshots read: " + f.getDisconnect());
          if (f.hasSnapshot()) {
            snapshots++;
            slow.send(
                ClientFrame.newBuilder().setPing(Ping.newBuilder().setNonce(snapshots)).build());
            time.advance(HEARTBEAT.dividedBy(4));
            loop.submit(() -> {}).get(10, TimeUnit.SECONDS); // The tick has run.
          }
        }
        assertEquals(0, server.server.stats().slowConsumerStalledCloses.sum());
        assertEquals(0, server.server.stats().idleCloses.sum());
      }
    }
  }
}
