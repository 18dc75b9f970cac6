package io.handoff.server;

import static io.handoff.server.TestServer.token;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.Hello;
import io.handoff.protocol.v1.Offer;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.memory.MemoryEngine;
import io.handoff.server.transport.TransportConfig;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** A node that stops drains: writes in flight are answered, then devices go elsewhere. */
class DrainTest {
  @Test
  void stoppingNodeAnswersEveryWriteItAppliedThenSendsShutdown() throws Exception {
    TestServer server = TestServer.start();
    try (TestDevice d = TestDevice.connect(server.port(), token("dora", "phone"))) {
      d.hello();
      int writes = 500;
      for (int i = 1; i <= writes; i++) {
        d.send(Writes.frame("draft", i, "text", "v" + i));
      }
      CompletableFuture<Void> stopped = CompletableFuture.runAsync(server::close);
      Set<Long> acked = new HashSet<>();
      ServerFrame f;
      while (!(f = d.next()).hasDisconnect()) {
        if (f.hasAck()) {
          assertTrue(acked.add(f.getAck().getVersion()), "each version acked once");
        }
      }
      assertEquals(CloseCode.SHUTDOWN.code(), f.getDisconnect().getCode());
      assertTrue(f.getDisconnect().getReconnect(), "the device is told to reconnect elsewhere");
      assertEquals(CloseCode.SHUTDOWN.code(), d.awaitClose());
      stopped.get(30, TimeUnit.SECONDS);
      assertEquals(
          acked.size(),
          server.server.stats().writesApplied.sum(),
          "every write the node applied was acked before it let the device go");
    } finally {
      server.close();
    }
  }

  /**
   * An accept the store has not answered when the node starts draining is answered, its grant
   * included, before the device is told to go elsewhere.
   */
  @Test
  void anAcceptInFlightWhenTheNodeStopsGetsItsGrantBeforeShutdown() throws Exception {
    GatedEngine engine = new GatedEngine(new MemoryEngine(StoreLimits.builder().build()));
    Nodes nodes = new Nodes();
    HandoffServer node = nodes.start("n1", engine, b -> {});
    try (TestDevice phone = TestDevice.connect(node.port(), token("dan", "phone"));
        TestDevice tv = TestDevice.connect(node.port(), token("dan", "tv"))) {
      phone.hello();
      phone.send(Writes.frame("player", 1, "position", "42"));
      phone.next(ServerFrame::hasAck);
      tv.hello();
      Offer offer = HandoffProtocolTest.offerFrom(phone, "tv", 60_000);
      tv.next(ServerFrame::hasOfferPrompt);
      engine.holdOfferEnds(1);
      long accept = tv.send(HandoffProtocolTest.accept(offer.getOfferId()));
      Conditions.await(
          "the accept held in the store",
          () -> engine.heldOfferEnds() == 1,
          Duration.ofSeconds(10));
      CompletableFuture<Void> stopped = CompletableFuture.runAsync(node::close);
      Conditions.await(
          "the node draining", () -> node.readiness().problem() != null, Duration.ofSeconds(10));
      engine.releaseOfferEnds();
      ServerFrame granted = tv.next(f -> f.getRequestId() == accept);
      assertTrue(granted.hasOfferGranted(), granted.toString());
      assertEquals(
          "42",
          granted.getOfferGranted().getSnapshot().getFieldsOrThrow("position").toStringUtf8());
      assertEquals(CloseCode.SHUTDOWN.code(), tv.awaitClose());
      stopped.get(30, TimeUnit.SECONDS);
    } finally {
      nodes.close();
    }
  }

