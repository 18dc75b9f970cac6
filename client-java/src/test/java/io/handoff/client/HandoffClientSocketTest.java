package io.handoff.client;

import static io.handoff.client.Frames.ack;
import static io.handoff.client.Frames.bytes;
import static io.handoff.client.Frames.welcome;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.Position;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The whole client over a real socket, against a scripted WebSocket server on port 0. */
class HandoffClientSocketTest {
  private static final String TOKEN = "test-token";
  private static final long WAIT = TestServer.WAIT_SECONDS;
  private static final long EPOCH = 7;

  private final BlockingQueue<ConnectionState> states = new LinkedBlockingQueue<>();
  private final HandoffListener stateRecorder =
      new HandoffListener() {
        @Override
        public void onStateChanged(ConnectionState state, int closeCode, String reason) {
          states.add(state);
        }
      };
  private TestServer server;
  private HandoffClient client;

  @BeforeEach
  void startServer() throws InterruptedException {
    server = new TestServer(TOKEN);
  }

  @AfterEach
  void stop() {
    if (client != null) {
      client.close();
    }
    server.close();
  }

  private HandoffClient.Builder clientBuilder() {
    return HandoffClient.builder()
        .url(server.url())
        .reconnectBackoff(Duration.ofMillis(10), Duration.ofMillis(100))
        .listener(stateRecorder);
  }

  private void awaitState(ConnectionState expected) throws InterruptedException {
    ConnectionState seen;
    do {
      seen = states.poll(WAIT, TimeUnit.SECONDS);
      if (seen == null) {
        throw new AssertionError("state " + expected + " not reached within " + WAIT + " s");
      }
    } while (seen != expected);
  }

  private static HandoffException failureOf(CompletableFuture<?> future) {
    ExecutionException e =
        assertThrows(ExecutionException.class, () -> future.get(WAIT, TimeUnit.SECONDS));
    return assertInstanceOf(HandoffException.class, e.getCause());
  }

  @Test
  void clientConnectsWritesAndResumesAfterAReconnectCode() throws Exception {
    client = clientBuilder().token(TOKEN).build();
    Document cart = client.document("cart");
    CompletableFuture<Long> written = cart.set("item", bytes("book"));
    CompletableFuture<Void> connected = client.connect();

    TestServer.Connection first = server.accept();
    assertEquals("Bearer " + TOKEN, first.authorization);
    ClientFrame hello = first.next();
    assertTrue(hello.hasHello(), () -> "first frame must be Hello: " + hello);
    assertEquals(0, hello.getHello().getPositionsCount());
    first.send(welcome(0));
    connected.get(WAIT, TimeUnit.SECONDS);
    assertEquals(Frames.DEVICE, client.deviceId());
    assertEquals(ConnectionState.CONNECTED, client.state());

    ClientFrame write = first.next();
    assertEquals("cart", write.getWrite().getDocument());
    assertEquals(1, write.getWrite().getClientSeq());
    first.send(ack("cart", 1, EPOCH, 1));
    assertEquals(1L, written.get(WAIT, TimeUnit.SECONDS));
    assertEquals(1, client.lastVersion("cart"));
    assertEquals(bytes("book"), cart.get("item"));

    first.close(4000, "server shutting down");
    awaitState(ConnectionState.RECONNECTING);

    TestServer.Connection second = server.accept();
    ClientFrame resume = second.next();
    assertEquals(
        List.of(Position.newBuilder().setDocument("cart").setEpoch(EPOCH).setVersion(1).build()),
        resume.getHello().getPositionsList());
    second.send(welcome(1));
    awaitState(ConnectionState.CONNECTED);

    CompletableFuture<Long> next = cart.set("item", bytes("pen"));
    assertEquals(2, second.next().getWrite().getClientSeq());
    second.send(ack("cart", 2, EPOCH, 2));
    assertEquals(2L, next.get(WAIT, TimeUnit.SECONDS));
  }

  @Test
  void clientReachesAServerNamedByHostNameOnEveryAttempt() throws Exception {
    // An IP address in the URL is resolved once; a name is resolved on each attempt.
    URI byName = URI.create(server.url().toString().replace("127.0.0.1", "localhost"));
    client =
        HandoffClient.builder()
            .url(byName)
            .reconnectBackoff(Duration.ofMillis(10), Duration.ofMillis(100))
            .listener(stateRecorder)
            .token(TOKEN)
            .build();
    CompletableFuture<Void> connected = client.connect();
    TestServer.Connection first = server.accept();
    assertTrue(first.next().hasHello());
    first.send(welcome(0));
    connected.get(WAIT, TimeUnit.SECONDS);
    first.close(4000, "server shutting down");
    awaitState(ConnectionState.RECONNECTING);
    TestServer.Connection second = server.accept();
    assertTrue(second.next().hasHello());
    second.send(welcome(0));
    awaitState(ConnectionState.CONNECTED);
  }

  @Test
  void terminalCloseCodeClosesTheClientAndFailsItsFutures() throws Exception {
    client = clientBuilder().token(TOKEN).build();
    CompletableFuture<Void> connected = client.connect();
    CompletableFuture<Long> written = client.document("cart").set("item", bytes("book"));

    TestServer.Connection connection = server.accept();
    assertTrue(connection.next().hasHello());
    connection.close(4502, "token rejected");

    assertEquals(4502, failureOf(connected).closeCode());
    HandoffException writeFailure = failureOf(written);
    assertEquals(4502, writeFailure.closeCode());
    assertTrue(writeFailure.getMessage().contains("token rejected"), writeFailure.getMessage());
    awaitState(ConnectionState.CLOSED);
    assertEquals(ConnectionState.CLOSED, client.state());
  }

  @Test
  void refusedUpgradeWithHttp401IsTerminal() throws Exception {
    client = clientBuilder().token("wrong-token").build();

    HandoffException e = failureOf(client.connect());

    assertEquals(4502, e.closeCode());
    assertTrue(e.getMessage().contains("401"), e.getMessage());
    assertEquals(ConnectionState.CLOSED, client.state());
  }

  @Test
  void closeSendsNormalClosureAndLeavesASharedGroupRunning() throws Exception {
    EventLoopGroup shared = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    try {
      client = clientBuilder().tokenSupplier(() -> TOKEN).eventLoopGroup(shared).build();
      client.connect();
      TestServer.Connection connection = server.accept();
      assertTrue(connection.next().hasHello());
      connection.send(welcome(0));
      awaitState(ConnectionState.CONNECTED);
      CompletableFuture<Long> unacked = client.document("cart").set("item", bytes("book"));
      assertTrue(connection.next().hasWrite());

      client.close();

      assertEquals(1000, connection.clientCloseCode.get(WAIT, TimeUnit.SECONDS));
      assertEquals(ConnectionState.CLOSED, client.state());
      HandoffException e = failureOf(unacked);
      assertEquals(0, e.closeCode());
      assertFalse(shared.isShuttingDown(), "a shared group belongs to the application");
    } finally {
      shared.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }
  }
}
