package io.handoff.client.internal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.Hello;
import io.handoff.protocol.v1.Pong;
import io.handoff.protocol.v1.ServerFrame;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The client's own WebSocket handshake and framing ({@link Handshake}, {@link ClientWire}) against
 * a scripted server on a real socket: a plain {@link ServerSocket} that reads the upgrade request
 * and answers with exactly the bytes each test gives it, so every byte the client reads is known.
 */
class ClientWireTest {
  private static final long WAIT_SECONDS = 10;
  private static final String TOKEN = "header.payload.signature";

  private EventLoopGroup group;
  private ServerSocket server;
  private final Recorder events = new Recorder();
  // Each scripted connection's end: its assertions fail the test (checked after the client closed).
  private final List<CompletableFuture<Void>> scripts = new ArrayList<>();

  @BeforeEach
  void start() throws IOException {
    group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
  }

  @AfterEach
  void stop() throws Exception {
    server.close();
    group.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly(10, TimeUnit.SECONDS);
    // The client's sockets are closed now: every script has seen the end of its connection.
    for (CompletableFuture<Void> script : scripts) {
      try {
        script.get(WAIT_SECONDS, TimeUnit.SECONDS);
      } catch (ExecutionException e) {
        throw new AssertionError("the scripted server failed: " + e.getCause(), e.getCause());
      }
    }
  }

  @Test
  void connectionHeaderOnSeveralLinesCountsIfAnyNamesUpgrade() throws Exception {
    // RFC 7230 3.2.2: header lines of one name are one list; a proxy may add its own line.
    serve(
        (key, out, in) -> {
          out.write(
              ("HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n"
                      + "connection: keep-alive\r\nsec-websocket-accept: "
                      + Handshake.accept(key)
                      + "\r\n\r\n")
                  .getBytes(StandardCharsets.US_ASCII));
          out.flush();
          MaskedFrames.readClientFrame(in, 0x82);
          MaskedFrames.awaitEnd(in);
        });
    connect();
    assertEquals("open", events.next());
  }

  @Test
  void upgradeSendsTheTokenAndFramesSentRightAfterThe101AreNotLost() throws Exception {
    ServerFrame first = welcomeLike(1);
    ServerFrame second = welcomeLike(2);
    CompletableFuture<String> request =
        serve(
            (key, out, in) -> {
              // The 101 and two frames in one write: the client must read all three from one
              // read.
              ByteArrayOutputStream b = new ByteArrayOutputStream();
              b.write(switching(Handshake.accept(key)));
              b.write(MaskedFrames.serverFrame(0x82, first.toByteArray()));
              b.write(MaskedFrames.serverFrame(0x82, second.toByteArray()));
              out.write(b.toByteArray());
              out.flush();
              // The client's Hello, masked as RFC 6455 requires.
              ClientFrame hello = ClientFrame.parseFrom(MaskedFrames.readClientFrame(in, 0x82));
              assertEquals("test", hello.getHello().getClient());
            });
    connect();
    assertEquals("open", events.next());
    assertEquals(first, events.frames.poll(WAIT_SECONDS, TimeUnit.SECONDS));
    assertEquals(second, events.frames.poll(WAIT_SECONDS, TimeUnit.SECONDS));
    String req = request.get(WAIT_SECONDS, TimeUnit.SECONDS);
    assertTrue(req.contains("Authorization: Bearer " + TOKEN + "\r\n"), req);
    assertTrue(req.startsWith("GET /ws HTTP/1.1\r\n"), req);
  }

  @Test
  void responseArrivingAByteAtATimeIsReadWhole() throws Exception {
    ServerFrame frame = welcomeLike(7);
    serve(
        (key, out, in) -> {
          ByteArrayOutputStream b = new ByteArrayOutputStream();
          b.write(switching(Handshake.accept(key)));
          b.write(MaskedFrames.serverFrame(0x82, frame.toByteArray()));
          for (byte x : b.toByteArray()) {
            out.write(x);
            out.flush();
          }
          MaskedFrames.readClientFrame(in, 0x82);
        });
    connect();
    assertEquals("open", events.next());
    assertEquals(frame, events.frames.poll(WAIT_SECONDS, TimeUnit.SECONDS));
  }

