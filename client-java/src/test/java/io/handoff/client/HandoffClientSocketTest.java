package io.handoff.client;

import static io.handoff.client.Frames.ack;
import static io.handoff.client.Frames.bytes;
import static io.handoff.client.Frames.welcome;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.Position;
import io.handoff.protocol.v1.ServerFrame;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.handler.codec.http.websocketx.PingWebSocketFrame;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The whole client over a real socket, against a scripted WebSocket server on port 0. The tests of
 * a client that must never connect again run its engine with its timers on the test's clock ({@link
 * LoopTime}): they advance past every timer it set, then count its attempts.
 */
class HandoffClientSocketTest {
  private static final String TOKEN = "test-token";
  private static final long WAIT = TestServer.WAIT_SECONDS;
  private static final long EPOCH = 7;
  private static final Duration RECONNECT_MAX = Duration.ofMillis(100);

  /** Past every timer a client sets: the longest backoff, the connect timeout, and more. */
  private static final Duration PAST_EVERY_TIMER = Duration.ofDays(1);

  /**
   * The connect timeout of the tests that wait for it to end an attempt. It also bounds the TCP
   * connect and the upgrade: the first connection of a JIT-cold JVM on a loaded machine took more
   * than 300 ms, which gave that attempt up for the wrong reason.
   */
  private static final Duration SHORT_CONNECT_TIMEOUT = Duration.ofSeconds(3);

  private final BlockingQueue<ConnectionState> states = new LinkedBlockingQueue<>();
  // "STATE code reason" for each state change.
  private final BlockingQueue<String> transitions = new LinkedBlockingQueue<>();
  private final BlockingQueue<HandoffException> errors = new LinkedBlockingQueue<>();
  private final HandoffListener stateRecorder =
      new HandoffListener() {
        @Override
        public void onStateChanged(ConnectionState state, int closeCode, String reason) {
          states.add(state);
          transitions.add(state + " " + closeCode + " " + reason);
        }

        @Override
        public void onError(HandoffException error) {
          errors.add(error);
        }
      };
  private TestServer server;
  private HandoffClient client;
  // A client on the test's clock (onTestTime): its engine, event loop and timers.
  private SyncEngine engine;
  private ClientLoop loop;
  private LoopTime time;

  @BeforeEach
  void startServer() throws InterruptedException {
    server = new TestServer(TOKEN);
  }

  @AfterEach
  void stop() {
    if (client != null) {
      client.close();
    }
    if (engine != null) {
      loop.close(engine::close);
    }
    server.close();
  }

  private HandoffClient.Builder clientBuilder() {
    return HandoffClient.builder()
        .url(server.url())
        .reconnectBackoff(Duration.ofMillis(10), RECONNECT_MAX)
        .listener(stateRecorder);
  }

