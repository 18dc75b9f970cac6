package io.handoff.server;

import static io.handoff.server.TestServer.token;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.Hello;
import io.handoff.protocol.v1.Ping;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.server.auth.DevTokens;
import io.handoff.server.transport.TransportConfig;
import io.handoff.server.util.EventLoops;
import io.netty.util.NettyRuntime;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Idle connections hold no timer of their own: heartbeats, and token expiry through the event
 * loop's deadlines, each run from one timer per event loop whatever the number of connections, and
 * the handshake limit's timer ends at Hello. They still close the connections they must, at their
 * time. The node runs on fake time.
 */
class IdleTimersTest {
  private static final Duration HEARTBEAT = Duration.ofSeconds(10);
  private static final Duration SHORT_TOKEN = Duration.ofSeconds(5);
  private static final int EACH = 20;

  @Test
  void silentConnectionsAndExpiredTokensAreClosedByATimerPerEventLoop() throws Exception {
    FakeScheduler time = new FakeScheduler();
    List<RawSocket> quiet = new ArrayList<>();
    List<TestDevice> expiring = new ArrayList<>();
    try (TestServer server = TestServer.start(time, b -> b.heartbeatInterval(HEARTBEAT));
        TestDevice alive = TestDevice.connect(server.port(), token("idle-alive", "phone"))) {
      try {
        alive.hello();
        int withOne = time.pending();
        for (int i = 0; i < EACH; i++) {
          quiet.add(hello(RawSocket.connect(server.port(), token("idle-q" + i, "tv"), 0)));
          String shortLived =
              DevTokens.mint(
                  TestServer.SECRET, "idle-e" + i, "tv", SHORT_TOKEN, time.clock().instant());
          TestDevice d = TestDevice.connect(server.port(), shortLived);
          expiring.add(d);
          d.hello();
        }
        Conditions.await(
            "every device said Hello",
            () -> server.server.hub().sessions() == 2 * EACH + 1,
            Duration.ofSeconds(10));
        readsDone(server);
        // At most a heartbeat timer and a deadline timer more for each event loop: none per
        // connection (the handshake limit's timers ended at Hello).
        int loops = NettyRuntime.availableProcessors() * 2;
        assertTrue(
            time.pending() <= withOne + 2 * (loops - 1),
            time.pending()
                + " timers for "
                + (2 * EACH + 1)
                + " connections, "
                + withOne
                + " for one");

        // The expiry notice is due at once (the token is shorter than the notice); then the expiry.
        time.advance(Duration.ZERO);
        for (TestDevice d : expiring) {
          assertTrue(d.next(ServerFrame::hasTokenExpiring).hasTokenExpiring());
        }
        // Each loop set its next deadline timer in the notice's task, which advance waited for.
        time.advance(SHORT_TOKEN);
        Conditions.await(
            "every short-lived token's connection closed",
            () -> server.server.stats().tokenExpiredCloses.sum() == EACH,
            Duration.ofSeconds(10));
        for (TestDevice d : expiring) {
          assertEquals(CloseCode.TOKEN_EXPIRED.code(), d.awaitClose());
        }
        assertEquals(EACH, server.server.stats().tokenExpiredCloses.sum());
        assertEquals(0, server.server.stats().idleCloses.sum());

        time.advance(HEARTBEAT.minus(SHORT_TOKEN));
        // The live device is heard after the first ping went out; the quiet ones never are.
        long id = alive.send(ClientFrame.newBuilder().setPing(Ping.newBuilder().setNonce(3)));
        assertEquals(3, alive.next(f -> f.getRequestId() == id).getPong().getNonce());
        // Each loop's heartbeat tick re-arms on its grid, and advance runs the tick that re-arm
        // makes due at the end of the step before it returns.
        time.advance(HEARTBEAT);
        Conditions.await(
            "every quiet connection closed",
            () -> server.server.stats().idleCloses.sum() == EACH,
            Duration.ofSeconds(10));
        for (RawSocket s : quiet) {
          assertEquals(CloseCode.IDLE_TIMEOUT.code(), s.readUntilClose());
        }
        assertEquals(EACH, server.server.stats().idleCloses.sum());
        long again = alive.send(ClientFrame.newBuilder().setPing(Ping.newBuilder().setNonce(4)));
        assertEquals(4, alive.next(f -> f.getRequestId() == again).getPong().getNonce());
        assertFalse(alive.isClosed());
      } finally {
        for (RawSocket s : quiet) {
          s.close();
        }
        for (TestDevice d : expiring) {
          d.close();
        }
      }
    }
  }

  @Test
  void nothingFollowsTheCloseFrameOfAConnectionClosedForSilence() throws Exception {
    FakeScheduler time = new FakeScheduler();
    try (TestServer server =
            TestServer.start(
                time,
                b ->
                    b.heartbeatInterval(HEARTBEAT)
                        // The close frame waits for the device to read up to it.
                        .closeTimeout(Duration.ofSeconds(30))
                        .transport(TransportConfig.builder().socketSendBufferBytes(4096).build()));
        TestDevice writer = TestDevice.connect(server.port(), token("late", "writer"));
        RawSocket silent = RawSocket.connect(server.port(), token("late", "silent"), 4096)) {
      writer.hello();
      silent.send(ClientFrame.newBuilder().setHello(Hello.getDefaultInstance()).build());
      assertTrue(silent.readFrame().hasWelcome());
      Conditions.await(
          "both devices live", () -> server.server.hub().sessions() == 2, Duration.ofSeconds(10));
      // A delta more than the kernel takes for the silent device and less than Netty's high-water
      // mark: the close frame will wait behind it in Netty's buffer while the socket stays
      // writable.
      assertTrue(writer.answerTo(writer.write("notes", 1, "body", "b".repeat(48_000))).hasAck());

      time.advance(HEARTBEAT);
      long id = writer.send(ClientFrame.newBuilder().setPing(Ping.newBuilder().setNonce(1)));
      assertEquals(1, writer.next(f -> f.getRequestId() == id).getPong().getNonce());
      time.advance(HEARTBEAT);
      Conditions.await(
          "the silent device is closed",
          () -> server.server.stats().idleCloses.sum() == 1,
          Duration.ofSeconds(10));

      // A write of the same user after the close: its delta must not follow the close frame.
      assertTrue(writer.answerTo(writer.write("notes", 2, "title", "after")).hasAck());
      byte[] after = silent.readPastClose();
      assertEquals(0, after.length, "bytes sent after the close frame");
      assertFalse(writer.isClosed());
    }
  }

