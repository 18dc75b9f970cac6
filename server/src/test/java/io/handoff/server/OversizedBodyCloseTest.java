package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A request whose body is over the limit is answered 413 and the connection closed, but not while
 * the device is still sending: the node reads and drops the rest of the body first (up to a bound
 * in bytes and in time), so the device reads its 413 instead of a TCP reset that would throw the
 * answer away. Real sockets; the time bound on fake time.
 */
class OversizedBodyCloseTest {
  private static final int BODY = 256 * 1024;

  private static Socket open(int port) throws IOException {
    Socket s = new Socket();
    s.connect(new InetSocketAddress("127.0.0.1", port), 10_000);
    s.setSoTimeout(20_000);
    return s;
  }

  /** Writes {@code parts} on a thread of its own, as a client sends its body while it reads. */
  private static CompletableFuture<Void> send(Socket s, byte[]... parts) {
    return CompletableFuture.runAsync(
        () -> {
          try {
            OutputStream out = s.getOutputStream();
            for (byte[] p : parts) {
              out.write(p);
            }
            out.flush();
          } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
          }
        });
  }

  private static byte[] ascii(String s) {
    return s.getBytes(StandardCharsets.US_ASCII);
  }

  private static void assertTooLargeThenEnd(Socket s) throws IOException {
    InputStream in = s.getInputStream();
    RawHttp r = RawHttp.read(in);
    assertEquals(413, r.status(), r.toString());
    assertEquals("body_too_large", r.field("error"), r.toString());
    assertEquals("close", r.header("connection"), r.toString());
    assertEquals(-1, in.read(), "the node ends the connection after the 413");
  }

  @Test
  void aChunkedBodyOverTheLimitIsAnswered413ThoughTheDeviceKeepsSending() throws Exception {
    try (TestServer server = TestServer.start();
        Socket s = open(server.port())) {
      byte[] chunk = new byte[4096];
      java.util.Arrays.fill(chunk, (byte) 'x');
      byte[] oneChunk = ascii("1000\r\n" + "x".repeat(4096) + "\r\n");
      byte[][] parts = new byte[2 + BODY / chunk.length][];
      parts[0] =
          ascii(
              "POST /v1/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  + "Transfer-Encoding: chunked\r\n\r\n");
      for (int i = 1; i < parts.length - 1; i++) {
        parts[i] = oneChunk;
      }
      parts[parts.length - 1] = ascii("0\r\n\r\n");
      CompletableFuture<Void> sent = send(s, parts);
      assertTooLargeThenEnd(s);
      sent.get(20, TimeUnit.SECONDS);
    }
  }

  @Test
  void aBodyOverTheLimitOnAConnectionToCloseIsAnswered413ThoughTheDeviceKeepsSending()
      throws Exception {
    try (TestServer server = TestServer.start();
        Socket s = open(server.port())) {
      CompletableFuture<Void> sent =
          send(
              s,
              ascii(
                  "POST /v1/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                      + "Connection: close\r\nContent-Length: "
                      + BODY
                      + "\r\n\r\n"),
              new byte[BODY]);
      assertTooLargeThenEnd(s);
      sent.get(20, TimeUnit.SECONDS);
    }
  }

  /** The rest of a body is dropped up to a bound: a device that sends on and on is cut off. */
  @Test
  void aDeviceThatKeepsSendingPastTheBoundIsCutOff() throws Exception {
    try (TestServer server = TestServer.start();
        Socket s = open(server.port())) {
      byte[] mib = new byte[1024 * 1024];
      byte[][] parts = new byte[65][];
      parts[0] =
          ascii(
              "POST /v1/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  + "Connection: close\r\nContent-Length: "
                  + (64L * mib.length)
                  + "\r\n\r\n");
      java.util.Arrays.fill(parts, 1, parts.length, mib);
      CompletableFuture<Void> sent = send(s, parts);
      assertTooLargeThenEnd(s);
      // 64 MiB are more than the sockets' buffers hold: the node closed before it read them all.
      java.util.concurrent.ExecutionException e =
          org.junit.jupiter.api.Assertions.assertThrows(
              java.util.concurrent.ExecutionException.class, () -> sent.get(20, TimeUnit.SECONDS));
      assertTrue(e.getCause() instanceof java.io.UncheckedIOException, e.toString());
    }
  }

  /** ... and in time: a device that stops sending half-way is cut off once the bound passes. */
  @Test
  void aDeviceThatStopsSendingIsCutOffAtTheTimeBound() throws Exception {
    FakeScheduler time = new FakeScheduler();
    try (TestServer server = TestServer.start(time, b -> b.handshakeTimeout(Duration.ofHours(1)));
        Socket s = open(server.port())) {
      OutputStream out = s.getOutputStream();
      out.write(
          ascii(
              "POST /v1/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  + "Connection: close\r\nContent-Length: 100000\r\n\r\n"));
      out.write(new byte[9000]);
      out.flush();
      // The end of the node's side comes after its timer is set.
      assertTooLargeThenEnd(s);
      out.write(new byte[1000]);
      out.flush();
      time.advance(Duration.ofSeconds(5)); // LingeringClose.MAX_NANOS
      // Closed: a byte sent now is answered with a reset, and the next write fails.
      Conditions.await(
          "the node cuts a silent device at the time bound",
          () -> {
            try {
              out.write(1);
              out.flush();
              return false;
            } catch (IOException closed) {
              return true;
            }
          },
          Duration.ofSeconds(20),
          Duration.ofMillis(20));
    }
  }
}
