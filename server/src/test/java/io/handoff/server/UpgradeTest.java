package io.handoff.server;

import static io.handoff.server.TestServer.token;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.Hello;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.server.transport.ConnectionHandler;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The WebSocket upgrade over a real socket: the 101 answer RFC 6455 asks for, and the statuses of
 * requests that are no valid version-13 handshake (the same as before the node wrote its own 101).
 */
class UpgradeTest {
  private static final String SAMPLE_KEY = "dGhlIHNhbXBsZSBub25jZQ==";
  private static final String UPGRADE = "Upgrade: websocket";
  private static final String CONNECTION = "Connection: Upgrade";
  private static final String KEY = "Sec-WebSocket-Key: " + SAMPLE_KEY;
  private static final String V13 = "Sec-WebSocket-Version: 13";

  private static TestServer server;

  @RegisterExtension final CapturedLog warnings = new CapturedLog(ConnectionHandler.class);

  @BeforeAll
  static void start() throws InterruptedException {
    server = TestServer.start();
  }

  @AfterAll
  static void stop() {
    server.close();
  }

  /** The status line and headers the node answers an upgrade request with {@code headers}. */
  private static String answer(String token, String... headers) throws Exception {
    try (RawSocket s = RawSocket.open(server.port())) {
      s.writeRaw(request(token, headers));
      return s.readHead();
    }
  }

  private static String status(String head) {
    return head.substring(0, head.indexOf('\r'));
  }

