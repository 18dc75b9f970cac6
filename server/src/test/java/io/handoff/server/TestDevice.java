package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.fail;

import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.Hello;
import io.handoff.protocol.v1.Ping;
import io.handoff.protocol.v1.ServerFrame;
import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.net.http.WebSocketHandshakeException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/**
 * A raw protocol peer for server tests, built on the JDK's own WebSocket client (an implementation
 * independent of Netty): sends exactly the frames a test gives it and records every frame and the
 * close code it gets.
 */
public final class TestDevice implements AutoCloseable {
  static final Duration TIMEOUT = Duration.ofSeconds(10);

  private final WebSocket ws;
  private final LinkedBlockingQueue<ServerFrame> frames = new LinkedBlockingQueue<>();
  private final CompletableFuture<Integer> closeCode = new CompletableFuture<>();
  private long nextRequestId = 1;
  private volatile long closedAtNanos;
  private final java.util.concurrent.ConcurrentLinkedQueue<CompletableFuture<byte[]>> pongs =
      new java.util.concurrent.ConcurrentLinkedQueue<>();
  // PresenceUpdate pushes arrive whenever another device of the user comes or goes; tests about
  // other frames would have to skip them, so they are dropped unless a test asks for them.
  private volatile boolean presenceFrames;

  private TestDevice(WebSocket ws, Listener l) {
    this.ws = ws;
    l.device = this;
  }

  /** Connects with a bearer token; fails the test if the upgrade is refused. */
  public static TestDevice connect(int port, String token) {
    try {
      return open(port, token);
    } catch (WebSocketHandshakeException e) {
      throw new AssertionError("upgrade refused with HTTP " + e.getResponse().statusCode(), e);
    }
  }

  /** Connects and returns the HTTP status of a refused upgrade, or 101 if it was accepted. */
  public static int upgradeStatus(int port, String token) {
    try {
      open(port, token).close();
      return 101;
    } catch (WebSocketHandshakeException e) {
      return e.getResponse().statusCode();
    }
  }

  private static TestDevice open(int port, String token) throws WebSocketHandshakeException {
    Listener l = new Listener();
    WebSocket.Builder b = HttpClient.newHttpClient().newWebSocketBuilder().connectTimeout(TIMEOUT);
    if (token != null) {
      b.header("Authorization", "Bearer " + token);
    }
    try {
      WebSocket ws =
          b.buildAsync(URI.create("ws://127.0.0.1:" + port + "/ws"), l)
              .get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
      return new TestDevice(ws, l);
    } catch (java.util.concurrent.ExecutionException e) {
      if (e.getCause() instanceof WebSocketHandshakeException h) {
        throw h;
      }
      throw new AssertionError("connect failed", e.getCause());
    } catch (Exception e) {
      throw new AssertionError("connect failed", e);
    }
  }

  /** Keeps PresenceUpdate frames (dropped by default); call before Hello. */
  public TestDevice presenceFrames() {
    presenceFrames = true;
    return this;
  }

  /** Sends Hello following everything, with no positions, and returns the Welcome frame. */
  public ServerFrame hello() {
    return hello(Hello.getDefaultInstance());
  }

  public ServerFrame hello(Hello hello) {
    long id = send(ClientFrame.newBuilder().setHello(hello));
    return next(f -> f.hasWelcome() && f.getRequestId() == id);
  }

  /** Sends a frame with a fresh request id; returns that id. */
  public long send(ClientFrame.Builder frame) {
    long id = nextRequestId++;
    sendRaw(frame.setRequestId(id).build().toByteArray());
    return id;
  }

  /** Sends a Write that sets one field of {@code document}; returns its request id. */
  public long write(String document, long clientSeq, String field, String value) {
    return send(Writes.frame(document, clientSeq, field, value));
  }

  /** The Ack or Error that answers the request {@code requestId}. */
  public ServerFrame answerTo(long requestId) {
    return next(f -> (f.hasAck() || f.hasError()) && f.getRequestId() == requestId);
  }

  public void sendRaw(byte[] bytes) {
    ws.sendBinary(ByteBuffer.wrap(bytes), true).join();
  }

  public void sendText(String text) {
    ws.sendText(text, true).join();
  }

