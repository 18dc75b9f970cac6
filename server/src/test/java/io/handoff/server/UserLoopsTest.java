package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.handoff.client.HandoffClient;
import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.Hello;
import io.handoff.server.transport.IoTransport;
import io.handoff.server.transport.TransportConfig;
import io.netty.channel.EventLoop;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.uring.IoUring;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Every connection of one user is served by the same event loop: connections are accepted onto the
 * loops in turn and moved to their user's loop at the upgrade (on epoll and NIO; io_uring's stay),
 * and what they carry afterwards arrives whole and in order.
 */
class UserLoopsTest {
  private static final int USERS = 6;
  private static final int DEVICES = 3;
  private static final int WRITES = 50;

  @ParameterizedTest
  @EnumSource(
      value = IoTransport.class,
      names = {"EPOLL", "NIO"})
  void everyConnectionOfAUserIsServedByOneLoopAndCarriesEveryVersionInOrder(IoTransport transport)
      throws Exception {
    assumeTrue(transport != IoTransport.EPOLL || Epoll.isAvailable(), "epoll is not offered here");
    try (TestServer server =
        TestServer.start(
            b -> b.transport(TransportConfig.builder().ioTransport(transport).build()))) {
      List<HandoffClient> clients = new ArrayList<>();
      List<ClientEndToEndTest.Recorder> recorders = new ArrayList<>();
      try {
        // One device of each user at a time: consecutive accepts go to different loops, so most
        // connections are accepted away from their user's loop and have to move.
        for (int d = 0; d < DEVICES; d++) {
          for (int u = 0; u < USERS; u++) {
            ClientEndToEndTest.Recorder r = new ClientEndToEndTest.Recorder();
            HandoffClient c = client(server, "user" + u, "device" + d, r);
            clients.add(c);
            recorders.add(r);
            c.connect().get(10, TimeUnit.SECONDS);
          }
        }
        Set<EventLoop> used = new HashSet<>();
        for (int u = 0; u < USERS; u++) {
          List<EventLoop> loops = server.server.hub().loopsOf("user" + u);
          assertEquals(DEVICES, loops.size(), "user" + u + "'s sessions");
          assertEquals(1, new HashSet<>(loops).size(), "user" + u + "'s sessions share one loop");
          used.addAll(loops);
        }
        assertTrue(used.size() > 1, "users spread over the loops, not all on one: " + used);

        // Device 0 of each user writes; the user's other devices get every version, in order.
        List<CompletableFuture<Long>> acks = new ArrayList<>();
        for (int i = 1; i <= WRITES; i++) {
          for (int u = 0; u < USERS; u++) {
            acks.add(
                clients
                    .get(u)
                    .document("player")
                    .set("position", ("t" + i).getBytes(StandardCharsets.UTF_8)));
          }
        }
        for (CompletableFuture<Long> ack : acks) {
          ack.get(10, TimeUnit.SECONDS);
        }
        List<Long> expected = new ArrayList<>();
        for (long v = 1; v <= WRITES; v++) {
          expected.add(v);
        }
        for (int d = 1; d < DEVICES; d++) {
          for (int u = 0; u < USERS; u++) {
            int i = d * USERS + u;
            recorders.get(i).awaitVersion(clients.get(i), "player", WRITES);
            assertEquals(
                expected,
                recorders.get(i).versions("player"),
                "user" + u + "'s device" + d + " got every version, in order");
          }
        }
      } finally {
        clients.forEach(HandoffClient::close);
      }
    }
  }

  @Test
  void aMovedConnectionThatNeverSaysHelloIsStillClosedAtTheHandshakeLimit() throws Exception {
    Duration limit = Duration.ofSeconds(5);
    FakeScheduler time = new FakeScheduler();
    List<RawSocket> silent = new ArrayList<>();
    try (TestServer server = TestServer.start(time, b -> b.handshakeTimeout(limit))) {
      try {
        // Accepted onto the loops in turn: all but the one accepted on bob's loop move, and each
        // starts its handshake limit again on bob's loop (the 101 is written after that).
        int loops = 2 * Runtime.getRuntime().availableProcessors();
        for (int i = 0; i < loops; i++) {
          silent.add(RawSocket.connect(server.port(), TestServer.token("bob", "device" + i), 0));
        }
        time.advance(limit);
        for (RawSocket s : silent) {
          assertEquals(CloseCode.IDLE_TIMEOUT.code(), s.readUntilClose());
        }
        assertEquals(loops, server.server.stats().idleCloses.sum());
      } finally {
        for (RawSocket s : silent) {
          s.close();
        }
      }
    }
  }