  /** The engine of the client {@code b} builds, on real sockets, its timers on {@link #time}. */
  private SyncEngine onTestTime(HandoffClient.Builder b) {
    loop = new ClientLoop(null);
    time = new LoopTime(loop);
    engine = time.engine(new ClientConfig(b));
    return engine;
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
    TestServer.Connection first = server.acceptAndWelcome();
    connected.get(WAIT, TimeUnit.SECONDS);
    first.close(4000, "server shutting down");
    awaitState(ConnectionState.RECONNECTING);
    server.acceptAndWelcome();
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

  /**
   * A proxy or load balancer in front of the node (a reload, an idle timeout) closes with a
   * standard code the node never sends: normal closure, going away, or a close frame without a
   * status. The client reconnects and resumes; only the node's terminal codes stop it.
   */
  @Test
  void standardCloseCodesOfAProxyReconnectAndResume() throws Exception {
    client = clientBuilder().token(TOKEN).build();
    CompletableFuture<Void> connected = client.connect();
    TestServer.Connection connection = server.acceptAndWelcome();
    connected.get(WAIT, TimeUnit.SECONDS);

    for (int code : new int[] {1000, 1001, 1005}) {
      transitions.clear();
      if (code == 1005) {
        connection.closeWithoutStatus();
      } else {
        connection.close(code, "proxy closing");
      }
      assertTrue(
          awaitTransition(ConnectionState.RECONNECTING).startsWith("RECONNECTING " + code + " "),
          () -> "after " + code + ": " + transitions);
      connection = server.acceptAndWelcome("resumed after " + code);
      awaitState(ConnectionState.CONNECTED);
    }
  }

  /**
   * The node's Disconnect says why it closed: a standard code in the close frame after it (put
   * there by a proxy that re-frames the close) does not turn a terminal close into a reconnect, nor
   * a reconnect into a stop.
   */
  @Test
  void aDisconnectDecidesOverAStandardCloseCodeThatFollowsIt() throws Exception {
    CompletableFuture<Void> connected = onTestTime(clientBuilder().token(TOKEN)).connect();
    TestServer.Connection connection = server.acceptAndWelcome();
    connected.get(WAIT, TimeUnit.SECONDS);

    connection.send(Frames.disconnect(4000, "server shutting down"));
    connection.close(1000, "");
    assertTrue(
        awaitTransition(ConnectionState.RECONNECTING).startsWith("RECONNECTING 4000 "),
        () -> String.valueOf(transitions));
    time.advance(RECONNECT_MAX);
    connection = server.acceptAndWelcome();
    awaitState(ConnectionState.CONNECTED);

    CompletableFuture<Long> written = engine.document("cart").set("item", bytes("book"));
    assertTrue(connection.next().hasWrite());
    connection.send(Frames.disconnect(4503, "device session revoked"));
    connection.close(1000, "");
    HandoffException e = failureOf(written);
    assertEquals(4503, e.closeCode());
    assertTrue(
        awaitTransition(ConnectionState.CLOSED).startsWith("CLOSED 4503 "),
        () -> String.valueOf(transitions));
    time.advance(PAST_EVERY_TIMER);
    assertEquals(2, time.attempts(), "no reconnect after a terminal Disconnect");
    assertEquals(ConnectionState.CLOSED, engine.state());
  }

  @Test
  void refusedUpgradeWithHttp401IsTerminal() throws Exception {
    client = clientBuilder().token("wrong-token").build();

    HandoffException e = failureOf(client.connect());

    assertEquals(4502, e.closeCode());
    assertTrue(e.getMessage().contains("401"), e.getMessage());
    assertEquals(ConnectionState.CLOSED, client.state());
  }

  /**
   * An upgrade refused with a status other than 401 or 403 (a proxy's 404 while a route is
   * deployed, a 503, a 429) is tried again after the backoff, each attempt reported with the
   * status; once the upgrades are taken again the client connects.
   */
  @Test
  void upgradesRefusedWithOtherStatusesAreTriedAgainUntilOneIsTaken() throws Exception {
    for (int status : new int[] {400, 404, 426, 429, 503}) {
      server.refuseWith = status;
      client = clientBuilder().token(TOKEN).build();
      CompletableFuture<Void> connected = client.connect();
      int before = server.tcpConnections.get();
      String seen = awaitTransition(ConnectionState.RECONNECTING);
      assertTrue(seen.startsWith("RECONNECTING 1006 ") && seen.contains(" " + status), seen);
      Conditions.await(
          "attempts after the refusal with " + status,
          () -> server.tcpConnections.get() - before >= 3,
          Duration.ofSeconds(WAIT));
      assertFalse(states.contains(ConnectionState.CLOSED), () -> status + ": " + transitions);
      server.refuseWith = 0;
      server.acceptAndWelcome();
      connected.get(WAIT, TimeUnit.SECONDS);
      client.close();
      transitions.clear();
      states.clear();
    }
  }

  @Test
  void anUpgradeRefusedWithASuppliedTokenIsTriedAgainWithTheNextOne() throws Exception {
    // The supplier's cached token expired while the device slept; the app renews it meanwhile.
    AtomicInteger asked = new AtomicInteger();
    client =
        clientBuilder()
            .tokenSupplier(() -> asked.getAndIncrement() == 0 ? "expired-token" : TOKEN)
            .build();
    CompletableFuture<Void> connected = client.connect();

    server.acceptAndWelcome();
    connected.get(WAIT, TimeUnit.SECONDS);
    assertEquals(ConnectionState.CONNECTED, client.state());
    assertEquals(2, asked.get(), "asked again after the 401");
  }

  @Test
  void closeSendsNormalClosureAndLeavesASharedGroupRunning() throws Exception {
    EventLoopGroup shared = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    try {
      client = clientBuilder().tokenSupplier(() -> TOKEN).eventLoopGroup(shared).build();
      client.connect();
      TestServer.Connection connection = server.acceptAndWelcome();
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

  private String awaitTransition(ConnectionState expected) throws InterruptedException {
    String seen;
    do {
      seen = transitions.poll(WAIT, TimeUnit.SECONDS);
      if (seen == null) {
        throw new AssertionError("state " + expected + " not reached within " + WAIT + " s");
      }
    } while (!seen.startsWith(expected + " "));
    return seen;
  }

  @Test
  void aServerThatKeepsPingingButNeverWelcomesIsGivenUpAfterTheConnectTimeout() throws Exception {
    CompletableFuture<Void> connected =
        onTestTime(clientBuilder().token(TOKEN).connectTimeout(SHORT_CONNECT_TIMEOUT)).connect();
    TestServer.Connection first = server.accept();
    assertTrue(first.next().hasHello());
    // A node whose Welcome is held up (its store is slow) pings on its heartbeat meanwhile: here
    // every 50 ms of real time, so the connection is never silent. The connect timeout passes on
    // the client's clock in three steps, each after the client answered a ping: a ping that put the
    // wait for the Welcome off, or ended it, would leave the attempt open at the timeout.
    ScheduledFuture<?> pings =
        first
            .channel
            .eventLoop()
            .scheduleAtFixedRate(
                () -> first.channel.writeAndFlush(new PingWebSocketFrame()),
                0,
                50,
                TimeUnit.MILLISECONDS);
    try {
      for (int step = 0; step < 3; step++) {
        first.awaitPong();
        time.advance(SHORT_CONNECT_TIMEOUT.dividedBy(3));
      }
      String reconnecting = awaitTransition(ConnectionState.RECONNECTING);
      assertTrue(reconnecting.startsWith("RECONNECTING 1006 "), reconnecting);
      assertTrue(reconnecting.contains("no Welcome within 3000 ms"), reconnecting);
      time.advance(RECONNECT_MAX);
      server.acceptAndWelcome();
      connected.get(WAIT, TimeUnit.SECONDS);
    } finally {
      pings.cancel(false);
    }
  }

  // ---- the wait for an asynchronous token ----

  @Test
  void tokenSourceThatNeverAnswersTimesOutAndTheClientRetries() throws Exception {
    CompletableFuture<String> never = new CompletableFuture<>();
    AtomicInteger asked = new AtomicInteger();
    client =
        clientBuilder()
            .connectTimeout(SHORT_CONNECT_TIMEOUT)
            .tokenSource(
                () ->
                    asked.incrementAndGet() == 1 ? never : CompletableFuture.completedFuture(TOKEN))
            .build();
    CompletableFuture<Void> connected = client.connect();

    String reconnecting = awaitTransition(ConnectionState.RECONNECTING);
    assertTrue(reconnecting.startsWith("RECONNECTING 1006 "), reconnecting);
    assertTrue(reconnecting.contains("no access token"), reconnecting);
    assertEquals("Bearer " + TOKEN, server.acceptAndWelcome().authorization);
    connected.get(WAIT, TimeUnit.SECONDS);
    assertEquals(2, asked.get());
    // That the first token, coming after its attempt timed out, starts no connection is
    // DeferredFrameChannelTest's, on a loop whose time the test moves.
  }

  @Test
  void dropConnectionWhileWaitingForTheTokenEndsTheAttempt() throws Exception {
    CountDownLatch firstAsked = new CountDownLatch(1);
    AtomicInteger asked = new AtomicInteger();
    client =
        clientBuilder()
            // Far beyond the test's waits: only the drop can end the first attempt in time.
            .connectTimeout(Duration.ofMinutes(5))
            .tokenSource(
                () -> {
                  if (asked.incrementAndGet() == 1) {
                    firstAsked.countDown();
                    return new CompletableFuture<>();
                  }
                  return CompletableFuture.completedFuture(TOKEN);
                })
            .build();
    CompletableFuture<Void> connected = client.connect();
    assertTrue(firstAsked.await(WAIT, TimeUnit.SECONDS));

    client.dropConnection();

    String reconnecting = awaitTransition(ConnectionState.RECONNECTING);
    assertTrue(reconnecting.startsWith("RECONNECTING 1006 "), reconnecting);
    server.acceptAndWelcome();
    connected.get(WAIT, TimeUnit.SECONDS);
  }

  @Test
  void closeWhileWaitingForTheTokenClosesTheClient() throws Exception {
    client = clientBuilder().tokenSource(CompletableFuture::new).build();
    CompletableFuture<Void> connected = client.connect();
    awaitState(ConnectionState.CONNECTING);

    client.close();

    assertEquals(0, failureOf(connected).closeCode());
    assertEquals(ConnectionState.CLOSED, client.state());
    assertEquals(0, server.tcpConnections.get());
  }

  // ---- credentials that can never be sent ----

  @Test
  void tokenWithALineBreakFailsAtOnceWithUnauthorizedAndNoRetry() throws Exception {
    AtomicInteger asked = new AtomicInteger();
    onTestTime(
        clientBuilder()
            .tokenSupplier(
                () -> {
                  asked.incrementAndGet();
                  return TOKEN + "\r\nX-Injected: 1";
                }));
    CompletableFuture<Long> written = engine.document("cart").set("item", bytes("book"));

    HandoffException e = failureOf(engine.connect());

    // 4502 UNAUTHORIZED, as the TypeScript client reports a token it cannot send.
    assertNull(e.errorCode());
    assertEquals(4502, e.closeCode());
    assertFalse(e.retryable());
    assertTrue(e.getMessage().contains("the access token cannot be used"), e.getMessage());
    assertFalse(e.getMessage().contains(TOKEN), "the token must not be in the message");
    assertEquals(4502, failureOf(written).closeCode());
    HandoffException reported = errors.poll(WAIT, TimeUnit.SECONDS);
    assertNotNull(reported, "onError must report it");
    assertEquals(4502, reported.closeCode());
    assertEquals(ConnectionState.CLOSED, engine.state());
    time.advance(PAST_EVERY_TIMER);
    assertEquals(1, asked.get(), "the client must not retry with a token it cannot send");
    assertEquals(1, time.attempts(), "no connection attempt follows");
    assertEquals(0, server.tcpConnections.get(), "nothing may reach the server");
    assertEquals(ConnectionState.CLOSED, engine.state());
  }

  @Test
  void emptyTokenFromTheTokenSourceFailsAtOnceWithUnauthorized() throws Exception {
    AtomicInteger asked = new AtomicInteger();
    onTestTime(
        clientBuilder()
            .tokenSource(
                () -> {
                  asked.incrementAndGet();
                  return CompletableFuture.supplyAsync(() -> "");
                }));

    HandoffException e = failureOf(engine.connect());

    assertEquals(4502, e.closeCode());
    assertTrue(e.getMessage().contains("empty"), e.getMessage());
    assertEquals(ConnectionState.CLOSED, engine.state());
    time.advance(PAST_EVERY_TIMER);
    assertEquals(1, asked.get());
    assertEquals(1, time.attempts(), "no connection attempt follows");
    assertEquals(0, server.tcpConnections.get());
    assertEquals(ConnectionState.CLOSED, engine.state());
  }

  // ---- a Hello the server refuses ----

  private static ServerFrame helloRefusal(long requestId, boolean retryable) {
    return ServerFrame.newBuilder()
        .setRequestId(requestId)
        .setError(
            io.handoff.protocol.v1.Error.newBuilder()
                .setCode(retryable ? ErrorCode.INTERNAL : ErrorCode.LIMIT_EXCEEDED)
                .setMessage("following 300 names and prefixes; the limit is 256")
                .setRetryable(retryable))
        .build();
  }

  @Test
  void errorAnsweringTheHelloIsTerminalAndTyped() throws Exception {
    CompletableFuture<Void> connected =
        onTestTime(clientBuilder().token(TOKEN).followDocuments("cart")).connect();
    TestServer.Connection connection = server.accept();
    ClientFrame hello = connection.next();
    assertTrue(hello.hasHello());
    assertTrue(hello.getRequestId() != 0, "the Hello carries a request id");

    connection.send(helloRefusal(hello.getRequestId(), false));

    HandoffException e = failureOf(connected);
    assertEquals(ErrorCode.LIMIT_EXCEEDED, e.errorCode());
    assertTrue(e.getMessage().contains("the limit is 256"), e.getMessage());
    assertEquals(ConnectionState.CLOSED, engine.state());
    HandoffException reported = errors.poll(WAIT, TimeUnit.SECONDS);
    assertNotNull(reported, "onError must report it");
    assertEquals(ErrorCode.LIMIT_EXCEEDED, reported.errorCode());
    assertEquals(1000, connection.clientCloseCode.get(WAIT, TimeUnit.SECONDS));
    time.advance(PAST_EVERY_TIMER);
    assertEquals(1, time.attempts(), "the client must not reconnect");
    assertEquals(ConnectionState.CLOSED, engine.state());
  }

  @Test
  void retryableErrorAnsweringTheHelloReconnects() throws Exception {
    client = clientBuilder().token(TOKEN).build();
    CompletableFuture<Void> connected = client.connect();
    TestServer.Connection first = server.accept();
    ClientFrame hello = first.next();

    first.send(helloRefusal(hello.getRequestId(), true));

    server.acceptAndWelcome();
    connected.get(WAIT, TimeUnit.SECONDS);
    assertEquals(ErrorCode.INTERNAL, errors.poll(WAIT, TimeUnit.SECONDS).errorCode());
  }

  @Test
  void errorWithoutTheHellosRequestIdBeforeTheWelcomeIsNotTerminal() throws Exception {
    client = clientBuilder().token(TOKEN).build();
    CompletableFuture<Void> connected = client.connect();
    TestServer.Connection connection = server.accept();
    assertTrue(connection.next().hasHello());

    // E.g. the answer to an in-band RefreshToken sent before the Welcome.
    connection.send(helloRefusal(0, false));
    connection.send(welcome(0));

    connected.get(WAIT, TimeUnit.SECONDS);
    assertEquals(ConnectionState.CONNECTED, client.state());
  }
}