  /** The next frame, or a test failure after the timeout. */
  public ServerFrame next() {
    try {
      ServerFrame f = frames.poll(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
      assertNotNull(f, "no frame within " + TIMEOUT);
      return f;
    } catch (InterruptedException e) {
      throw new AssertionError(e);
    }
  }

  /**
   * Sends a Ping and returns the frames that came before its Pong: the node handles a connection's
   * frames in order, and with the in-memory store whatever a frame before the Ping set off at once
   * is written first.
   */
  public List<ServerFrame> untilPong() {
    long ping = send(ClientFrame.newBuilder().setPing(Ping.getDefaultInstance()));
    List<ServerFrame> seen = new ArrayList<>();
    while (true) {
      ServerFrame f = next();
      if (f.hasPong() && f.getRequestId() == ping) {
        return seen;
      }
      seen.add(f);
    }
  }

  /** Skips frames until one matches. */
  public ServerFrame next(Predicate<ServerFrame> match) {
    long deadline = System.nanoTime() + TIMEOUT.toNanos();
    while (System.nanoTime() < deadline) {
      try {
        ServerFrame f = frames.poll(100, TimeUnit.MILLISECONDS);
        if (f != null && match.test(f)) {
          return f;
        }
      } catch (InterruptedException e) {
        throw new AssertionError(e);
      }
    }
    return fail("no matching frame within " + TIMEOUT);
  }

  /** A frame if one is already here, else null. */
  public ServerFrame poll() {
    return frames.poll();
  }

  /** A frame arriving within {@code millis}, else null. */
  public ServerFrame poll(long millis) {
    try {
      return frames.poll(millis, TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      throw new AssertionError(e);
    }
  }

  /** The WebSocket close code the server sent (1006 if the connection just dropped). */
  public int awaitClose() {
    try {
      return closeCode.get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
    } catch (Exception e) {
      throw new AssertionError("connection not closed within " + TIMEOUT, e);
    }
  }

  /** {@link System#nanoTime()} when the close frame arrived (valid once closed). */
  public long closedAtNanos() {
    return closedAtNanos;
  }

  public boolean isClosed() {
    return closeCode.isDone();
  }

  /** Drops the TCP connection without a close handshake. */
  public void abort() {
    ws.abort();
  }

  @Override
  public void close() {
    ws.abort();
  }

  /** Sends a WebSocket ping with {@code data}; the returned future completes with the pong's. */
  public CompletableFuture<byte[]> ping(byte[] data) {
    CompletableFuture<byte[]> pong = new CompletableFuture<>();
    pongs.add(pong);
    ws.sendPing(ByteBuffer.wrap(data)).join();
    return pong;
  }

  /** Starts the closing handshake with {@code code}; see {@link #awaitClose()} for the answer. */
  public void sendClose(int code, String reason) {
    ws.sendClose(code, reason).join();
  }

  private static final class Listener implements WebSocket.Listener {
    TestDevice device;
    private final ByteArrayOutputStream partial = new ByteArrayOutputStream();

    @Override
    public void onOpen(WebSocket webSocket) {
      webSocket.request(Long.MAX_VALUE);
    }

    @Override
    public CompletionStage<?> onBinary(WebSocket webSocket, ByteBuffer data, boolean last) {
      byte[] b = new byte[data.remaining()];
      data.get(b);
      partial.write(b, 0, b.length);
      if (last) {
        try {
          ServerFrame f = ServerFrame.parseFrom(partial.toByteArray());
          if (!f.hasPresenceUpdate() || device.presenceFrames) {
            device.frames.add(f);
          }
        } catch (Exception e) {
          throw new CompletionException(e);
        } finally {
          partial.reset();
        }
      }
      return null;
    }

    @Override
    public CompletionStage<?> onPong(WebSocket webSocket, ByteBuffer message) {
      byte[] b = new byte[message.remaining()];
      message.get(b);
      CompletableFuture<byte[]> waiting = device.pongs.poll();
      if (waiting != null) {
        waiting.complete(b);
      }
      return null;
    }

    @Override
    public CompletionStage<?> onClose(WebSocket webSocket, int statusCode, String reason) {
      device.closedAtNanos = System.nanoTime();
      device.closeCode.complete(statusCode);
      return null;
    }

    @Override
    public void onError(WebSocket webSocket, Throwable error) {
      device.closeCode.complete(1006);
    }
  }
}
