package io.handoff.server;

import static io.handoff.server.HttpHeads.header;
import static io.handoff.server.HttpHeads.without;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.client.ConnectionState;
import io.handoff.client.HandoffClient;
import io.handoff.client.HandoffException;
import io.handoff.client.HandoffListener;
import java.io.IOException;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The Java client's Hello in the upgrade behind a proxy in front of a real node that spoils it: one
 * that takes the subprotocol for itself (its 101 says the Hello was read, but it kept the {@code
 * Handoff-Hello} header from the node), and one that mangles the header (the node refuses it with
 * 400 {@code invalid_hello}). Either way the client's next attempt sends the Hello as a frame and
 * is welcomed; after the 400 no attempt carries it again. The same after a 431 or 414 from a proxy
 * with a small limit. And one that drops the subprotocol from the node's 101: the client sends the
 * Hello the node read again, as a frame, which the node answers with nothing: the very frame of the
 * upgrade, even when the Hello built anew would differ.
 */
class ClientEarlyHelloFallbackTest {
  private static final long WAIT_SECONDS = 10;

  private TestServer server;
  private UpgradeProxy proxy;
  private HandoffClient client;
  private final BlockingQueue<ConnectionState> states = new LinkedBlockingQueue<>();
  private final List<String> errors = new CopyOnWriteArrayList<>();

  @AfterEach
  void stop() throws IOException {
    if (client != null) {
      client.close();
    }
    if (proxy != null) {
      proxy.close();
    }
    if (server != null) {
      server.close();
    }
  }

  @Test
  void behindAProxyThatTakesTheSubprotocolTheNextAttemptSendsTheHelloAsAFrame() throws Exception {
    FakeScheduler time = new FakeScheduler();
    server = TestServer.start(time, b -> {});
    // Takes the subprotocol for itself: the node gets neither it nor the Hello, and the client a
    // 101 that says the Hello was read.
    proxy =
        new UpgradeProxy(
            server.port(),
            request -> without(request, "handoff-hello", "sec-websocket-protocol"),
            UpgradeProxy::takeSubprotocol);
    client = client();
    client.connect();

    String first = proxy.requests.poll(WAIT_SECONDS, TimeUnit.SECONDS);
    assertNotNull(header(first, "handoff-hello"), "the first request carries no Hello:\n" + first);
    String taken = proxy.responses.poll(WAIT_SECONDS, TimeUnit.SECONDS);
    assertTrue(taken.startsWith("HTTP/1.1 101"), taken);
    // The node waits for a Hello that never comes and closes at its handshake limit (4002), as
    // the client would have given up at its connect timeout.
    time.advance(server.server.config().handshakeTimeout());

    String second = proxy.requests.poll(WAIT_SECONDS, TimeUnit.SECONDS);
    assertNotNull(second, "no second attempt");
    assertEquals(
        null, header(second, "handoff-hello"), "the Hello in the upgrade again:\n" + second);
    assertEquals(null, header(second, "sec-websocket-protocol"), second);
    awaitState(ConnectionState.CONNECTED);
    client.document("cart").set("item", new byte[] {1}).get(WAIT_SECONDS, TimeUnit.SECONDS);
  }

  @Test
  void afterTheNodesInvalidHelloNoAttemptCarriesTheHello() throws Exception {
    server = TestServer.start();
    // Mangles the header: the node answers 400 invalid_hello.
    proxy =
        new UpgradeProxy(
            server.port(),
            request -> request.replaceAll("(?im)^(handoff-hello:).*$", "$1 not*base64url"),
            UpgradeProxy::asIs);
    client = client();
    client.connect();

    String first = proxy.requests.poll(WAIT_SECONDS, TimeUnit.SECONDS);
    assertNotNull(header(first, "handoff-hello"), "the first request carries no Hello:\n" + first);
    String refusal = proxy.responses.poll(WAIT_SECONDS, TimeUnit.SECONDS);
    assertTrue(refusal.startsWith("HTTP/1.1 400"), refusal);
    awaitState(ConnectionState.CONNECTED);
    // A Welcome saying the node reads it does not bring it back: the next connection of the URL
    // sends the Hello as a frame too.
    reconnectsWithoutHello("400");
    client.document("cart").set("item", new byte[] {1}).get(WAIT_SECONDS, TimeUnit.SECONDS);
  }

  @ParameterizedTest
  @ValueSource(ints = {431, 414})
  void behindAProxyThatFindsTheRequestTooLargeTheHelloGoesAsAFrameAndNoMoreInTheUpgrade(int status)
      throws Exception {
    server = TestServer.start();
    // Refuses every request that carries the Hello, as one with a small header or URI limit; lets
    // the others through to the node.
    proxy =
        new UpgradeProxy(
            server.port(),
            UnaryOperator.identity(),
            UpgradeProxy::asIs,
            request ->
                header(request, "handoff-hello") == null
                    ? null
                    : "HTTP/1.1 " + status + " Too Large\r\nContent-Length: 0\r\n\r\n");
    client = client();
    client.connect();

    String first = proxy.requests.poll(WAIT_SECONDS, TimeUnit.SECONDS);
    assertNotNull(header(first, "handoff-hello"), "the first request carries no Hello:\n" + first);
    awaitState(ConnectionState.CONNECTED);
    reconnectsWithoutHello(Integer.toString(status));
    assertEquals(null, proxy.requests.poll(), "more attempts than connections");
    client.document("cart").set("item", new byte[] {1}).get(WAIT_SECONDS, TimeUnit.SECONDS);
  }

