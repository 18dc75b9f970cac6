package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.Hello;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.server.transport.TransportConfig;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.WebSocket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.KeyStore;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code wss://} with a configured PEM certificate and key. */
class TlsTest {
  @TempDir static Path dir;
  static Path cert;
  static Path key;
  static SSLContext trusting;

  /** A self-signed certificate for 127.0.0.1, and a client context that trusts it. */
  @BeforeAll
  static void certificate() throws Exception {
    Path[] certAndKey = TestCertificates.selfSigned(dir, "server");
    cert = certAndKey[0];
    key = certAndKey[1];
    KeyStore trust = KeyStore.getInstance("PKCS12");
    trust.load(null, null);
    trust.setCertificateEntry("handoff", TestCertificates.read(cert));
    TrustManagerFactory tmf =
        TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    tmf.init(trust);
    trusting = SSLContext.getInstance("TLS");
    trusting.init(null, tmf.getTrustManagers(), null);
  }

  @Test
  void devicesSyncOverWssWithTheConfiguredCertificate() throws Exception {
    try (TestServer server =
        TestServer.start(b -> b.transport(TransportConfig.builder().tls(cert, key).build()))) {
      HttpClient https = HttpClient.newBuilder().sslContext(trusting).build();
      HttpResponse<String> health =
          https.send(
              HttpRequest.newBuilder(URI.create("https://127.0.0.1:" + server.port() + "/healthz"))
                  .build(),
              HttpResponse.BodyHandlers.ofString());
      assertEquals(200, health.statusCode());

      CompletableFuture<ServerFrame> welcome = new CompletableFuture<>();
      WebSocket ws = wss(https, server.port(), TestServer.token("t1", "phone"), welcome);
      assertTrue(welcome.get(10, TimeUnit.SECONDS).hasWelcome());
      ws.abort();

      HttpClient plain = HttpClient.newHttpClient();
      assertThrows(
          Exception.class,
          () ->
              plain.send(
                  HttpRequest.newBuilder(
                          URI.create("http://127.0.0.1:" + server.port() + "/healthz"))
                      .timeout(java.time.Duration.ofSeconds(5))
                      .build(),
                  HttpResponse.BodyHandlers.ofString()),
          "plain HTTP is not served on a TLS port");
    }
  }

  @Test
  void wssDevicesMovedToTheirUsersLoopAreWelcomed() throws Exception {
    // One device per worker loop, all of one user: accepted onto the loops in turn, all but one
    // are moved (with their TLS session) to the user's loop before the 101.
    int loops = 2 * Runtime.getRuntime().availableProcessors();
    try (TestServer server =
        TestServer.start(b -> b.transport(TransportConfig.builder().tls(cert, key).build()))) {
      HttpClient https = HttpClient.newBuilder().sslContext(trusting).build();
      java.util.List<WebSocket> sockets = new java.util.ArrayList<>();
      try {
        for (int i = 0; i < loops; i++) {
          CompletableFuture<ServerFrame> welcome = new CompletableFuture<>();
          WebSocket ws = wss(https, server.port(), TestServer.token("t2", "device" + i), welcome);
          sockets.add(ws);
          assertTrue(welcome.get(10, TimeUnit.SECONDS).hasWelcome(), "device " + i);
        }
        java.util.List<io.netty.channel.EventLoop> used = server.server.hub().loopsOf("t2");
        assertEquals(loops, used.size());
        assertEquals(1, new java.util.HashSet<>(used).size(), "t2's sessions share one loop");
      } finally {
        sockets.forEach(WebSocket::abort);
      }
    }
  }