  /**
   * A device whose upgrade waits for the store's word on its device session when the node begins to
   * drain is answered 503 at once, saying the node drains (both bundled clients then go to the next
   * endpoint within their short backoff), not dropped without an answer (which a client takes as a
   * failed connection, with its growing backoff).
   */
  @Test
  void anUpgradeWaitingForItsSessionCheckWhenTheNodeDrainsIsAnswered503() throws Exception {
    AppBackend app = new AppBackend();
    GatedEngine engine = new GatedEngine(new MemoryEngine(StoreLimits.builder().build()));
    Nodes nodes = new Nodes();
    HandoffServer node = nodes.start("n1", engine, b -> b.tokens(app.tokens().build()));
    CompletableFuture<Void> stopped = null;
    try (java.net.Socket s = new java.net.Socket("127.0.0.1", node.port())) {
      s.setSoTimeout(30_000);
      engine.holdSessionStatuses(1);
      String token =
          app.access(AppBackend.accessClaims("eve", "phone", "sid-eve", Duration.ofMinutes(5)));
      s.getOutputStream().write(upgrade(token));
      s.getOutputStream().flush();
      engine.changed.await(
          "the upgrade's session check held", () -> engine.heldSessionStatuses() == 1);

      stopped = CompletableFuture.runAsync(node::close);
      String answer =
          new String(s.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
      assertTrue(answer.startsWith("HTTP/1.1 503 "), "answered, not dropped: [" + answer + "]");
      assertTrue(answer.toLowerCase(java.util.Locale.ROOT).contains("connection: close"), answer);
      assertTrue(answer.contains("this node is draining"), answer);
      stopped.get(30, TimeUnit.SECONDS);
    } finally {
      engine.releaseSessionStatuses();
      if (stopped != null) {
        stopped.get(30, TimeUnit.SECONDS);
      }
      nodes.close();
    }
  }

  /**
   * A connection still in plain HTTP whose request the node has not read when it begins to drain
   * (an upgrade on its way, sent on a kept-alive connection) is answered 503, saying the node
   * drains, not cut off unread (a reset, which a client takes as a failed connection, with its
   * growing backoff). The upgrade is sent only once the node's port refuses connections: the drain
   * has begun. The close timeout, which bounds how long such a connection is kept, is long here so
   * that a slow machine cannot outlast it.
   */
  @Test
  void anUpgradeSentOnAnOpenConnectionAfterTheDrainBeganIsAnswered503() throws Exception {
    Nodes nodes = new Nodes();
    HandoffServer node =
        nodes.start(
            "n1",
            new MemoryEngine(StoreLimits.builder().build()),
            b -> b.closeTimeout(Duration.ofMinutes(1)).handshakeTimeout(Duration.ofMinutes(1)));
    CompletableFuture<Void> stopped = null;
    // A device that never answers the node's close frame: the drain lasts (up to the close
    // timeout, a minute here) until the test lets it go, and the idle connection lingers meanwhile.
    RawSocket held = RawSocket.connect(node.port(), token("dora", "tv"), 65536);
    try (java.net.Socket s = new java.net.Socket("127.0.0.1", node.port())) {
      held.send(
          io.handoff.protocol.v1.ClientFrame.newBuilder()
              .setHello(io.handoff.protocol.v1.Hello.getDefaultInstance())
              .build());
      s.setSoTimeout(30_000);
      // A probe first, the connection kept alive: the node has accepted it.
      s.getOutputStream()
          .write(
              "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                  .getBytes(java.nio.charset.StandardCharsets.US_ASCII));
      assertEquals(200, RawHttp.read(s.getInputStream()).status());

      stopped = CompletableFuture.runAsync(node::close);
      int port = node.port();
      Conditions.await(
          "the node's port closed (the drain began)",
          () -> {
            try (java.net.Socket probe = new java.net.Socket("127.0.0.1", port)) {
              return false;
            } catch (java.io.IOException refused) {
              return true;
            }
          },
          Duration.ofSeconds(10));

      s.getOutputStream().write(upgrade(token("dora", "phone")));
      RawHttp answer = RawHttp.read(s.getInputStream());
      assertEquals(503, answer.status(), answer.toString());
      assertEquals("close", answer.header("connection"), answer.toString());
      assertTrue(answer.body().contains("this node is draining"), answer.toString());
      assertEquals(-1, s.getInputStream().read(), "then the connection closes");
      held.close();
      stopped.get(30, TimeUnit.SECONDS);
    } finally {
      held.close();
      if (stopped != null) {
        stopped.get(30, TimeUnit.SECONDS);
      }
      nodes.close();
    }
  }

  /**
   * A drain longer than the heartbeat's silence window: the node reads nothing from its devices
   * while it drains, so they fall silent to it, but that is the node's doing, and a device whose
   * accept is still in the store gets its grant and then SHUTDOWN, not IDLE_TIMEOUT before it.
   * Heartbeats on fake time, moved tick by tick while the node drains.
   */
  @Test
  void devicesOfADrainingNodeAreNotClosedForTheSilenceTheDrainMakes() throws Exception {
    FakeScheduler time = new FakeScheduler();
    Duration heartbeat = Duration.ofSeconds(8);
    ServerConfig config =
        ServerConfig.builder()
            .host("127.0.0.1")
            .port(0)
            .nodeId("drain-hb")
            .jwtSecret(TestServer.SECRET)
            .storeLimits(StoreLimits.builder().build())
            .heartbeatInterval(heartbeat)
            .drainTimeout(Duration.ofSeconds(30)) // Longer than two heartbeat intervals.
            .build();
    GatedEngine engine = new GatedEngine(new MemoryEngine(config.storeLimits(), time.clock()));
    HandoffServer node = HandoffServer.start(config, engine, time);
    try (TestDevice phone = TestDevice.connect(node.port(), token("dan", "phone"));
        TestDevice tv = TestDevice.connect(node.port(), token("dan", "tv"))) {
      phone.hello();
      phone.send(Writes.frame("player", 1, "position", "42"));
      phone.next(ServerFrame::hasAck);
      tv.hello();
      Offer offer = HandoffProtocolTest.offerFrom(phone, "tv", 60_000);
      tv.next(ServerFrame::hasOfferPrompt);
      engine.holdOfferEnds(1);
      long accept = tv.send(HandoffProtocolTest.accept(offer.getOfferId()));
      Conditions.await(
          "the accept held in the store",
          () -> engine.heldOfferEnds() == 1,
          Duration.ofSeconds(10));
      CompletableFuture<Void> stopped = CompletableFuture.runAsync(node::close);
      Conditions.await(
          "the node draining", () -> node.readiness().problem() != null, Duration.ofSeconds(10));

      // Three heartbeat intervals, a quarter at a time; each tick has run on the user's loop
      // before time moves on.
      io.netty.channel.EventLoop loop = node.hub().loopsOf("dan").get(0);
      for (int i = 0; i < 12; i++) {
        time.advance(heartbeat.dividedBy(4));
        loop.submit(() -> {}).get(10, TimeUnit.SECONDS);
      }
      assertEquals(0, node.stats().idleCloses.sum(), "no device closed for silence");

      engine.releaseOfferEnds();
      ServerFrame granted = tv.next(f -> f.getRequestId() == accept);
      assertTrue(granted.hasOfferGranted(), granted.toString());
      assertEquals(CloseCode.SHUTDOWN.code(), tv.awaitClose());
      stopped.get(30, TimeUnit.SECONDS);
    } finally {
      node.close();
      engine.close();
    }
  }

  /**
   * An answer the store gives while the device's socket is full waits in the device's outbox; the
   * drain sends it before telling the device to go, rather than writing SHUTDOWN ahead of it and
   * dropping it. Here the answer is an accept's grant, held in the store while another device of
   * the user fills the socket of one that reads nothing until the node drains.
   */
  @Test
  void aGrantWaitingForAFullSocketReachesTheDeviceBeforeShutdown() throws Exception {
    GatedEngine engine = new GatedEngine(new MemoryEngine(StoreLimits.builder().build()));
    Nodes nodes = new Nodes();
    HandoffServer node =
        nodes.start(
            "n1",
            engine,
            b ->
                b.closeTimeout(Duration.ofSeconds(30))
                    .transport(TransportConfig.builder().socketSendBufferBytes(4096).build()));
    try (TestDevice phone = TestDevice.connect(node.port(), token("dan", "phone"));
        RawSocket tv = RawSocket.connect(node.port(), token("dan", "tv"), 4096)) {
      phone.hello();
      phone.send(Writes.frame("player", 1, "position", "42"));
      phone.next(ServerFrame::hasAck);
      tv.send(
          ClientFrame.newBuilder().setRequestId(1).setHello(Hello.getDefaultInstance()).build());
      Conditions.await("the tv online", () -> node.hub().sessions() == 2, Duration.ofSeconds(10));
      Offer offer = HandoffProtocolTest.offerFrom(phone, "tv", 60_000);
      engine.holdOfferEnds(1);
      long accept = 2;
      tv.send(HandoffProtocolTest.accept(offer.getOfferId()).setRequestId(accept).build());
      Conditions.await(
          "the accept held in the store",
          () -> engine.heldOfferEnds() == 1,
          Duration.ofSeconds(10));
      // The tv reads nothing: its socket fills, and the phone's writes wait in its outbox.
      String value = "x".repeat(16 * 1024);
      long seq = 1;
      while (node.queueBudget().queuedBytes() < 256 * 1024) {
        long s = ++seq;
        phone.send(Writes.frame("feed", s, "v", value));
        phone.next(f -> f.hasAck() && f.getAck().getClientSeq() == s);
      }
      CompletableFuture<Void> stopped = CompletableFuture.runAsync(node::close);
      Conditions.await(
          "the node draining", () -> node.readiness().problem() != null, Duration.ofSeconds(10));
      engine.releaseOfferEnds();
      Conditions.await(
          "the accept answered", () -> engine.heldOfferEnds() == 0, Duration.ofSeconds(10));
      ServerFrame granted = null;
      ServerFrame f;
      while (!(f = tv.readFrame()).hasDisconnect()) {
        if (f.getRequestId() == accept) {
          granted = f;
        }
      }
      assertEquals(CloseCode.SHUTDOWN.code(), f.getDisconnect().getCode());
      assertTrue(
          granted != null && granted.hasOfferGranted(),
          "the grant reached the tv before SHUTDOWN: " + granted);
      tv.close();
      stopped.get(30, TimeUnit.SECONDS);
    } finally {
      nodes.close();
    }
  }

  @Test
  void drainingNodeIsNotReadyAndRefusesNewConnections() throws Exception {
    TestServer server = TestServer.start();
    int port = server.port();
    HttpClient http = HttpClient.newHttpClient();
    URI readyz = URI.create("http://127.0.0.1:" + port + "/readyz");
    assertEquals(
        200,
        http.send(HttpRequest.newBuilder(readyz).build(), HttpResponse.BodyHandlers.ofString())
            .statusCode());
    server.close();
    assertTrue(
        http.sendAsync(HttpRequest.newBuilder(readyz).build(), HttpResponse.BodyHandlers.ofString())
            .handle((r, e) -> e != null)
            .get(10, TimeUnit.SECONDS),
        "a stopped node accepts no connection");
  }

  /**
   * With a drain delay a node told to stop answers {@code /readyz} 503 at once but keeps accepting
   * and serving until the delay (on the node's scheduler) is over: a load balancer that has not
   * probed since sends new connections to an open port, and they are served, not refused. Then it
   * drains as without one.
   */
  @Test
  void duringTheDrainDelayTheNodeIsNotReadyButStillAcceptsAndServes() throws Exception {
    FakeScheduler time = new FakeScheduler();
    Duration delay = Duration.ofSeconds(10);
    ServerConfig config = delayed(delay);
    MemoryEngine engine = new MemoryEngine(config.storeLimits(), time.clock());
    HandoffServer node = HandoffServer.start(config, engine, time);
    int port = node.port();
    CompletableFuture<Void> stopped = null;
    try (TestDevice phone = TestDevice.connect(port, token("dora", "phone"))) {
      phone.hello();
      stopped = CompletableFuture.runAsync(node::close);
      Conditions.await(
          "the node not ready", () -> node.readiness().problem() != null, Duration.ofSeconds(10));
      assertEquals("draining", node.readiness().problem());
      HttpClient http = HttpClient.newHttpClient();
      HttpResponse<String> probe =
          http.send(
              HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/readyz")).build(),
              HttpResponse.BodyHandlers.ofString());
      assertEquals(503, probe.statusCode(), "/readyz on the public port, still open");
      assertEquals("not ready: draining\n", probe.body());

      // Up to a millisecond before the delay ends: a new device connects and is served, and the
      // one already there keeps writing.
      time.advance(delay.minusMillis(1));
      try (TestDevice tv = TestDevice.connect(port, token("dora", "tv"))) {
        assertTrue(tv.hello().hasWelcome(), "a new upgrade during the delay is served");
        tv.send(Writes.frame("draft", 1, "text", "from the tv"));
        assertTrue(tv.next(ServerFrame::hasAck).hasAck());
        phone.send(Writes.frame("notes", 1, "text", "from the phone"));
        assertTrue(phone.next(ServerFrame::hasAck).hasAck());
        assertTrue(!stopped.isDone(), "the node has not drained yet");

        time.advance(Duration.ofMillis(1));
        ServerFrame f = tv.next(ServerFrame::hasDisconnect);
        assertEquals(CloseCode.SHUTDOWN.code(), f.getDisconnect().getCode());
        assertEquals(CloseCode.SHUTDOWN.code(), tv.awaitClose());
        assertEquals(
            CloseCode.SHUTDOWN.code(),
            phone.next(ServerFrame::hasDisconnect).getDisconnect().getCode());
        assertEquals(CloseCode.SHUTDOWN.code(), phone.awaitClose());
      }
      stopped.get(30, TimeUnit.SECONDS);
      assertThrows(
          java.net.ConnectException.class,
          () -> new java.net.Socket("127.0.0.1", port).close(),
          "the listener is closed once the drain began");
    } finally {
      if (stopped != null) {
        stopped.get(30, TimeUnit.SECONDS);
      }
      node.close();
      engine.close();
    }
  }

  /**
   * A second close() while the node waits out its drain delay (a process manager's second signal
   * relayed by an embedding application, or the node's own stop for a taken id) ends the delay:
   * both calls return once the node drained, without the node's time moving.
   */
  @Test
  void aSecondCloseDuringTheDrainDelayEndsItAndBothReturnOnceStopped() throws Exception {
    FakeScheduler time = new FakeScheduler();
    ServerConfig config = delayed(Duration.ofMinutes(5));
    MemoryEngine engine = new MemoryEngine(config.storeLimits(), time.clock());
    HandoffServer node = HandoffServer.start(config, engine, time);
    try (TestDevice phone = TestDevice.connect(node.port(), token("dora", "phone"))) {
      phone.hello();
      CompletableFuture<Void> first = CompletableFuture.runAsync(node::close);
      Conditions.await(
          "the node not ready", () -> node.readiness().problem() != null, Duration.ofSeconds(10));
      CompletableFuture<Void> second = CompletableFuture.runAsync(node::close);
      assertEquals(
          CloseCode.SHUTDOWN.code(),
          phone.next(ServerFrame::hasDisconnect).getDisconnect().getCode());
      first.get(30, TimeUnit.SECONDS);
      second.get(30, TimeUnit.SECONDS);
    } finally {
      time.advance(Duration.ofMinutes(5)); // Ends the delay should the test have failed.
      node.close();
      engine.close();
    }
  }

  private static ServerConfig delayed(Duration delay) {
    return ServerConfig.builder()
        .host("127.0.0.1")
        .port(0)
        .nodeId("drain-delay")
        .jwtSecret(TestServer.SECRET)
        .storeLimits(StoreLimits.builder().build())
        .drainDelay(delay)
        .build();
  }

  /** A WebSocket upgrade request to /ws carrying {@code token}. */
  private static byte[] upgrade(String token) {
    return ("GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            + "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            + "Authorization: Bearer "
            + token
            + "\r\n\r\n")
        .getBytes(java.nio.charset.StandardCharsets.US_ASCII);
  }
}