  @Test
  void behindAProxyThatDropsTheSubprotocolFromThe101TheClientConnectsAndIsToldOfNoError()
      throws Exception {
    server = TestServer.start();
    // The node reads the Hello in the header and sends its Welcome; the client, seeing no
    // subprotocol, sends the same Hello again as a frame.
    proxy =
        new UpgradeProxy(server.port(), UnaryOperator.identity(), UpgradeProxy::dropSubprotocol);
    client = client();
    client.connect();

    String first = proxy.requests.poll(WAIT_SECONDS, TimeUnit.SECONDS);
    assertNotNull(header(first, "handoff-hello"), "the first request carries no Hello:\n" + first);
    String read = proxy.responses.poll(WAIT_SECONDS, TimeUnit.SECONDS);
    assertEquals("handoff.hello", header(read, "sec-websocket-protocol"), read);
    awaitState(ConnectionState.CONNECTED);
    // Written after the second Hello, on the same connection: its answer comes after that one's.
    client.document("cart").set("item", new byte[] {1}).get(WAIT_SECONDS, TimeUnit.SECONDS);
    assertEquals(List.of(), errors, "errors told to the app");
    assertEquals(null, proxy.requests.poll(), "a second attempt");
  }

  @Test
  void behindAProxyThatDropsTheSubprotocolTheClientSendsTheVeryHelloOfTheUpgradeThoughItChanged()
      throws Exception {
    server = TestServer.start();
    proxy =
        new UpgradeProxy(server.port(), UnaryOperator.identity(), UpgradeProxy::dropSubprotocol);
    client = client();
    client.connect();
    awaitState(ConnectionState.CONNECTED);
    // Two replicas with a version. A Hello lists their positions in the order of the client's map
    // of replicas (a ConcurrentHashMap), where these two swap places when it grows from 16 bins to
    // 32: bins 1 and 2, then 17 and 2.
    List<String> kept = List.of("kept-1809", "kept-13");
    assertEquals(
        List.of(1, 2, 17, 2),
        List.of(
            bin(kept.get(0), 16),
            bin(kept.get(1), 16),
            bin(kept.get(0), 32),
            bin(kept.get(1), 32)));
    for (String name : kept) {
      client.document(name).set("f", new byte[] {1}).get(WAIT_SECONDS, TimeUnit.SECONDS);
    }
    // The first connection's upgrade and Hello frame came before the acks.
    proxy.requests.clear();
    proxy.firstFrames.clear();

    CountDownLatch release = proxy.hold();
    client.dropConnection();
    awaitState(ConnectionState.RECONNECTING);
    // The next upgrade request is at the proxy: its Hello was built. The node's 101 is held.
    String request = proxy.requests.poll(WAIT_SECONDS, TimeUnit.SECONDS);
    assertNotNull(request, "no second attempt");
    String carried = header(request, "handoff-hello");
    assertNotNull(carried, "the reconnect carries no Hello:\n" + request);
    // Meanwhile the app opens twenty more documents: the map of replicas grows to 32 bins.
    for (int i = 0; i < 20; i++) {
      client.document("opened-" + i);
    }
    release.countDown();
    awaitState(ConnectionState.CONNECTED);

    byte[] first = proxy.firstFrames.poll(WAIT_SECONDS, TimeUnit.SECONDS);
    assertArrayEquals(
        Base64.getUrlDecoder().decode(carried),
        first,
        "the first frame is not the upgrade's Hello");
    // A document opened in between is delivered, and the node took the repeat without an error:
    // the answer to a later write comes after its answer to the Hello frame.
    try (HandoffClient tv = TestServer.clientBuilder(server.url(), "hello-user", "tv").build()) {
      tv.connect().get(WAIT_SECONDS, TimeUnit.SECONDS);
      tv.document("opened-0").set("f", new byte[] {2}).get(WAIT_SECONDS, TimeUnit.SECONDS);
    }
    Conditions.await(
        "the tv's write reached the phone",
        () -> client.lastVersion("opened-0") == 1,
        Duration.ofSeconds(WAIT_SECONDS));
    client.document("cart").set("item", new byte[] {1}).get(WAIT_SECONDS, TimeUnit.SECONDS);
    assertEquals(List.of(), errors, "errors told to the app");
    assertEquals(null, proxy.requests.poll(), "a third attempt");
  }

  /**
   * The bin of {@code name} in a ConcurrentHashMap of {@code bins} bins (its spread of the hash).
   */
  private static int bin(String name, int bins) {
    int h = name.hashCode();
    return (h ^ (h >>> 16)) & 0x7fffffff & (bins - 1);
  }

  /**
   * Cuts the connection and waits for the next one: neither the attempt that connected after the
   * refusal ({@code after}) nor this one carried the Hello.
   */
  private void reconnectsWithoutHello(String after) throws Exception {
    client.dropConnection();
    awaitState(ConnectionState.RECONNECTING);
    awaitState(ConnectionState.CONNECTED);
    List<String> later = List.of(proxy.requests.poll(), proxy.requests.poll());
    for (String request : later) {
      assertNotNull(request, "fewer attempts than connections");
      assertEquals(
          null, header(request, "handoff-hello"), "the Hello after a " + after + ":\n" + request);
    }
  }

  private HandoffClient client() {
    return TestServer.clientBuilder(proxy.url(), "hello-user", "phone")
        .connectTimeout(Duration.ofSeconds(WAIT_SECONDS))
        .listener(
            new HandoffListener() {
              @Override
              public void onStateChanged(ConnectionState state, int closeCode, String reason) {
                states.add(state);
              }

              @Override
              public void onError(HandoffException error) {
                errors.add(error.getMessage());
              }
            })
        .build();
  }

  private void awaitState(ConnectionState expected) throws InterruptedException {
    TestServer.awaitState(states, expected, WAIT_SECONDS);
  }
}