  /**
   * A connection kept open after a 426 (RFC 6455 section 4.4: ask again with version 13) that then
   * asks to upgrade for a user of another loop is refused, not moved again: each move starts the
   * handshake limit anew, and a socket asking for two users in turn never reached it.
   */
  @Test
  void aConnectionThatAsksForAnotherUsersUpgradeAfterA426IsRefusedNotMovedAgain() throws Exception {
    Duration limit = Duration.ofSeconds(5);
    FakeScheduler time = new FakeScheduler();
    try (TestServer server =
        TestServer.start(
            time,
            b ->
                b.handshakeTimeout(limit)
                    .transport(TransportConfig.builder().eventLoops(2).build()))) {
      List<String> users = usersOnTwoLoops(server);
      try (RawSocket s = RawSocket.open(server.port())) {
        s.writeRaw(version12Upgrade(users.get(0)));
        String refused = s.readHead();
        assertTrue(refused.startsWith("HTTP/1.1 426 "), refused);
        time.advance(limit.minusSeconds(1));
        s.writeRaw(version12Upgrade(users.get(1)));
        String head = s.readHead();
        assertTrue(head.startsWith("HTTP/1.1 400 "), head);
        String body = new String(s.socket.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(body.contains("asked to upgrade for another user before"), body);
      }
    }
  }

  private static byte[] version12Upgrade(String user) {
    return ("GET /ws HTTP/1.1\r\nHost: node\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 12\r\n"
            + "Authorization: Bearer "
            + TestServer.token(user, "phone")
            + "\r\n\r\n")
        .getBytes(StandardCharsets.US_ASCII);
  }

  /** Two users whose connections the node serves on two different loops. */
  private static List<String> usersOnTwoLoops(TestServer server) throws Exception {
    Map<EventLoop, String> byLoop = new HashMap<>();
    for (int u = 0; byLoop.size() < 2; u++) {
      String user = "loops" + u;
      try (RawSocket s = RawSocket.connect(server.port(), TestServer.token(user, "probe"), 0)) {
        s.send(
            ClientFrame.newBuilder().setRequestId(1).setHello(Hello.getDefaultInstance()).build());
        assertTrue(s.readFrame().hasWelcome());
        byLoop.putIfAbsent(server.server.hub().loopsOf(user).get(0), user);
      }
    }
    return new ArrayList<>(byLoop.values());
  }

  @Test
  void theNodeRunsAsManyEventLoopsAsItIsToldAndTwoPerCoreByDefault() throws Exception {
    try (TestServer server =
        TestServer.start(b -> b.transport(TransportConfig.builder().eventLoops(3).build()))) {
      assertEquals(3, server.server.eventLoops());
    }
    try (TestServer server = TestServer.start(b -> {})) {
      assertEquals(2 * Runtime.getRuntime().availableProcessors(), server.server.eventLoops());
    }
  }

  @Test
  void withUserLoopsOffEachConnectionStaysOnTheLoopThatAcceptedIt() throws Exception {
    staysWhereAccepted(b -> b.userLoops(false));
  }

  @Test
  void onIoUringEachConnectionStaysOnTheLoopThatAcceptedIt() throws Exception {
    // Netty's io_uring channels cannot move between loops; the node leaves them where they are.
    assumeTrue(IoUring.isAvailable(), "io_uring is not offered here");
    staysWhereAccepted(
        b -> b.transport(TransportConfig.builder().ioTransport(IoTransport.IO_URING).build()));
  }

  private static void staysWhereAccepted(Consumer<ServerConfig.Builder> config) throws Exception {
    try (TestServer server = TestServer.start(config)) {
      List<HandoffClient> clients = new ArrayList<>();
      try {
        for (int d = 0; d < DEVICES; d++) {
          HandoffClient c =
              client(server, "alice", "device" + d, new ClientEndToEndTest.Recorder());
          clients.add(c);
          c.connect().get(10, TimeUnit.SECONDS);
        }
        Set<EventLoop> loops = new HashSet<>(server.server.hub().loopsOf("alice"));
        // Netty hands accepted connections to its loops (2 per core) in turn.
        int workers = 2 * Runtime.getRuntime().availableProcessors();
        assertEquals(Math.min(DEVICES, workers), loops.size(), "alice's sessions' loops");
      } finally {
        clients.forEach(HandoffClient::close);
      }
    }
  }

  private static HandoffClient client(
      TestServer server, String user, String device, ClientEndToEndTest.Recorder r) {
    return TestServer.clientBuilder(server.url(), user, device).listener(r).build();
  }
}
