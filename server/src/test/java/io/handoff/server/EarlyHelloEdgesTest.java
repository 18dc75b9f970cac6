package io.handoff.server;

import static io.handoff.server.TestServer.token;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.Hello;
import io.handoff.protocol.v1.Position;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.server.transport.TransportConfig;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import java.util.Locale;
import org.junit.jupiter.api.Test;

/**
 * A Hello in the upgrade (docs/protocol.md, "A Hello in the upgrade") from a client that is
 * unusual, buggy or hostile, over real sockets: an upgrade retried on its connection after a 426,
 * the subprotocol offered in a header of its own, a Hello that is empty, in the standard base64
 * alphabet, or past the header limit, and a device that leaves between the 101 and its Welcome.
 */
class EarlyHelloEdgesTest extends OnGatedNode {
  private static final String UPGRADE =
      "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==";
  private static final String V13 = "Sec-WebSocket-Version: 13";
  private static final String OFFER = "Sec-WebSocket-Protocol: handoff.hello";

  private static ClientFrame helloFrame(long requestId, Hello.Builder hello) {
    return ClientFrame.newBuilder().setRequestId(requestId).setHello(hello).build();
  }

  private static String base64url(ClientFrame frame) {
    return Base64.getUrlEncoder().withoutPadding().encodeToString(frame.toByteArray());
  }

