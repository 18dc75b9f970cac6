package io.handoff.server;

import static io.handoff.server.TestServer.token;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.Hello;
import io.handoff.protocol.v1.ServerFrame;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import org.junit.jupiter.api.Test;

/**
 * The WebSocket upgrade over a real socket: the 101 answer RFC 6455 asks for, and the statuses of
 * requests that are no valid version-13 handshake (the same as before the node wrote its own 101).
 */
class UpgradeTest {
  private static final String SAMPLE_KEY = "dGhlIHNhbXBsZSBub25jZQ==";

  private static String request(String token, String... headers) {
    StringBuilder b = new StringBuilder("GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for (String h : headers) {
      b.append(h).append("\r\n");
    }
    return b.append("Authorization: Bearer ").append(token).append("\r\n\r\n").toString();
  }

  private static String answer(int port, String request) throws Exception {
    try (RawSocket s = RawSocket.open(port)) {
      s.writeRaw(request.getBytes(StandardCharsets.US_ASCII));
      return s.readHead();
    }
  }

  private static String status(String head) {
    return head.substring(0, head.indexOf('\r'));
  }

  @Test
  void upgradeAnswersWithTheAcceptOfRfc6455ForItsSampleKey() throws Exception {
    assertEquals("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", RawSocket.acceptFor(SAMPLE_KEY));
    try (TestServer server = TestServer.start()) {
      String head =
          answer(
              server.port(),
              request(
                  token("up1", "phone"),
                  "Upgrade: websocket",
                  "Connection: Upgrade",
                  "Sec-WebSocket-Key: " + SAMPLE_KEY,
                  "Sec-WebSocket-Version: 13"));
      String lower = head.toLowerCase(Locale.ROOT);
      assertEquals("HTTP/1.1 101 Switching Protocols", status(head));
      assertTrue(lower.contains("\r\nupgrade: websocket\r\n"), head);
      assertTrue(lower.contains("\r\nconnection: upgrade\r\n"), head);
      assertTrue(head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"), head);
    }
  }

  @Test
  void upgradedDeviceIsWelcomedAfterItsHello() throws Exception {
    try (TestServer server = TestServer.start();
        RawSocket device = RawSocket.connect(server.port(), token("up2", "phone"), 0)) {
      device.send(
          ClientFrame.newBuilder().setRequestId(1).setHello(Hello.getDefaultInstance()).build());
      ServerFrame f = device.readFrame();
      assertTrue(f.hasWelcome(), f.toString());
    }
  }

  @Test
  void requestWithoutTheUpgradeHeaderIsABadRequest() throws Exception {
    try (TestServer server = TestServer.start()) {
      String head =
          answer(
              server.port(),
              request(
                  token("up4", "phone"),
                  "Connection: Upgrade",
                  "Sec-WebSocket-Key: " + SAMPLE_KEY,
                  "Sec-WebSocket-Version: 13"));
      assertEquals("HTTP/1.1 400 Bad Request", status(head));
    }
  }

  @Test
  void requestWithoutAKeyIsABadRequest() throws Exception {
    try (TestServer server = TestServer.start()) {
      String head =
          answer(
              server.port(),
              request(
                  token("up5", "phone"),
                  "Upgrade: websocket",
                  "Connection: Upgrade",
                  "Sec-WebSocket-Version: 13"));
      assertEquals("HTTP/1.1 400 Bad Request", status(head));
    }
  }

  @Test
  void unsupportedVersionIsAskedForVersion13() throws Exception {
    try (TestServer server = TestServer.start()) {
      String head =
          answer(
              server.port(),
              request(
                  token("up6", "phone"),
                  "Upgrade: websocket",
                  "Connection: Upgrade",
                  "Sec-WebSocket-Key: " + SAMPLE_KEY,
                  "Sec-WebSocket-Version: 12"));
      assertEquals("HTTP/1.1 426 Upgrade Required", status(head));
      assertTrue(head.toLowerCase(Locale.ROOT).contains("\r\nsec-websocket-version: 13\r\n"), head);
    }
  }

  @Test
  void badTokenIsRefusedBeforeTheHandshakeIsLookedAt() throws Exception {
    try (TestServer server = TestServer.start()) {
      String head = answer(server.port(), request("not-a-token", "Sec-WebSocket-Version: 12"));
      assertEquals("HTTP/1.1 401 Unauthorized", status(head));
    }
  }
}
