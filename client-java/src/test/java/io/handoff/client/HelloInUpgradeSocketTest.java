package io.handoff.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.client.internal.Handshake;
import io.handoff.client.internal.MaskedFrames;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.Position;
import io.handoff.protocol.v1.ServerFrame;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The client's Hello in the upgrade request, against scripted nodes on a real socket (a plain
 * {@link ServerSocket} that reads each upgrade request and answers with exactly the bytes a test
 * gives): a node that reads it (its 101 names the subprotocol) gets no Hello frame; one that does
 * not (its 101 names none) gets the Hello as the first frame; a Hello over {@link
 * Handshake#MAX_EARLY_HELLO_BYTES} goes as the first frame and the request offers none. An attempt
 * carrying it that fails in a way that points at it (refused with 400, or a 101 that says it was
 * read and no Welcome) makes the next send it as a frame, and a 400 or three such failures in a row
 * end it for the URL. The tests that wait out the connect timeout run the client's engine with its
 * timers on the test's clock ({@link LoopTime}).
 */
class HelloInUpgradeSocketTest {
  private static final long WAIT_SECONDS = 10;
  private static final String TOKEN = "header.payload.signature";
  private static final Duration RECONNECT_MAX = Duration.ofMillis(50);

  private ServerSocket server;
  private HandoffClient client;
  // The scripted node's end: its assertions fail the test (checked after the client closed).
  private CompletableFuture<Void> scripts;
  // A client on the test's clock (onTestTime): its engine, event loop and timers.
  private SyncEngine engine;
  private ClientLoop loop;
  private LoopTime time;
  private final BlockingQueue<ConnectionState> states = new LinkedBlockingQueue<>();
  // The requests of the attempts readByNoOne answered, each once the client read its 101.
  private final BlockingQueue<Request> opened = new LinkedBlockingQueue<>();

  @BeforeEach
  void start() throws IOException {
    server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
  }

  @AfterEach
  void stop() throws Exception {
    if (client != null) {
      client.close();
    }
    if (engine != null) {
      loop.close(engine::close);
    }
    server.close();
    if (scripts != null) {
      try {
        scripts.get(WAIT_SECONDS, TimeUnit.SECONDS);
      } catch (ExecutionException e) {
        throw new AssertionError("the scripted node failed: " + e.getCause(), e.getCause());
      }
    }
  }

  @Test
  void aNodeThatReadsTheHelloOfTheUpgradeGetsNoHelloFrame() throws Exception {
    welcomedWithoutAHelloFrame(false);
  }

  @Test
  void theHelloOfAnUpgradeAfterATokenSourceIsReadToo() throws Exception {
    welcomedWithoutAHelloFrame(true);
  }

  private void welcomedWithoutAHelloFrame(boolean tokenSource) throws Exception {
    CompletableFuture<ClientFrame> firstFrame = new CompletableFuture<>();
    serve(
        (request, out, in) -> {
          ClientFrame hello = request.hello();
          assertNotNull(hello, "the request carries no Hello:\n" + request.head);
          assertEquals(SyncEngine.HELLO_REQUEST_ID, hello.getRequestId());
          assertEquals("hello-test", hello.getHello().getClient());
          // The Welcome leaves with the 101, as a node that read the Hello sends it.
          ByteArrayOutputStream b = new ByteArrayOutputStream();
          b.write(switching(request.key, true));
          b.write(frame(welcome()));
          out.write(b.toByteArray());
          out.flush();
          firstFrame.complete(readClientFrame(in));
          MaskedFrames.awaitEnd(in);
        });
    HandoffClient.Builder builder = builder();
    if (tokenSource) {
      builder.tokenSource(() -> CompletableFuture.supplyAsync(() -> TOKEN));
    } else {
      builder.token(TOKEN);
    }
    client = builder.build();
    awaitScripted(client.connect());
    // A Ping now: frames come in order, so a Hello frame would have come before it.
    client.checkConnection();
    ClientFrame first = awaitScripted(firstFrame);
    assertTrue(first.hasPing(), "the first frame after the Welcome is no Ping: " + first);
  }

  @Test
  void aNodeThatDoesNotKnowTheFeatureGetsTheHelloAsTheFirstFrame() throws Exception {
    serve(
        (request, out, in) -> {
          ClientFrame offered = request.hello();
          assertNotNull(offered, "the request carries no Hello:\n" + request.head);
          // A node that does not know the feature ignores the header and names no subprotocol.
          out.write(switching(request.key, false));
          out.flush();
          ClientFrame hello = readClientFrame(in);
          assertTrue(hello.hasHello(), hello.toString());
          assertEquals(SyncEngine.HELLO_REQUEST_ID, hello.getRequestId());
          assertEquals(offered, hello);
          out.write(frame(welcome()));
          out.flush();
          MaskedFrames.awaitEnd(in);
        });
    client = builder().token(TOKEN).build();
    awaitScripted(client.connect());
    assertEquals(ConnectionState.CONNECTED, client.state());
  }

  @Test
  void aHelloOverTheLimitGoesAsTheFirstFrame() throws Exception {
    // Positions of 40 documents with names of 60 characters: about 2.8 KB, over the limit.
    List<String> names = new ArrayList<>();
    for (int i = 0; i < 40; i++) {
      names.add(String.format("doc-%02d-", i) + "x".repeat(53));
    }
    CompletableFuture<ClientFrame> secondHello = new CompletableFuture<>();
    serve(
        (request, out, in) -> {
          // The first connection's Hello holds no position: it goes in the upgrade.
          ClientFrame hello = request.hello();
          assertNotNull(hello, "the request carries no Hello:\n" + request.head);
          assertEquals(0, hello.getHello().getPositionsCount());
          ByteArrayOutputStream b = new ByteArrayOutputStream();
          b.write(switching(request.key, true));
          b.write(frame(welcome()));
          for (String name : names) {
            b.write(frame(Frames.snapshot(name, 1, 3, Map.of("f", Frames.bytes("v")))));
          }
          // Going away: the client answers the close frame and reconnects.
          b.write(new byte[] {(byte) 0x88, 2, 0x03, (byte) 0xE9});
          out.write(b.toByteArray());
          out.flush();
          MaskedFrames.awaitEnd(in);
        },
        (request, out, in) -> {
          assertNull(request.hello(), "a Hello over the limit in the request:\n" + request.head);
          assertFalse(
              request.headers.containsKey("sec-websocket-protocol"),
              "the subprotocol offered without a Hello:\n" + request.head);
          out.write(switching(request.key, false));
          out.flush();
          ClientFrame hello = readClientFrame(in);
          secondHello.complete(hello);
          out.write(frame(welcome()));
          out.flush();
          MaskedFrames.awaitEnd(in);
        });
    client = builder().token(TOKEN).build();
    awaitScripted(client.connect());
    ClientFrame hello = awaitScripted(secondHello);
    assertTrue(hello.hasHello(), hello.toString());
    assertEquals(SyncEngine.HELLO_REQUEST_ID, hello.getRequestId());
    assertEquals(
        names,
        hello.getHello().getPositionsList().stream().map(Position::getDocument).sorted().toList());
    assertTrue(hello.getSerializedSize() > Handshake.MAX_EARLY_HELLO_BYTES, hello.toString());
  }

  @Test
  void aHelloSaidReadWithoutAWelcomeMakesTheNextAttemptSendItAsAFrame() throws Exception {
    // Something between took the subprotocol for itself: its 101 says the Hello was read, but the
    // node never had it, and no Welcome comes.
    serve(
        readByNoOne(),
        (request, out, in) -> {
          assertNull(request.hello(), "the Hello in the upgrade again:\n" + request.head);
          assertFalse(
              request.headers.containsKey("sec-websocket-protocol"),
              "the subprotocol offered without a Hello:\n" + request.head);
          welcomeAHelloFrame(request, out, in, true);
          MaskedFrames.awaitEnd(in);
        });
    onTestTime(builder().token(TOKEN));
    CompletableFuture<Void> connected = engine.connect();
    waitOutTheWelcome();
    awaitScripted(connected);
  }

  @Test
  void threeHellosSaidReadWithoutAWelcomeInARowEndItForTheUrl() throws Exception {
    List<Script> scripts = new ArrayList<>();
    for (int i = 0; i < EarlyHellos.MAX_FAILURES; i++) {
      scripts.add(readByNoOne());
      // Welcomed with the Hello as a frame, by a node that says it reads it in the upgrade: the
      // next attempt tries again, until the third failure.
      scripts.add(
          (request, out, in) -> {
            assertNull(
                request.hello(), "the Hello in the upgrade after a failure:\n" + request.head);
            welcomeAHelloFrame(request, out, in, true);
            goAway(out, in);
          });
    }
    CompletableFuture<Void> last = new CompletableFuture<>();
    scripts.add(
        (request, out, in) -> {
          assertNull(
              request.hello(), "the Hello in the upgrade after three failures:\n" + request.head);
          welcomeAHelloFrame(request, out, in, true);
          last.complete(null);
          MaskedFrames.awaitEnd(in);
        });
    serve(scripts.toArray(Script[]::new));
    onTestTime(builder().token(TOKEN));
    engine.connect();
    for (int i = 0; i < EarlyHellos.MAX_FAILURES; i++) {
      waitOutTheWelcome();
      awaitState(ConnectionState.CONNECTED);
      awaitState(ConnectionState.RECONNECTING);
      time.advance(RECONNECT_MAX);
    }
    awaitScripted(last);
  }

  @Test
  void aRefusalWith400MakesTheNextAttemptSendItAsAFrameAndNoLaterOneCarriesIt() throws Exception {
    CompletableFuture<Void> last = new CompletableFuture<>();
    serve(
        (request, out, in) -> {
          assertNotNull(request.hello(), "the request carries no Hello:\n" + request.head);
          byte[] body =
              "{\"error\":\"invalid_hello\",\"message\":\"the Handoff-Hello header is not base64url\"}"
                  .getBytes(StandardCharsets.UTF_8);
          out.write(
              ("HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: "
                      + body.length
                      + "\r\nconnection: close\r\n\r\n")
                  .getBytes(StandardCharsets.US_ASCII));
          out.write(body);
          out.flush();
          MaskedFrames.awaitEnd(in);
        },
        (request, out, in) -> {
          assertNull(request.hello(), "the Hello in the upgrade after a 400:\n" + request.head);
          // The node says it reads it: the URL gets it no more all the same.
          welcomeAHelloFrame(request, out, in, true);
          goAway(out, in);
        },
        (request, out, in) -> {
          assertNull(request.hello(), "the Hello in the upgrade after a 400:\n" + request.head);
          welcomeAHelloFrame(request, out, in, true);
          last.complete(null);
          MaskedFrames.awaitEnd(in);
        });
    client = builder().token(TOKEN).build();
    client.connect();
    awaitScripted(last);
  }

  /**
   * A node (or something before it) whose 101 says it read the Hello of the request and which sends
   * nothing after it. It pings once: the client's pong says it read the 101, and so waits for the
   * Welcome.
   */
  private Script readByNoOne() {
    return (request, out, in) -> {
      assertNotNull(request.hello(), "the request carries no Hello:\n" + request.head);
      out.write(switching(request.key, true));
      out.write(new byte[] {(byte) 0x89, 0});
      out.flush();
      MaskedFrames.readClientFrame(in, 0x8A);
      opened.add(request);
      MaskedFrames.awaitEnd(in); // The client gives the attempt up, as a network failure would.
    };
  }

  /**
   * Waits until the client read a readByNoOne 101, then moves its clock past the wait for a
   * Welcome.
   */
  private void waitOutTheWelcome() throws Exception {
    awaitScripted(CompletableFuture.supplyAsync(this::nextOpened));
    time.advance(Duration.ofSeconds(WAIT_SECONDS).plus(RECONNECT_MAX));
  }

  private Request nextOpened() {
    try {
      Request r = opened.poll(WAIT_SECONDS, TimeUnit.SECONDS);
      if (r == null) {
        throw new AssertionError("no 101 read by the client within " + WAIT_SECONDS + " s");
      }
      return r;
    } catch (InterruptedException e) {
      throw new AssertionError(e);
    }
  }

  /** Answers with a 101 without the subprotocol, reads the Hello frame, and welcomes it. */
  private static void welcomeAHelloFrame(
      Request request, OutputStream out, InputStream in, boolean helloInUpgrade) throws Exception {
    out.write(switching(request.key, false));
    out.flush();
    ClientFrame hello = readClientFrame(in);
    assertTrue(hello.hasHello(), hello.toString());
    out.write(frame(welcome(helloInUpgrade)));
    out.flush();
  }

  /** Closes with 1001 (going away), as a proxy reloading: the client reconnects. */
  private static void goAway(OutputStream out, InputStream in) throws IOException {
    out.write(new byte[] {(byte) 0x88, 2, 0x03, (byte) 0xE9});
    out.flush();
    MaskedFrames.awaitEnd(in);
  }

  /** The engine of the client {@code b} builds, on real sockets, its timers on {@link #time}. */
  private void onTestTime(HandoffClient.Builder b) {
    b.listener(
        new HandoffListener() {
          @Override
          public void onStateChanged(ConnectionState state, int closeCode, String reason) {
            states.add(state);
          }
        });
    loop = new ClientLoop(null);
    time = new LoopTime(loop);
    engine = time.engine(new ClientConfig(b));
  }

  private void awaitState(ConnectionState expected) throws InterruptedException {
    ConnectionState seen;
    do {
      seen = states.poll(WAIT_SECONDS, TimeUnit.SECONDS);
      if (seen == null) {
        throw new AssertionError(
            "state " + expected + " not reached within " + WAIT_SECONDS + " s");
      }
    } while (seen != expected);
  }

  // ---------------------------------------------------------------------------------------------

  /** What {@code future} completes with, or the scripted node's failure if it failed first. */
  @SuppressWarnings("unchecked")
  private <T> T awaitScripted(CompletableFuture<T> future) throws Exception {
    try {
      return (T) CompletableFuture.anyOf(future, scripts).get(WAIT_SECONDS, TimeUnit.SECONDS);
    } catch (ExecutionException e) {
      if (scripts.isCompletedExceptionally()) {
        scripts = null; // Reported here, not again after the test.
      }
      throw new AssertionError("failed: " + e.getCause(), e.getCause());
    }
  }

  private HandoffClient.Builder builder() {
    return HandoffClient.builder()
        .url(URI.create("ws://127.0.0.1:" + server.getLocalPort() + "/ws"))
        .clientName("hello-test")
        .connectTimeout(Duration.ofSeconds(WAIT_SECONDS))
        .reconnectBackoff(Duration.ofMillis(10), RECONNECT_MAX);
  }

  private static ServerFrame welcome() {
    return welcome(false);
  }

  private static ServerFrame welcome(boolean helloInUpgrade) {
    ServerFrame welcome = Frames.welcome(0);
    return welcome.toBuilder()
        .setRequestId(SyncEngine.HELLO_REQUEST_ID)
        .setWelcome(welcome.getWelcome().toBuilder().setHelloInUpgrade(helloInUpgrade))
        .build();
  }

  /** One upgrade request as the node read it; header names in lower case. */
  private record Request(String head, String key, Map<String, String> headers) {
    /** The Hello of the {@code Handoff-Hello} header, checked to come with its subprotocol. */
    ClientFrame hello() throws IOException {
      String text = headers.get("handoff-hello");
      if (text == null) {
        return null;
      }
      assertEquals(Handshake.HELLO_SUBPROTOCOL, headers.get("sec-websocket-protocol"), head);
      return ClientFrame.parseFrom(Base64.getUrlDecoder().decode(text));
    }
  }

  /** What the scripted node does with one connection, after reading its request. */
  private interface Script {
    void run(Request request, OutputStream out, InputStream in) throws Exception;
  }

  /** Accepts one connection per script, in turn, and runs it on that connection. */
  private void serve(Script... connections) {
    scripts = new CompletableFuture<>();
    Thread t =
        new Thread(
            () -> {
              try {
                for (Script script : connections) {
                  try (Socket s = server.accept()) {
                    InputStream in = s.getInputStream();
                    script.run(readRequest(in), s.getOutputStream(), in);
                  }
                }
                scripts.complete(null);
              } catch (Throwable e) {
                scripts.completeExceptionally(e);
              }
            },
            "scripted-node");
    t.setDaemon(true);
    t.start();
  }

  private static Request readRequest(InputStream in) throws IOException {
    ByteArrayOutputStream head = new ByteArrayOutputStream();
    while (!head.toString(StandardCharsets.US_ASCII).endsWith("\r\n\r\n")) {
      int c = in.read();
      if (c < 0) {
        throw new IOException("the client closed before its request ended");
      }
      head.write(c);
    }
    String text = head.toString(StandardCharsets.US_ASCII);
    Map<String, String> headers = new HashMap<>();
    for (String line : text.split("\r\n")) {
      int colon = line.indexOf(':');
      if (colon > 0) {
        headers.put(
            line.substring(0, colon).strip().toLowerCase(Locale.ROOT),
            line.substring(colon + 1).strip());
      }
    }
    String key = headers.get("sec-websocket-key");
    assertNotNull(key, text);
    return new Request(text, key, headers);
  }

  private static byte[] switching(String key, boolean helloRead) {
    return ("HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n"
            + "sec-websocket-accept: "
            + Handshake.accept(key)
            + (helloRead ? "\r\nsec-websocket-protocol: " + Handshake.HELLO_SUBPROTOCOL : "")
            + "\r\n\r\n")
        .getBytes(StandardCharsets.US_ASCII);
  }

  /** An unmasked binary frame. */
  private static byte[] frame(ServerFrame frame) {
    return MaskedFrames.serverFrame(0x82, frame.toByteArray());
  }

  /** Reads one masked binary client frame. */
  private static ClientFrame readClientFrame(InputStream stream) throws IOException {
    return ClientFrame.parseFrom(MaskedFrames.readClientFrame(stream, 0x82));
  }
}
