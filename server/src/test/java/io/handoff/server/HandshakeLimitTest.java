package io.handoff.server;

import static io.handoff.server.TestServer.token;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.Ping;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.memory.MemoryEngine;
import java.nio.charset.StandardCharsets;
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

  /**
   * The handshake limit ends a connection that stays in plain HTTP, but not under a request the
   * node is answering: a sign-in whose device session the store made as the limit passed gets its
   * answer (the store has made it: a dropped answer would leave the device without its tokens),
   * then the connection closes. Real sockets; the handshake limit on fake time.
   */
  @Test
  void apiRequestInFlightAtTheHandshakeLimitIsAnsweredBeforeTheConnectionCloses() throws Exception {
    FakeScheduler time = new FakeScheduler();
    AppBackend app = new AppBackend();
    ServerConfig config =
        ServerConfig.builder()
            .host("127.0.0.1")
            .port(0)
            .nodeId("limit")
            .jwtSecret(TestServer.SECRET)
            .storeLimits(StoreLimits.builder().build())
            .tokens(app.tokens().build())
            .handshakeTimeout(LIMIT)
            .build();
    GatedEngine engine = new GatedEngine(new MemoryEngine(config.storeLimits(), time.clock()));
    HandoffServer node = HandoffServer.start(config, engine, time);
    try (RawSocket http = RawSocket.open(node.port())) {
      engine.holdSessionCreates(1);
      byte[] body =
          ("{\"identity_token\":\""
                  + app.identity("nia")
                  + "\",\"device_id\":\"tv\",\"device_name\":\"TV\"}")
              .getBytes(StandardCharsets.UTF_8);
      http.writeRaw(
          ("POST /v1/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  + "Content-Type: application/json\r\nContent-Length: "
                  + body.length
                  + "\r\n\r\n")
              .getBytes(StandardCharsets.US_ASCII));
      http.writeRaw(body);
      engine.changed.await("the sign-in's session held", () -> engine.heldSessionCreates() == 1);

      int timers = time.pending();
      time.advance(LIMIT); // The limit passes while the store makes the session.
      // The limit's task runs on the connection's loop after advance returns; once it has, the
      // connection's timer is set again (its next limit). Only then may the answer come.
      Conditions.await(
          "the limit passed on the connection's loop",
          () -> time.pending() >= timers,
          Duration.ofSeconds(30),
          Duration.ofMillis(1));
      engine.releaseSessionCreates();
      String head = http.readHead();
      assertTrue(head.startsWith("HTTP/1.1 201"), head);
      assertTrue(
          head.toLowerCase(java.util.Locale.ROOT).contains("connection: close"),
          "the connection closes after the answer: " + head);
    } finally {
      node.close();
      engine.close();
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