  @Test
  void aHelloInTheUpgradeIsWelcomedOverWssAfterTheMove() throws Exception {
    // The JDK's WebSocket client, a device of no Handoff library: the Hello in the upgrade, and the
    // 101 with the Welcome behind it through TLS, on whichever loop the device was moved to.
    int loops = 2 * Runtime.getRuntime().availableProcessors();
    try (TestServer server =
        TestServer.start(b -> b.transport(TransportConfig.builder().tls(cert, key).build()))) {
      HttpClient https = HttpClient.newBuilder().sslContext(trusting).build();
      for (int i = 0; i < loops; i++) {
        String hello =
            java.util.Base64.getUrlEncoder()
                .encodeToString(
                    ClientFrame.newBuilder()
                        .setRequestId(40 + i)
                        .setHello(Hello.getDefaultInstance())
                        .build()
                        .toByteArray());
        CompletableFuture<ServerFrame> first = new CompletableFuture<>();
        WebSocket ws =
            https
                .newWebSocketBuilder()
                .header("Authorization", "Bearer " + TestServer.token("t7", "device" + i))
                .header("Handoff-Hello", hello)
                .subprotocols("handoff.hello")
                .buildAsync(URI.create("wss://127.0.0.1:" + server.port() + "/ws"), into(first))
                .get(10, TimeUnit.SECONDS);
        try {
          assertEquals("handoff.hello", ws.getSubprotocol());
          ServerFrame welcome = first.get(10, TimeUnit.SECONDS);
          assertTrue(welcome.hasWelcome(), welcome.toString());
          assertEquals(40 + i, welcome.getRequestId());
        } finally {
          ws.abort();
        }
      }
    }
  }

  /** As OversizedBodyCloseTest over plain TCP: the 413 is read, not lost to a reset. */
  @Test
  void aBodyOverTheLimitIsAnswered413OverTlsThoughTheDeviceKeepsSending() throws Exception {
    try (TestServer server =
            TestServer.start(b -> b.transport(TransportConfig.builder().tls(cert, key).build()));
        javax.net.ssl.SSLSocket s =
            (javax.net.ssl.SSLSocket)
                trusting.getSocketFactory().createSocket("127.0.0.1", server.port())) {
      s.setSoTimeout(20_000);
      s.startHandshake();
      int body = 256 * 1024;
      CompletableFuture<Void> sent =
          CompletableFuture.runAsync(
              () -> {
                try {
                  s.getOutputStream()
                      .write(
                          ("POST /v1/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                  + "Content-Type: application/json\r\nConnection: close\r\n"
                                  + "Content-Length: "
                                  + body
                                  + "\r\n\r\n")
                              .getBytes(StandardCharsets.US_ASCII));
                  s.getOutputStream().write(new byte[body]);
                  s.getOutputStream().flush();
                } catch (IOException e) {
                  throw new java.io.UncheckedIOException(e);
                }
              });
      RawHttp r = RawHttp.read(s.getInputStream());
      assertEquals(413, r.status(), r.toString());
      assertEquals("body_too_large", r.field("error"), r.toString());
      assertEquals(-1, s.getInputStream().read(), "the node ends the connection after the 413");
      sent.get(20, TimeUnit.SECONDS);
    }
  }