  /**
   * Connections that left are not checked, whichever place they held on their loop's heartbeat
   * list, and a loop every connection left (a reconnect storm's cut) still pings and closes the
   * connections that come next: the loop's heartbeat timer runs on over the empty loop.
   */
  @Test
  void connectionsThatLeftAreNotCheckedAndAnEmptiedLoopStillClosesTheNextSilentOnes()
      throws Exception {
    FakeScheduler time = new FakeScheduler();
    List<RawSocket> first = new ArrayList<>();
    List<RawSocket> next = new ArrayList<>();
    try (TestServer server = TestServer.start(time, b -> b.heartbeatInterval(HEARTBEAT))) {
      try {
        for (int i = 0; i < EACH; i++) {
          first.add(hello(RawSocket.connect(server.port(), token("left-" + i, "tv"), 0)));
        }
        for (RawSocket s : first) {
          assertTrue(s.readFrame().hasWelcome());
        }
        readsDone(server);
        // Every other one leaves: first, last and middle places of each loop's list among them.
        for (int i = 0; i < EACH; i += 2) {
          first.get(i).close();
        }
        Conditions.await(
            "half the devices left",
            () -> server.server.hub().sessions() == EACH / 2,
            Duration.ofSeconds(10));
        time.advance(HEARTBEAT);
        time.advance(HEARTBEAT);
        Conditions.await(
            "every silent device that stayed is closed",
            () -> server.server.stats().idleCloses.sum() == EACH / 2,
            Duration.ofSeconds(10));
        for (int i = 1; i < EACH; i += 2) {
          assertEquals(CloseCode.IDLE_TIMEOUT.code(), first.get(i).readUntilClose());
        }
        Conditions.await(
            "every loop is empty",
            () -> server.server.hub().sessions() == 0,
            Duration.ofSeconds(10));
        time.advance(HEARTBEAT); // Ticks over empty loops.

        for (int i = 0; i < EACH; i++) {
          next.add(hello(RawSocket.connect(server.port(), token("next-" + i, "tv"), 0)));
        }
        for (RawSocket s : next) {
          assertTrue(s.readFrame().hasWelcome());
        }
        readsDone(server);
        time.advance(HEARTBEAT);
        time.advance(HEARTBEAT);
        Conditions.await(
            "every silent device of the next ones is closed",
            () -> server.server.stats().idleCloses.sum() == EACH / 2 + EACH,
            Duration.ofSeconds(10));
        for (RawSocket s : next) {
          assertEquals(CloseCode.IDLE_TIMEOUT.code(), s.readUntilClose());
        }
        assertEquals(EACH / 2 + EACH, server.server.stats().idleCloses.sum());
      } finally {
        for (RawSocket s : first) {
          s.close();
        }
        for (RawSocket s : next) {
          s.close();
        }
      }
    }
  }

  /**
   * Time moved in steps that straddle the heartbeat ticks: a silent device is pinged once one whole
   * interval has passed, and closed IDLE_TIMEOUT once two have, not before: the ticks keep to their
   * grid, so neither runs later than its tick.
   */
  @Test
  void aSilentDeviceIsPingedAndClosedOnTimeWhenTimeMovesInOddSteps() throws Exception {
    FakeScheduler time = new FakeScheduler();
    try (TestServer server = TestServer.start(time, b -> b.heartbeatInterval(HEARTBEAT));
        RawSocket silent = hello(RawSocket.connect(server.port(), token("odd", "tv"), 0))) {
      assertTrue(silent.readFrame().hasWelcome());
      readsDone(server);
      for (long ms : new long[] {3_700, 3_700, 2_590}) { // 9.99 s: not an interval yet
        time.advance(Duration.ofMillis(ms));
      }
      readsDone(server);
      time.advance(Duration.ofMillis(20)); // 10.01 s
      assertEquals(0, silent.readUntilPing().length);
      for (long ms : new long[] {3_300, 3_300, 3_380}) { // 19.99 s: not two intervals yet
        time.advance(Duration.ofMillis(ms));
      }
      readsDone(server);
      assertEquals(0, server.server.stats().idleCloses.sum());
      time.advance(Duration.ofMillis(10)); // 20 s
      assertEquals(CloseCode.IDLE_TIMEOUT.code(), silent.readUntilClose());
      assertEquals(1, server.server.stats().idleCloses.sum());
    }
  }

  /**
   * Waits until every event loop has finished the reads it is in: a connection counts as heard at
   * the end of a read (after the Welcome it sent went out), and time moved before then would mark
   * it heard later than the test reckons.
   */
  private static void readsDone(TestServer server) {
    EventLoops.afterQueuedTasks(server.server.workers(), Duration.ofSeconds(10));
  }

  private static RawSocket hello(RawSocket s) throws java.io.IOException {
    s.send(ClientFrame.newBuilder().setHello(Hello.getDefaultInstance()).build());
    return s;
  }
}