  @Test
  void wrongAcceptFailsTheAttemptAsAnAbnormalClosure() throws Exception {
    serve(
        (key, out, in) -> {
          out.write(switching(Handshake.accept(key + "x")));
          out.flush();
          MaskedFrames.awaitEnd(in);
        });
    connect();
    String closed = events.next();
    assertTrue(closed.startsWith("close 1006 invalid WebSocket upgrade response"), closed);
    assertTrue(closed.contains("Sec-WebSocket-Accept"), closed);
  }

  @Test
  void refusalWith401IsUnauthorizedWithTheServersReason() throws Exception {
    String body = "{\"error\":\"unauthorized\",\"message\":\"bad token signature\"}\n";
    serve(
        (key, out, in) -> {
          out.write(
              ("HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: "
                      + body.length()
                      + "\r\n\r\n")
                  .getBytes(StandardCharsets.US_ASCII));
          out.flush();
          // The body comes in a second write: the refusal waits for it.
          out.write(body.getBytes(StandardCharsets.US_ASCII));
          out.flush();
          MaskedFrames.awaitEnd(in);
        });
    connect();
    assertEquals(
        "close "
            + CloseCode.UNAUTHORIZED.code()
            + " WebSocket upgrade refused with HTTP 401 Unauthorized: bad token signature",
        events.next());
  }

  @Test
  void refusalWithAnotherStatusIsAnAbnormalClosure() throws Exception {
    serve(
        (key, out, in) -> {
          out.write(
              "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n"
                  .getBytes(StandardCharsets.US_ASCII));
          out.flush();
          MaskedFrames.awaitEnd(in);
        });
    connect();
    assertEquals(
        "close 1006 WebSocket upgrade refused with HTTP 503 Service Unavailable", events.next());
  }

  @Test
  void noAnswerWithinTheHandshakeTimeoutFailsTheAttempt() throws Exception {
    serve((key, out, in) -> MaskedFrames.awaitEnd(in));
    connect(Duration.ofMillis(300));
    String closed = events.next();
    // The read-idle timer and the handshake timer share the connect timeout; either ends it.
    assertTrue(
        closed.startsWith("close 1006 WebSocket handshake timed out after 300 ms")
            || closed.startsWith("close " + CloseCode.IDLE_TIMEOUT.code()),
        closed);
  }

  @Test
  void pingIsAnsweredWithAMaskedPongOfTheSamePayload() throws Exception {
    CompletableFuture<byte[]> pong = new CompletableFuture<>();
    serve(
        (key, out, in) -> {
          out.write(switching(Handshake.accept(key)));
          out.write(MaskedFrames.serverFrame(0x89, new byte[] {1, 2, 3}));
          out.flush();
          MaskedFrames.readClientFrame(in, 0x82); // the Hello
          pong.complete(MaskedFrames.readClientFrame(in, 0x8A));
        });
    connect();
    assertEquals("open", events.next());
    assertArrayEquals(new byte[] {1, 2, 3}, pong.get(WAIT_SECONDS, TimeUnit.SECONDS));
  }

  @Test
  void fragmentedMessageIsJoinedAroundAControlFrame() throws Exception {
    byte[] whole = welcomeLike(3).toByteArray();
    int half = whole.length / 2;
    serve(
        (key, out, in) -> {
          out.write(switching(Handshake.accept(key)));
          out.write(MaskedFrames.serverFrame(0x02, java.util.Arrays.copyOfRange(whole, 0, half)));
          out.write(MaskedFrames.serverFrame(0x8A, new byte[0])); // a pong between the fragments
          out.write(
              MaskedFrames.serverFrame(
                  0x80, java.util.Arrays.copyOfRange(whole, half, whole.length)));
          out.flush();
          MaskedFrames.readClientFrame(in, 0x82);
        });
    connect();
    assertEquals("open", events.next());
    assertEquals(welcomeLike(3), events.frames.poll(WAIT_SECONDS, TimeUnit.SECONDS));
  }

