package io.handoff.server;

import static io.handoff.server.TestServer.token;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.Ping;
import io.handoff.protocol.v1.ServerFrame;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A connection holds a slot from its upgrade on: it must say Hello within the handshake limit, and
 * while it has not, it counts toward its user's connection limit.
 */
class HandshakeLimitTest {
  private static final Duration LIMIT = Duration.ofSeconds(5);

  @Test
  void socketThatUpgradesAndNeverSaysHelloIsClosedAtTheHandshakeLimit() throws Exception {
    FakeScheduler time = new FakeScheduler();
    try (TestServer server = TestServer.start(time, b -> b.handshakeTimeout(LIMIT));
        RawSocket silent = RawSocket.connect(server.port(), token("h1", "phone"), 0);
        TestDevice polite = TestDevice.connect(server.port(), token("h1", "tv"))) {
      polite.hello();
      time.advance(LIMIT);
      // A reconnect code: a device whose Hello was held up (a storm, a slow network) comes back.
      int code = silent.readUntilClose();
      assertEquals(CloseCode.IDLE_TIMEOUT.code(), code);
      assertTrue(CloseCode.isReconnect(code));
      // A device that said Hello in time is not affected.
      long id = polite.send(ClientFrame.newBuilder().setPing(Ping.newBuilder().setNonce(7)));
      assertEquals(7, polite.next(f -> f.getRequestId() == id).getPong().getNonce());
      assertFalse(polite.isClosed());
      assertEquals(1, server.server.stats().idleCloses.sum());
      assertEquals(0, server.server.stats().protocolErrorCloses.sum());
    }
  }

  @Test
  void socketsWithoutHelloCountTowardTheUsersConnectionLimit() throws Exception {
    int max = 4;
    int sockets = 500;
    List<RawSocket> open = new ArrayList<>();
    try (TestServer server =
        TestServer.start(
            b -> b.maxConnectionsPerUser(max).handshakeTimeout(Duration.ofMinutes(5)))) {
      try {
        String token = token("h2", "phone");
        for (int i = 0; i < sockets; i++) {
          open.add(RawSocket.connect(server.port(), token, 0));
        }
        // Four of them hold the user's slots; every other one is closed at once. Which four is
        // the node's order of upgrades, which on several event loops need not be the order the
        // sockets were opened in.
        ServerStats stats = server.server.stats();
        Conditions.await(
            "only " + max + " sockets stay open",
            () -> stats.connectionsOpened.sum() - stats.connectionsClosed.sum() == max,
            Duration.ofSeconds(10));
        int refused = 0;
        int held = 0;
        for (RawSocket s : open) {
          // A refused socket's close frame is already here (the node counted it closed after
          // writing it); a held one stays silent.
          s.socket.setSoTimeout(300);
          try {
            assertEquals(CloseCode.POLICY_VIOLATION.code(), s.readUntilClose());
            refused++;
          } catch (java.net.SocketTimeoutException stillOpen) {
            held++;
          }
        }
        assertEquals(max, held, "sockets holding the user's slots");
        assertEquals(sockets - max, refused);
        // A device of another user still gets in.
        try (TestDevice other = TestDevice.connect(server.port(), token("h3", "phone"))) {
          ServerFrame w = other.hello();
          assertTrue(w.hasWelcome(), w.toString());
        }
      } finally {
        for (RawSocket s : open) {
          s.close();
        }
      }
    }
  }
}
