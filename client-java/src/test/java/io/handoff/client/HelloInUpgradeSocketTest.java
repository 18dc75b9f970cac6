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
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The client's Hello in the upgrade request, against scripted nodes on a real socket (a plain
 * {@link ServerSocket} that reads each upgrade request and answers with exactly the bytes a test
 * gives): a node that reads it (its 101 names the subprotocol) gets no Hello frame; one that does
 * not (its 101 names none) gets the Hello as the first frame; a Hello over {@link
 * Handshake#MAX_EARLY_HELLO_BYTES} goes as the first frame and the request offers none.
 */
class HelloInUpgradeSocketTest {
  private static final long WAIT_SECONDS = 10;
  private static final String TOKEN = "header.payload.signature";

  private ServerSocket server;
  private HandoffClient client;
  // The scripted node's end: its assertions fail the test (checked after the client closed).
  private CompletableFuture<Void> scripts;

  @BeforeEach
  void start() throws IOException {
    server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
  }

  @AfterEach
  void stop() throws Exception {
    if (client != null) {
      client.close();
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
        .reconnectBackoff(Duration.ofMillis(10), Duration.ofMillis(50));
  }

  private static ServerFrame welcome() {
    return Frames.welcome(0).toBuilder().setRequestId(SyncEngine.HELLO_REQUEST_ID).build();
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