  @Test
  void closeFrameIsReportedWithItsCodeAndAnswered() throws Exception {
    CompletableFuture<byte[]> answer = new CompletableFuture<>();
    serve(
        (key, out, in) -> {
          out.write(switching(Handshake.accept(key)));
          byte[] reason = "bye".getBytes(StandardCharsets.UTF_8);
          byte[] payload = new byte[2 + reason.length];
          payload[0] = (byte) (4001 >> 8);
          payload[1] = (byte) 4001;
          System.arraycopy(reason, 0, payload, 2, reason.length);
          out.write(MaskedFrames.serverFrame(0x88, payload));
          out.flush();
          MaskedFrames.readClientFrame(in, 0x82);
          answer.complete(MaskedFrames.readClientFrame(in, 0x88));
        });
    connect();
    assertEquals("open", events.next());
    assertEquals("close 4001 bye", events.next());
    byte[] code = answer.get(WAIT_SECONDS, TimeUnit.SECONDS);
    assertEquals(1000, ((code[0] & 0xff) << 8) | (code[1] & 0xff));
  }

  @Test
  void closeWithWritesStillBufferedSendsThemAndTheCloseFrameBeforeTcpCloses() throws Exception {
    // A peer that reads slowly: what the client writes waits in Netty's outbound buffer. Closing
    // TCP at once would drop it and the close frame behind it (Netty's handler, before, waited for
    // the close frame to be written).
    server.close();
    server = new ServerSocket();
    server.setReceiveBufferSize(64 * 1024);
    server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
    String big = "x".repeat(8 * 1024 * 1024);
    CompletableFuture<Void> closeCalled = new CompletableFuture<>();
    CompletableFuture<Integer> closeFrame = new CompletableFuture<>();
    CompletableFuture<Integer> afterClose = new CompletableFuture<>();
    serve(
        (key, out, in) -> {
          out.write(switching(Handshake.accept(key)));
          out.flush();
          closeCalled.get(WAIT_SECONDS, TimeUnit.SECONDS);
          try {
            ClientFrame hello = ClientFrame.parseFrom(MaskedFrames.readClientFrame(in, 0x82));
            assertEquals(big.length(), hello.getHello().getClient().length());
            byte[] code = MaskedFrames.readClientFrame(in, 0x88);
            closeFrame.complete(((code[0] & 0xff) << 8) | (code[1] & 0xff));
            afterClose.complete(in.read());
          } catch (Throwable e) {
            closeFrame.completeExceptionally(e);
            afterClose.completeExceptionally(e);
          }
          MaskedFrames.awaitEnd(in);
        });
    Recorder recorder =
        new Recorder() {
          @Override
          public void onOpen(FrameChannel channel, boolean helloRead) {
            events.add("open");
            channel.send(
                ClientFrame.newBuilder().setHello(Hello.newBuilder().setClient(big)).build());
            channel.close();
            // RFC 6455 5.5.1: no data frame after the close frame (Netty's handler dropped it).
            channel.send(ClientFrame.newBuilder().setHello(Hello.newBuilder()).build());
            closeCalled.complete(null);
          }
        };
    connect(Duration.ofSeconds(WAIT_SECONDS), recorder);
    assertEquals("open", recorder.next());
    assertEquals(1000, closeFrame.get(WAIT_SECONDS, TimeUnit.SECONDS));
    assertEquals(-1, afterClose.get(WAIT_SECONDS, TimeUnit.SECONDS), "a frame after the close");
    assertEquals("close 1000 closed by the client", recorder.next());
  }

  @Test
  void closeFrameWithACodeNoEndpointMaySendIsAProtocolError() throws Exception {
    // 1006 is for an end without a close frame (RFC 6455 7.4.1): in a close frame it is a protocol
    // error, as Netty's decoder, before, had it, not a close code to pass on to the application.
    serve(
        (key, out, in) -> {
          out.write(switching(Handshake.accept(key)));
          out.write(
              MaskedFrames.serverFrame(
                  0x88, new byte[] {(byte) (1006 >> 8), (byte) (1006 & 0xff)}));
          out.flush();
          MaskedFrames.awaitEnd(in);
        });
    connect();
    assertEquals("open", events.next());
    String closed = events.next();
    assertTrue(
        closed.startsWith("close " + CloseCode.PROTOCOL_ERROR.code() + " undecodable data"),
        closed);
  }