  @Test
  void unreadableCertificateIsRefusedAtStartWithTheFileNamed() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                TestServer.start(
                    b ->
                        b.transport(
                            TransportConfig.builder()
                                .tls(dir.resolve("missing.pem"), key)
                                .build())));
    assertTrue(e.getMessage().contains("missing.pem"), e.getMessage());
  }

  @Test
  void clientsStalledInOrRightAfterTheTlsHandshakeAreClosedAtTheHandshakeLimit() throws Exception {
    try (TestServer server =
        TestServer.start(
            b ->
                b.handshakeTimeout(java.time.Duration.ofSeconds(1))
                    .transport(TransportConfig.builder().tls(cert, key).build()))) {
      // Nothing at all; the first 11 bytes of a ClientHello whose record announces 512; a finished
      // TLS handshake, then no HTTP request. All three stall side by side: each has its own limit.
      byte[][] starts = {
        {}, {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, (byte) 0xfc, 0x03, 0x03}
      };
      try (java.net.Socket nothing = new java.net.Socket("127.0.0.1", server.port());
          java.net.Socket partHello = new java.net.Socket("127.0.0.1", server.port());
          javax.net.ssl.SSLSocket handshaken =
              (javax.net.ssl.SSLSocket)
                  trusting.getSocketFactory().createSocket("127.0.0.1", server.port())) {
        java.net.Socket[] plain = {nothing, partHello};
        for (int i = 0; i < plain.length; i++) {
          plain[i].setSoTimeout(20_000);
          plain[i].getOutputStream().write(starts[i]);
        }
        handshaken.setSoTimeout(20_000);
        handshaken.startHandshake();
        assertClosedByTheNode(nothing);
        assertClosedByTheNode(partHello);
        assertClosedByTheNode(handshaken);
      }
    }
  }

  @Test
  void garbageBeforeOrInsideTlsClosesOnlyItsConnection() throws Exception {
    try (TestServer server =
        TestServer.start(b -> b.transport(TransportConfig.builder().tls(cert, key).build()))) {
      HttpClient https = HttpClient.newBuilder().sslContext(trusting).build();
      CompletableFuture<ServerFrame> welcome = new CompletableFuture<>();
      WebSocket bystander = wss(https, server.port(), TestServer.token("t3", "tv"), welcome);
      assertTrue(welcome.get(10, TimeUnit.SECONDS).hasWelcome());
      byte[] garbage = new byte[4096];
      new java.util.Random(7).nextBytes(garbage);
      garbage[0] = 0x17; // an application-data record header, then nonsense
      garbage[1] = 0x03;
      garbage[2] = 0x03;
      garbage[3] = 0x00;
      garbage[4] = 0x40;
      // Before any handshake: bytes that are no TLS record at all, then a record of nonsense.
      for (byte[] bytes :
          new byte[][] {"GET /ws HTTP/1.1\r\n\r\n".getBytes(StandardCharsets.US_ASCII), garbage}) {
        try (java.net.Socket s = new java.net.Socket("127.0.0.1", server.port())) {
          s.setSoTimeout(20_000);
          s.getOutputStream().write(bytes);
          assertClosedByTheNode(s);
        }
      }
      // Inside an established TLS session: a forged record on the TCP connection under it.
      try (java.net.Socket tcp = new java.net.Socket("127.0.0.1", server.port());
          javax.net.ssl.SSLSocket s =
              (javax.net.ssl.SSLSocket)
                  trusting
                      .getSocketFactory()
                      .createSocket(tcp, "127.0.0.1", server.port(), false)) {
        s.setSoTimeout(20_000);
        tcp.setSoTimeout(20_000);
        s.startHandshake();
        tcp.getOutputStream().write(garbage);
        assertClosedByTheNode(tcp);
      }
      CompletableFuture<ServerFrame> again = new CompletableFuture<>();
      WebSocket next = wss(https, server.port(), TestServer.token("t3", "phone"), again);
      assertTrue(again.get(10, TimeUnit.SECONDS).hasWelcome(), "a new device is served");
      bystander.sendPing(ByteBuffer.wrap(new byte[] {1})).get(10, TimeUnit.SECONDS);
      assertTrue(!bystander.isInputClosed() && !bystander.isOutputClosed(), "bystander still open");
      next.abort();
      bystander.abort();
    }
  }

  /** Reads {@code s} until the node closes it (end of stream or reset), failing on a timeout. */
  private static void assertClosedByTheNode(java.net.Socket s) throws Exception {
    try {
      java.io.InputStream in = s.getInputStream();
      while (in.read() >= 0) {
        // What the node sends before closing (a TLS alert) does not matter.
      }
    } catch (java.net.SocketTimeoutException e) {
      throw new AssertionError("the node did not close the connection", e);
    } catch (java.io.IOException e) {
      // A reset, or the TLS layer's report of the node's alert: closed either way.
    }
  }

  /**
   * A WebSocket over TLS to the node at {@code port} that has sent its Hello; the node's first
   * frame completes {@code first}.
   */
  private static WebSocket wss(
      HttpClient https, int port, String token, CompletableFuture<ServerFrame> first)
      throws Exception {
    return https
        .newWebSocketBuilder()
        .header("Authorization", "Bearer " + token)
        .buildAsync(URI.create("wss://127.0.0.1:" + port + "/ws"), into(first))
        .get(10, TimeUnit.SECONDS)
        .sendBinary(
            ByteBuffer.wrap(
                ClientFrame.newBuilder()
                    .setRequestId(1)
                    .setHello(Hello.getDefaultInstance())
                    .build()
                    .toByteArray()),
            true)
        .get(10, TimeUnit.SECONDS);
  }

  /** A listener that completes {@code first} with the first binary message (one frame each). */
  private static WebSocket.Listener into(CompletableFuture<ServerFrame> first) {
    return new WebSocket.Listener() {
      @Override
      public CompletionStage<?> onBinary(WebSocket w, ByteBuffer data, boolean last) {
        try {
          first.complete(ServerFrame.parseFrom(data));
        } catch (Exception e) {
          first.completeExceptionally(e);
        }
        w.request(1);
        return null;
      }
    };
  }
}