  @Test
  void upgradeAnswersWithTheAcceptOfRfc6455ForItsSampleKey() throws Exception {
    assertEquals("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", RawSocket.acceptFor(SAMPLE_KEY));
    String head = answer(token("up1", "phone"), UPGRADE, CONNECTION, KEY, V13);
    String lower = head.toLowerCase(Locale.ROOT);
    assertEquals("HTTP/1.1 101 Switching Protocols", status(head));
    assertTrue(lower.contains("\r\nupgrade: websocket\r\n"), head);
    assertTrue(lower.contains("\r\nconnection: upgrade\r\n"), head);
    assertTrue(head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"), head);
  }

  @Test
  void upgradedDeviceIsWelcomedAfterItsHello() throws Exception {
    try (RawSocket device = RawSocket.connect(server.port(), token("up2", "phone"), 0)) {
      device.send(
          ClientFrame.newBuilder().setRequestId(1).setHello(Hello.getDefaultInstance()).build());
      ServerFrame f = device.readFrame();
      assertTrue(f.hasWelcome(), f.toString());
    }
  }

  @Test
  void requestWithoutTheUpgradeHeaderIsABadRequest() throws Exception {
    String head = answer(token("up4", "phone"), CONNECTION, KEY, V13);
    assertEquals("HTTP/1.1 400 Bad Request", status(head));
  }

  @Test
  void requestWithoutAKeyIsABadRequest() throws Exception {
    String head = answer(token("up5", "phone"), UPGRADE, CONNECTION, V13);
    assertEquals("HTTP/1.1 400 Bad Request", status(head));
  }

  @Test
  void unsupportedVersionIsAskedForVersion13() throws Exception {
    String head =
        answer(token("up6", "phone"), UPGRADE, CONNECTION, KEY, "Sec-WebSocket-Version: 12");
    assertEquals("HTTP/1.1 426 Upgrade Required", status(head));
    assertTrue(head.toLowerCase(Locale.ROOT).contains("\r\nsec-websocket-version: 13\r\n"), head);
  }

  @Test
  void requestWithoutAVersionIsAskedForVersion13() throws Exception {
    // With an Origin, Netty's handshaker takes such a request for the hixie-76 draft and answers
    // 101.
    String head =
        answer(token("up8", "phone"), UPGRADE, CONNECTION, KEY, "Origin: http://127.0.0.1");
    assertEquals("HTTP/1.1 426 Upgrade Required", status(head));
    assertTrue(head.toLowerCase(Locale.ROOT).contains("\r\nsec-websocket-version: 13\r\n"), head);
    // The node's own answer, closed as its every refusal is (Netty's 426 to another version keeps
    // the connection: see below).
    assertTrue(head.toLowerCase(Locale.ROOT).contains("\r\nconnection: close\r\n"), head);
  }

  @Test
  void deviceAskedForVersion13CanAskAgainOnTheSameConnection() throws Exception {
    String token = token("up7", "phone");
    try (RawSocket s = RawSocket.open(server.port())) {
      s.writeRaw(request(token, UPGRADE, CONNECTION, KEY, "Sec-WebSocket-Version: 12"));
      String refused = s.readHead();
      assertEquals("HTTP/1.1 426 Upgrade Required", status(refused));
      assertTrue(refused.toLowerCase(Locale.ROOT).contains("\r\ncontent-length: 0\r\n"), refused);

      s.writeRaw(request(token, UPGRADE, CONNECTION, KEY, V13));
      String head = s.readHead();
      assertEquals("HTTP/1.1 101 Switching Protocols", status(head));
      s.send(ClientFrame.newBuilder().setRequestId(1).setHello(Hello.getDefaultInstance()).build());
      ServerFrame f = s.readFrame();
      assertTrue(f.hasWelcome(), f.toString());
    }
  }

  /**
   * On a node with compression on, an extension offer goes to Netty's extension handler, which
   * failed on an element with no name (an index out of bounds): the connection was cut without an
   * answer, and a warning with its stack trace logged for each such request.
   */
  @Test
  void anExtensionWithoutANameIsABadRequestOnACompressingNode() throws Exception {
    try (TestServer compressing =
            TestServer.start(
                b ->
                    b.transport(
                        io.handoff.server.transport.TransportConfig.builder()
                            .compression(true)
                            .build()));
        RawSocket s = RawSocket.open(compressing.port())) {
      s.writeRaw(
          request(
              token("up8", "phone"),
              UPGRADE,
              CONNECTION,
              KEY,
              V13,
              "Sec-WebSocket-Extensions: permessage-deflate,;"));
      String head = s.readHead();
      assertEquals("HTTP/1.1 400 Bad Request", status(head));
      String body = new String(s.socket.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertTrue(body.contains("an extension without a name"), body);
      assertTrue(
          warnings.events().stream().noneMatch(e -> e.getLevel() == Level.WARN),
          "no warning: " + warnings.events());
    }
  }

  /**
   * Netty's permessage-deflate handshaker reads client_max_window_bits with Integer.parseInt and
   * fails on a value that is no number: the connection was cut without an answer, and a warning
   * with its stack trace logged for each such request. Answered by the connection's one place for
   * errors before the 101 (no guard of its own in Upgrades).
   */
  @Test
  void anExtensionParameterNettyCannotReadIsABadRequestOnACompressingNode() throws Exception {
    try (TestServer compressing =
        TestServer.start(
            b ->
                b.transport(
                    io.handoff.server.transport.TransportConfig.builder()
                        .compression(true)
                        .build()))) {
      for (int i = 0; i < 2; i++) {
        try (RawSocket s = RawSocket.open(compressing.port())) {
          s.writeRaw(
              request(
                  token("up9", "phone"),
                  UPGRADE,
                  CONNECTION,
                  KEY,
                  V13,
                  "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=ten"));
          String head = s.readHead();
          assertEquals("HTTP/1.1 400 Bad Request", status(head));
          String body =
              new String(s.socket.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
          assertTrue(body.startsWith("{\"error\":\"bad_request\""), body);
          assertTrue(body.contains("Sec-WebSocket-Extensions has a value"), body);
          assertTrue(body.contains("\\\"ten\\\""), body);
        }
      }
      assertTrue(
          warnings.events().stream().noneMatch(e -> e.getLevel() == Level.WARN),
          "no warning: " + warnings.events());
      assertEquals(2, compressing.server.stats().upgradesRefused.sum(), "counted");
    }
  }

  private static byte[] request(String token, String... headers) {
    StringBuilder b = new StringBuilder("GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for (String h : headers) {
      b.append(h).append("\r\n");
    }
    b.append("Authorization: Bearer ").append(token).append("\r\n\r\n");
    return b.toString().getBytes(StandardCharsets.US_ASCII);
  }

  @Test
  void badTokenIsRefusedBeforeTheHandshakeIsLookedAt() throws Exception {
    String head = answer("not-a-token", "Sec-WebSocket-Version: 12");
    assertEquals("HTTP/1.1 401 Unauthorized", status(head));
  }
}