  @Test
  void protocolErrorIsAnsweredWithCloseCode1002() throws Exception {
    // RFC 6455 7.4.1; Netty's decoder, before, sent 1002 (1009 for a message over the limit).
    CompletableFuture<Integer> closeCode = new CompletableFuture<>();
    serve(
        (key, out, in) -> {
          out.write(switching(Handshake.accept(key)));
          out.write(MaskedFrames.serverFrame(0x81, "text".getBytes(StandardCharsets.UTF_8)));
          out.flush();
          MaskedFrames.readClientFrame(in, 0x82); // the Hello
          byte[] code = MaskedFrames.readClientFrame(in, 0x88);
          closeCode.complete(((code[0] & 0xff) << 8) | (code[1] & 0xff));
          MaskedFrames.awaitEnd(in);
        });
    connect();
    assertEquals("open", events.next());
    assertEquals(1002, closeCode.get(WAIT_SECONDS, TimeUnit.SECONDS));
  }

  @Test
  void maskedOrTextFrameFromTheServerIsAProtocolError() throws Exception {
    for (int opcode : new int[] {0x81, -1}) {
      Recorder recorder = new Recorder();
      serve(
          (key, out, in) -> {
            out.write(switching(Handshake.accept(key)));
            if (opcode > 0) {
              out.write(MaskedFrames.serverFrame(opcode, "text".getBytes(StandardCharsets.UTF_8)));
            } else {
              out.write(new byte[] {(byte) 0x82, (byte) 0x81, 1, 2, 3, 4, 5}); // masked
            }
            out.flush();
            MaskedFrames.awaitEnd(in);
          });
      connect(Duration.ofSeconds(WAIT_SECONDS), recorder);
      assertEquals("open", recorder.next());
      String closed = recorder.next();
      assertTrue(
          closed.startsWith("close " + CloseCode.PROTOCOL_ERROR.code() + " undecodable data"),
          closed);
    }
  }

  @Test
  void controlFrameWhoseSixtyFourBitLengthHasItsTopBitSetIsAProtocolError() throws Exception {
    // RFC 6455 5.2: the most significant bit of a 64-bit length MUST be 0. Read as a signed long,
    // such a length slipped past the control-frame bound and was taken for an empty ping.
    CompletableFuture<Integer> next = new CompletableFuture<>();
    serve(
        (key, out, in) -> {
          out.write(switching(Handshake.accept(key)));
          out.write(new byte[] {(byte) 0x89, 127, (byte) 0x80, 0, 0, 0, 0, 0, 0, 0});
          out.flush();
          MaskedFrames.readClientFrame(in, 0x82); // the Hello
          next.complete(in.read()); // the first byte of what the client sends next
          MaskedFrames.awaitEnd(in);
        });
    connect();
    assertEquals("open", events.next());
    String closed = events.next();
    assertTrue(
        closed.startsWith("close " + CloseCode.PROTOCOL_ERROR.code() + " undecodable data"),
        closed);
    // A close frame, not a pong.
    assertEquals(0x88, next.get(WAIT_SECONDS, TimeUnit.SECONDS));
  }

  @Test
  void frameThatCannotBeValidIsRefusedByItsHeaderBeforeItsPayloadArrives() throws Exception {
    // Each header announces 1 MiB that never comes: the refusal must not wait for it (the read
    // timeout of 30 s would end the connection as idle instead).
    byte[] oneMiB = {127, 0, 0, 0, 0, 0, 0x10, 0, 0};
    for (int b0 : new int[] {0x83, 0x80, 0x01}) { // unknown opcode, continuation, text
      Recorder recorder = new Recorder();
      serve(
          (key, out, in) -> {
            out.write(switching(Handshake.accept(key)));
            out.write(b0);
            out.write(oneMiB);
            out.flush();
            MaskedFrames.awaitEnd(in);
          });
      connect(Duration.ofSeconds(30), recorder);
      assertEquals("open", recorder.next());
      String closed = recorder.next();
      assertTrue(
          closed.startsWith("close " + CloseCode.PROTOCOL_ERROR.code() + " undecodable data"),
          b0 + ": " + closed);
    }
  }