  private static byte[] request(String token, String... headers) {
    StringBuilder b = new StringBuilder("GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    b.append(UPGRADE).append("\r\n");
    for (String h : headers) {
      b.append(h).append("\r\n");
    }
    b.append("Authorization: Bearer ").append(token).append("\r\n\r\n");
    return b.toString().getBytes(StandardCharsets.US_ASCII);
  }

  /**
   * RFC 6455 section 4.4 has a client asked for another version (426) try again, which the node
   * takes on the same connection: the Hello the refused request carried was never read, and the
   * next upgrade, which carries none, must not have it read as its first frame.
   */
  @Test
  void aHelloCarriedByAnUpgradeRefusedWith426IsNotReadByTheNextUpgradeOnThatConnection()
      throws Exception {
    startNode("a", b -> {});
    String token = token("edge1", "phone");
    try (RawSocket s = RawSocket.open(node.port())) {
      s.writeRaw(
          request(
              token,
              "Sec-WebSocket-Version: 12",
              OFFER,
              "Handoff-Hello: " + base64url(helloFrame(7, Hello.newBuilder()))));
      assertTrue(s.readHead().startsWith("HTTP/1.1 426 "));

      s.writeRaw(request(token, V13));
      String head = s.readHead();
      assertTrue(head.startsWith("HTTP/1.1 101 "), head);
      assertFalse(head.toLowerCase(Locale.ROOT).contains("sec-websocket-protocol"), head);
      s.send(helloFrame(9, Hello.newBuilder()));
      ServerFrame first = s.readFrame();
      assertTrue(first.hasWelcome(), first.toString());
      assertEquals(9, first.getRequestId(), "the Welcome answers the Hello this upgrade had");
    }
  }

  /**
   * RFC 6455 section 11.3.4: a subprotocol header that appears more than once is one list. The node
   * that read the Hello says so in the 101 whichever handshake answers it (its own, or Netty's when
   * the device asks for compression).
   */
  @Test
  void aSubprotocolOfferedInAHeaderOfItsOwnIsSelectedByEitherHandshake() throws Exception {
    startNode("a", b -> b.transport(TransportConfig.builder().compression(true).build()));
    String hello = "Handoff-Hello: " + base64url(helloFrame(5, Hello.newBuilder()));
    String[][] requests = {
      {V13, "Sec-WebSocket-Protocol: chat", OFFER, hello},
      {
        V13,
        "Sec-WebSocket-Extensions: permessage-deflate",
        "Sec-WebSocket-Protocol: chat",
        OFFER,
        hello
      }
    };
    for (String[] headers : requests) {
      try (RawSocket s = RawSocket.open(node.port())) {
        s.writeRaw(request(token("edge2", "phone"), headers));
        String head = s.readHead().toLowerCase(Locale.ROOT);
        assertTrue(head.startsWith("http/1.1 101 "), head);
        assertTrue(head.contains("\r\nsec-websocket-protocol: handoff.hello\r\n"), head);
      }
    }
  }

  /**
   * A Hello in the upgrade that the node refuses (a name over the limit) is answered after the 101
   * with an Error carrying its request id; the same Hello again as the first frame gets nothing (it
   * was answered), and a corrected one is welcomed.
   */
  @Test
  void aHelloInTheUpgradeRefusedWithAnErrorLeavesTheConnectionWaitingForAHello() throws Exception {
    startNode("a", b -> {});
    ClientFrame tooLong =
        helloFrame(
            7,
            Hello.newBuilder()
                .setFollow(
                    io.handoff.protocol.v1.FollowSpec.newBuilder().addDocuments("n".repeat(300))));
    try (RawSocket s = RawSocket.open(node.port())) {
      s.writeRaw(
          request(token("edge6", "phone"), V13, OFFER, "Handoff-Hello: " + base64url(tooLong)));
      assertTrue(s.readHead().startsWith("HTTP/1.1 101 "));
      ServerFrame refused = s.readFrame();
      assertTrue(refused.hasError(), refused.toString());
      assertEquals(7, refused.getRequestId());
      assertEquals(io.handoff.protocol.v1.ErrorCode.BAD_REQUEST, refused.getError().getCode());
      s.send(tooLong);
      s.send(
          ClientFrame.newBuilder()
              .setRequestId(8)
              .setPing(io.handoff.protocol.v1.Ping.getDefaultInstance())
              .build());
      ServerFrame pong = s.readFrame();
      assertTrue(pong.hasPong() && pong.getRequestId() == 8, "nothing before the Pong: " + pong);
      s.send(helloFrame(9, Hello.newBuilder()));
      ServerFrame welcome = s.readFrame();
      assertTrue(welcome.hasWelcome(), welcome.toString());
      assertEquals(9, welcome.getRequestId());
    }
  }

  /** The status line and JSON body the node answers {@code request} with. */
  private String refusal(byte[] request) throws IOException {
    return RawSocket.refusal(node.port(), request);
  }

  private static void assertRefused(String answer, String error, String says) {
    assertTrue(answer.startsWith("HTTP/1.1 400 "), answer);
    assertTrue(answer.contains("\"error\":\"" + error + "\""), answer);
    assertTrue(answer.contains(says), answer);
  }

  @Test
  void unusableHellosAreRefusedWithWhatToChange() throws Exception {
    startNode("a", b -> {});
    String token = token("edge3", "phone");
    assertRefused(
        refusal(request(token, V13, OFFER, "Handoff-Hello: ")),
        "invalid_hello",
        "the Hello in the upgrade is empty");
    // Bytes whose standard base64 has a '/' and a '+'.
    ClientFrame frame =
        helloFrame(7, Hello.newBuilder().addPositions(Position.newBuilder().setDocument("??>>~~")));
    String standard = Base64.getEncoder().encodeToString(frame.toByteArray());
    assertTrue(standard.contains("/") && standard.contains("+"), standard);
    assertRefused(
        refusal(request(token, V13, OFFER, "Handoff-Hello: " + standard)),
        "invalid_hello",
        "'-' and '_' where standard base64 has '+' and '/'");
    // Past the node's header limit (8 KiB): the codec's refusal, before the token is read.
    assertRefused(
        refusal(request(token, V13, OFFER, "Handoff-Hello: " + "A".repeat(9_000))),
        "bad_request",
        "the request headers are too large");
  }

  /**
   * Devices that reset their connection with the request half sent, right after sending it (while
   * it moves to its user's loop, or is answered), or right after the 101: none leaves a session, a
   * user entry or an open connection behind on the node.
   */
  @Test
  void upgradesCarryingAHelloAbandonedAtEachStepLeaveNothing() throws Exception {
    startNode("a", b -> {});
    for (int i = 0; i < 60; i++) {
      byte[] req =
          request(
              token("edge5-" + (i % 6), "phone"),
              V13,
              OFFER,
              "Handoff-Hello: " + base64url(helloFrame(1, Hello.newBuilder())));
      try (RawSocket s = RawSocket.open(node.port())) {
        s.socket.setSoLinger(true, 0); // Closing resets the connection.
        switch (i % 3) {
          case 0 -> s.writeRaw(java.util.Arrays.copyOf(req, req.length / 2));
          case 1 -> s.writeRaw(req);
          default -> {
            s.writeRaw(req);
            assertTrue(s.readHead().startsWith("HTTP/1.1 101 "));
          }
        }
      }
    }
    Conditions.await(
        "every connection gone",
        () ->
            node.hub().sessions() == 0
                && node.hub().users() == 0
                && node.stats().connectionsOpened.sum() == node.stats().connectionsClosed.sum(),
        Duration.ofSeconds(10));
    assertTrue(node.stats().connectionsOpened.sum() >= 20, "the upgrades answered were counted");
  }

  /**
   * A device that leaves between the 101 and the Welcome of the Hello its upgrade carried (its
   * resume's answer held by the store): once the answer comes, nothing of it is left on the node.
   */
  @Test
  void aDeviceThatLeavesBetweenTheOneOhOneAndItsWelcomeLeavesNothing() throws Exception {
    startNode("a", b -> {});
    engine.holdSyncAnswers();
    try (RawSocket s = RawSocket.open(node.port())) {
      s.writeRaw(
          request(
              token("edge4", "phone"),
              V13,
              OFFER,
              "Handoff-Hello: " + base64url(helloFrame(3, Hello.newBuilder()))));
      assertTrue(s.readHead().startsWith("HTTP/1.1 101 "));
      Conditions.await(
          "the resume read, its answer held",
          () -> engine.heldSyncAnswers() == 1,
          Duration.ofSeconds(10));
      assertEquals(1, node.hub().sessions());
    }
    Conditions.await("the session gone", () -> node.hub().sessions() == 0, Duration.ofSeconds(10));
    engine.releaseSyncAnswers();
    assertEquals(0, node.hub().sessions());
    assertEquals(0, node.hub().users(), "no user entry left");
  }
}