  @Test
  void lengthNotInItsShortestFormIsAProtocolError() throws Exception {
    // A short message's length in the 16-bit form, as the RFC (5.2) forbids; Netty's decoder,
    // which the client used before, refused it.
    byte[] payload = welcomeLike(5).toByteArray();
    serve(
        (key, out, in) -> {
          out.write(switching(Handshake.accept(key)));
          out.write(new byte[] {(byte) 0x82, 126, 0, (byte) payload.length});
          out.write(payload);
          out.flush();
          MaskedFrames.awaitEnd(in);
        });
    connect();
    assertEquals("open", events.next());
    String closed = events.next();
    assertTrue(
        closed.startsWith("close " + CloseCode.PROTOCOL_ERROR.code() + " undecodable data"),
        closed);
    assertEquals(null, events.frames.poll(), "the frame was delivered");
  }

  // ---------------------------------------------------------------------------------------------

  /** What the scripted server does after reading the request: {@code key} is the client's. */
  private interface Script {
    void run(String key, OutputStream out, InputStream in) throws Exception;
  }

  /**
   * Accepts one connection, reads the request, runs the script; completes with the request. The
   * script's own failures (its assertions) fail the test when it ends ({@link #stop}).
   */
  private CompletableFuture<String> serve(Script script) {
    CompletableFuture<String> request = new CompletableFuture<>();
    CompletableFuture<Void> done = new CompletableFuture<>();
    scripts.add(done);
    Thread t =
        new Thread(
            () -> {
              try (Socket s = server.accept()) {
                InputStream in = s.getInputStream();
                ByteArrayOutputStream head = new ByteArrayOutputStream();
                while (!head.toString(StandardCharsets.US_ASCII).endsWith("\r\n\r\n")) {
                  int c = in.read();
                  if (c < 0) {
                    throw new IOException("the client closed before its request ended");
                  }
                  head.write(c);
                }
                String text = head.toString(StandardCharsets.US_ASCII);
                request.complete(text);
                String key = null;
                for (String line : text.split("\r\n")) {
                  if (line.startsWith("Sec-WebSocket-Key: ")) {
                    key = line.substring("Sec-WebSocket-Key: ".length());
                  }
                }
                assertNotNull(key, text);
                script.run(key, s.getOutputStream(), in);
                done.complete(null);
              } catch (Throwable e) {
                request.completeExceptionally(e);
                done.completeExceptionally(e);
              }
            },
            "scripted-server");
    t.setDaemon(true);
    t.start();
    return request;
  }

  private void connect() {
    connect(Duration.ofSeconds(WAIT_SECONDS));
  }

  private void connect(Duration timeout) {
    connect(timeout, events);
  }

  private void connect(Duration timeout, Recorder recorder) {
    URI uri = URI.create("ws://127.0.0.1:" + server.getLocalPort() + "/ws");
    WebSocketConnector connector = new WebSocketConnector(uri, group.next(), null, timeout);
    group.next().execute(() -> connector.connect(TOKEN, recorder));
  }

  private static byte[] switching(String accept) {
    return ("HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n"
            + "sec-websocket-accept: "
            + accept
            + "\r\n\r\n")
        .getBytes(StandardCharsets.US_ASCII);
  }

  private static ServerFrame welcomeLike(long id) {
    return ServerFrame.newBuilder()
        .setRequestId(id)
        .setPong(Pong.newBuilder().setNonce(id).setServerTimeMs(id * 1000))
        .build();
  }

  /** Records a connection's events; sends a Hello when it opens, as the sync engine does. */
  private static class Recorder implements FrameListener {
    final BlockingQueue<String> events = new LinkedBlockingQueue<>();
    final BlockingQueue<ServerFrame> frames = new LinkedBlockingQueue<>();

    String next() throws InterruptedException {
      String e = events.poll(WAIT_SECONDS, TimeUnit.SECONDS);
      assertNotNull(e, "no event within " + WAIT_SECONDS + " s");
      return e;
    }

    @Override
    public void onOpen(FrameChannel channel, boolean helloRead) {
      events.add("open");
      channel.send(ClientFrame.newBuilder().setHello(Hello.newBuilder().setClient("test")).build());
    }

    @Override
    public void onFrame(ServerFrame frame) {
      frames.add(frame);
    }

    @Override
    public void onClose(int closeCode, String reason, Throwable cause) {
      events.add("close " + closeCode + " " + reason);
    }
  }
}
