package io.handoff.server;

import static io.handoff.server.TestServer.token;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.Hello;
import io.handoff.protocol.v1.Ping;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.server.transport.TransportConfig;
import java.io.DataInputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Base64;
import java.util.Locale;
import java.util.zip.Inflater;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A Hello sent with the upgrade (docs/protocol.md, "A Hello in the upgrade"), over a real socket:
 * the node answers the 101 with the subprotocol, reads the Hello as the first frame and welcomes
 * the device without a Hello frame; an unusable one is refused 400 {@code invalid_hello} before any
 * session exists. The same Hello again as the first frame (from a client that did not see the
 * subprotocol) is answered by nothing; any other second Hello is {@code UNEXPECTED_FRAME}.
 */
class EarlyHelloTest {
  private static final String UPGRADE =
      "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
          + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==";
  private static final String OFFER = "Sec-WebSocket-Protocol: handoff.hello";

  private static TestServer server;

  @BeforeAll
  static void start() throws InterruptedException {
    server = TestServer.start();
  }

  @AfterAll
  static void stop() {
    server.close();
  }

  private static ClientFrame helloFrame(long requestId) {
    return ClientFrame.newBuilder()
        .setRequestId(requestId)
        .setHello(Hello.newBuilder().setClient("early-hello-test"))
        .build();
  }

  private static String hello(long requestId) {
    return Base64.getUrlEncoder()
        .withoutPadding()
        .encodeToString(helloFrame(requestId).toByteArray());
  }

  /**
   * Upgrades {@code s} to {@code port} with {@code helloFrame(7)} in the header; reads the Welcome.
   */
  private static void welcomedWithTheHelloInTheHeader(RawSocket s, String user) throws IOException {
    s.writeRaw(request("", token(user, "phone"), OFFER, "Handoff-Hello: " + hello(7)));
    assertTrue(s.readHead().startsWith("HTTP/1.1 101 "));
    ServerFrame welcome = s.readFrame();
    assertTrue(welcome.hasWelcome(), welcome.toString());
  }

  /** Sends a Ping numbered {@code requestId} and asserts that the next frame is its Pong. */
  private static void pingAnswered(RawSocket s, long requestId) throws IOException {
    s.send(
        ClientFrame.newBuilder()
            .setRequestId(requestId)
            .setPing(Ping.getDefaultInstance())
            .build());
    ServerFrame pong = s.readFrame();
    assertTrue(pong.hasPong(), "not the Pong: " + pong);
    assertEquals(requestId, pong.getRequestId());
  }

  private static void refusedAsUnexpected(RawSocket s, long requestId) throws IOException {
    ServerFrame error = s.readFrame();
    assertTrue(error.hasError(), error.toString());
    assertEquals(requestId, error.getRequestId());
    assertEquals(ErrorCode.UNEXPECTED_FRAME, error.getError().getCode());
  }

  @Test
  void theUpgradesHelloAgainAsTheFirstFrameIsAnsweredByNothing() throws Exception {
    try (RawSocket s = RawSocket.open(server.port())) {
      welcomedWithTheHelloInTheHeader(s, "eh10");
      // As a client whose 101 lost its subprotocol on the way sends it.
      s.send(helloFrame(7));
      pingAnswered(s, 8);
      // Only the first frame: the same Hello later is one too many.
      s.send(helloFrame(7));
      refusedAsUnexpected(s, 7);
    }
  }

  @Test
  void theUpgradesHelloAfterAnotherFrameIsUnexpected() throws Exception {
    try (RawSocket s = RawSocket.open(server.port())) {
      welcomedWithTheHelloInTheHeader(s, "eh11");
      pingAnswered(s, 8);
      s.send(helloFrame(7));
      refusedAsUnexpected(s, 7);
    }
  }

  @Test
  void anotherHelloAsTheFirstFrameIsUnexpected() throws Exception {
    try (RawSocket s = RawSocket.open(server.port())) {
      welcomedWithTheHelloInTheHeader(s, "eh12");
      s.send(helloFrame(8)); // The same Hello under another request id: another request.
      refusedAsUnexpected(s, 8);
    }
  }

  @Test
  void theUpgradesHelloIsForgottenWhenTheNodePings() throws Exception {
    FakeScheduler time = new FakeScheduler();
    try (TestServer pinging = TestServer.start(time, b -> {});
        RawSocket s = RawSocket.open(pinging.port())) {
      welcomedWithTheHelloInTheHeader(s, "eh13");
      time.advance(pinging.server.config().heartbeatInterval());
      s.readUntilPing();
      s.send(helloFrame(7));
      refusedAsUnexpected(s, 7);
    }
  }

  private static byte[] request(String query, String token, String... headers) {
    StringBuilder b = new StringBuilder("GET /ws" + query + " HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    b.append(UPGRADE).append("\r\n");
    for (String h : headers) {
      b.append(h).append("\r\n");
    }
    b.append("Authorization: Bearer ").append(token).append("\r\n\r\n");
    return b.toString().getBytes(StandardCharsets.US_ASCII);
  }

  private static void assertWelcomedWithoutAHelloFrame(RawSocket s, long requestId)
      throws IOException {
    String head = s.readHead();
    assertTrue(head.startsWith("HTTP/1.1 101 "), head);
    assertTrue(
        head.toLowerCase(Locale.ROOT).contains("\r\nsec-websocket-protocol: handoff.hello\r\n"),
        head);
    ServerFrame welcome = s.readFrame();
    assertTrue(welcome.hasWelcome(), welcome.toString());
    assertEquals(requestId, welcome.getRequestId());
    assertTrue(welcome.getWelcome().getHelloInUpgrade(), welcome.toString());
    // The session took the upgrade's Hello as its first: a Hello frame now is one too many.
    s.send(ClientFrame.newBuilder().setRequestId(9).setHello(Hello.getDefaultInstance()).build());
    ServerFrame again = s.readFrame();
    assertTrue(again.hasError(), again.toString());
    assertEquals(9, again.getRequestId());
    assertEquals(ErrorCode.UNEXPECTED_FRAME, again.getError().getCode());
  }

  @Test
  void helloInTheHeaderIsWelcomedWithTheOneOhOne() throws Exception {
    try (RawSocket s = RawSocket.open(server.port())) {
      s.writeRaw(request("", token("eh1", "phone"), OFFER, "Handoff-Hello: " + hello(7)));
      assertWelcomedWithoutAHelloFrame(s, 7);
    }
  }

  @Test
  void helloInTheQueryIsWelcomedWithTheOneOhOne() throws Exception {
    try (RawSocket s = RawSocket.open(server.port())) {
      s.writeRaw(request("?hello=" + hello(3), token("eh2", "tablet"), OFFER));
      assertWelcomedWithoutAHelloFrame(s, 3);
    }
  }

  @Test
  void withoutAHelloTheOneOhOneNamesNoSubprotocol() throws Exception {
    try (RawSocket s = RawSocket.open(server.port())) {
      s.writeRaw(request("", token("eh3", "phone")));
      String head = s.readHead();
      assertTrue(head.startsWith("HTTP/1.1 101 "), head);
      assertFalse(head.toLowerCase(Locale.ROOT).contains("sec-websocket-protocol"), head);
    }
  }

  @Test
  void aWelcomeToAHelloFrameSaysTheNodeReadsOneInTheUpgrade() throws Exception {
    try (RawSocket s = RawSocket.open(server.port())) {
      s.writeRaw(request("", token("eh8", "phone")));
      assertTrue(s.readHead().startsWith("HTTP/1.1 101 "));
      s.send(ClientFrame.newBuilder().setRequestId(5).setHello(Hello.getDefaultInstance()).build());
      ServerFrame welcome = s.readFrame();
      assertTrue(welcome.hasWelcome(), welcome.toString());
      // What a browser, which fails an upgrade whose 101 selects no offered subprotocol, waits for.
      assertTrue(welcome.getWelcome().getHelloInUpgrade(), welcome.toString());
    }
  }

  /** The status line and JSON body the node answers a request with. */
  private static String refusal(byte[] request) throws IOException {
    return RawSocket.refusal(server.port(), request);
  }

  private static void assertRefused(String answer, String says) {
    assertTrue(answer.startsWith("HTTP/1.1 400 "), answer);
    assertTrue(answer.contains("\"error\":\"invalid_hello\""), answer);
    assertTrue(answer.contains(says), answer);
  }

  @Test
  void unusableHellosAreRefusedWithAReason() throws Exception {
    String token = token("eh4", "phone");
    assertRefused(
        refusal(request("", token, "Handoff-Hello: " + hello(1))), "needs the subprotocol");
    assertRefused(
        refusal(request("?hello=" + hello(1), token, OFFER, "Handoff-Hello: " + hello(1))),
        "2 Hellos");
    assertRefused(refusal(request("", token, OFFER, "Handoff-Hello: a*b")), "not base64url");
    assertRefused(refusal(request("", token, OFFER, "Handoff-Hello: __8")), "no ClientFrame");
    String ping =
        Base64.getUrlEncoder()
            .encodeToString(
                ClientFrame.newBuilder().setPing(Ping.getDefaultInstance()).build().toByteArray());
    assertRefused(refusal(request("", token, OFFER, "Handoff-Hello: " + ping)), "not PING");
    assertRefused(refusal(request("", token, OFFER)), "offered without a Hello");
  }

  @Test
  void aQueryThatDoesNotDecodeIsAnInvalidRequest() throws Exception {
    String answer = refusal(request("?hello=%zz", token("eh7", "phone"), OFFER));
    assertTrue(answer.startsWith("HTTP/1.1 400 "), answer);
    assertTrue(answer.contains("\"error\":\"invalid_request\""), answer);
    assertTrue(answer.contains("malformed percent-escape"), answer);
  }

  @Test
  void aRefusedHelloLeavesTheDeviceFreeToConnect() throws Exception {
    String token = token("eh5", "phone");
    refusal(request("", token, OFFER, "Handoff-Hello: a*b"));
    try (RawSocket s = RawSocket.open(server.port())) {
      s.writeRaw(request("", token, OFFER, "Handoff-Hello: " + hello(1)));
      assertWelcomedWithoutAHelloFrame(s, 1);
    }
  }

  /**
   * A node whose max-frame-bytes is below its header limit bounds the Hello in the upgrade as it
   * bounds the same Hello sent as a frame: over it, refused 400 {@code frame_too_large} with the
   * frame's wording, where the frame is closed 4501 FRAME_TOO_LARGE; at it, read.
   */
  @Test
  void aHelloInTheUpgradeLargerThanTheFrameBoundIsRefusedAsSuchAFrameIs() throws Exception {
    int max = 1024;
    try (TestServer small =
        TestServer.start(
            b ->
                b.maxFrameBytes(max)
                    .storeLimits(
                        io.handoff.server.engine.StoreLimits.builder()
                            .maxValueBytes(max)
                            .build()))) {
      ClientFrame large = helloOfSize(7, max + 1);
      try (RawSocket s = RawSocket.open(small.port())) {
        s.writeRaw(request("", token("eh20", "phone"), OFFER, "Handoff-Hello: " + encoded(large)));
        String answer = answerOf(s);
        assertTrue(answer.startsWith("HTTP/1.1 400 "), answer);
        assertTrue(answer.contains("\"error\":\"frame_too_large\""), answer);
        assertTrue(answer.contains("a frame larger than 1024 bytes"), answer);
        assertTrue(answer.contains("it has 1025"), answer);
        assertEquals(1, small.server.stats().upgradesRefused.sum(), "counted");
      }
      try (RawSocket s = RawSocket.open(small.port())) {
        s.writeRaw(request("", token("eh20", "phone")));
        assertTrue(s.readHead().startsWith("HTTP/1.1 101 "));
        s.send(large);
        ServerFrame closed = s.readFrame();
        assertEquals(
            io.handoff.protocol.CloseCode.FRAME_TOO_LARGE.code(),
            closed.getDisconnect().getCode(),
            closed.toString());
        assertEquals("frame larger than 1024 bytes", closed.getDisconnect().getReason());
      }
      try (RawSocket s = RawSocket.open(small.port())) {
        s.writeRaw(
            request(
                "",
                token("eh21", "phone"),
                OFFER,
                "Handoff-Hello: " + encoded(helloOfSize(7, max))));
        assertTrue(s.readHead().startsWith("HTTP/1.1 101 "));
      }
    }
  }

  /**
   * Upgrades refused for what they sent are counted beside the frames that close a connection:
   * {@code handoff_protocol_error_closes_total{stage="upgrade"}} moves with each refused Hello in
   * the upgrade and each request that is no handshake; a refused token does not move it.
   */
  @Test
  void upgradesRefusedForWhatTheySentAreCounted() throws Exception {
    try (TestServer counted = TestServer.start(b -> b.admin("127.0.0.1", 0))) {
      int admin = counted.server.adminPort();
      String token = token("eh22", "phone");
      assertEquals(0.0, upgradesRefused(admin));
      assertRefused(
          refusal(counted, request("", token, OFFER, "Handoff-Hello: a*b")), "not base64url");
      assertEquals(1.0, upgradesRefused(admin));
      assertRefused(refusal(counted, request("", token, OFFER)), "offered without a Hello");
      assertEquals(2.0, upgradesRefused(admin));
      String noHandshake =
          refusal(
              counted,
              ("GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + token + "\r\n\r\n")
                  .getBytes(StandardCharsets.US_ASCII));
      assertTrue(noHandshake.startsWith("HTTP/1.1 400 "), noHandshake);
      assertEquals(3.0, upgradesRefused(admin));
      // Another WebSocket version is answered by Netty's handshaker (426, the connection kept for
      // the retry), not counted.
      String otherVersion =
          refusal(
              counted,
              ("GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
                      + token
                      + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 12\r\n\r\n")
                  .getBytes(StandardCharsets.US_ASCII));
      assertTrue(otherVersion.startsWith("HTTP/1.1 426 "), otherVersion);
      assertEquals(3.0, upgradesRefused(admin));
      String unauthorized = refusal(counted, request("", "not-a-token", OFFER));
      assertTrue(unauthorized.startsWith("HTTP/1.1 401 "), unauthorized);
      assertEquals(3.0, upgradesRefused(admin));
      assertEquals(
          0.0,
          MetricsScenariosTest.value(
              MetricsScenariosTest.samples(MetricsScenariosTest.scrape(admin)),
              "handoff_protocol_error_closes_total",
              "stage=\"websocket\""));
    }
  }

  private static double upgradesRefused(int admin) throws Exception {
    return MetricsScenariosTest.value(
        MetricsScenariosTest.samples(MetricsScenariosTest.scrape(admin)),
        "handoff_protocol_error_closes_total",
        "stage=\"upgrade\"");
  }

  private static String refusal(TestServer node, byte[] request) throws IOException {
    try (RawSocket s = RawSocket.open(node.port())) {
      s.writeRaw(request);
      return answerOf(s);
    }
  }

  /** A Hello frame numbered {@code requestId} of exactly {@code size} encoded bytes. */
  private static ClientFrame helloOfSize(long requestId, int size) {
    for (int n = 0; n < size; n++) {
      ClientFrame f =
          ClientFrame.newBuilder()
              .setRequestId(requestId)
              .setHello(Hello.newBuilder().setClient("x".repeat(n)))
              .build();
      if (f.getSerializedSize() == size) {
        return f;
      }
    }
    throw new AssertionError("no Hello of " + size + " bytes");
  }

  private static String encoded(ClientFrame f) {
    return Base64.getUrlEncoder().withoutPadding().encodeToString(f.toByteArray());
  }

  /** The status line and JSON body of the answer read from {@code s}. */
  private static String answerOf(RawSocket s) throws IOException {
    String head = s.readHead();
    int at = head.toLowerCase(Locale.ROOT).indexOf("content-length: ");
    int length = Integer.parseInt(head.substring(at + 16, head.indexOf('\r', at)).strip());
    byte[] body = s.socket.getInputStream().readNBytes(length);
    return head.substring(0, head.indexOf('\r')) + " " + new String(body, StandardCharsets.UTF_8);
  }

  @Test
  void helloInTheUpgradeIsReadWhereNettysHandshakerAnswers() throws Exception {
    // Asking for compression takes the upgrade through Netty's handshaker, not the node's own 101.
    try (TestServer compressing =
            TestServer.start(
                b -> b.transport(TransportConfig.builder().compression(true).build()));
        RawSocket s = RawSocket.open(compressing.port())) {
      s.writeRaw(
          request(
              "",
              token("eh6", "phone"),
              OFFER,
              "Sec-WebSocket-Extensions: permessage-deflate",
              "Handoff-Hello: " + hello(5)));
      String head = s.readHead().toLowerCase(Locale.ROOT);
      assertTrue(head.startsWith("http/1.1 101 "), head);
      assertTrue(head.contains("\r\nsec-websocket-protocol: handoff.hello\r\n"), head);
      assertTrue(head.contains("\r\nsec-websocket-extensions: permessage-deflate"), head);
      ServerFrame welcome = ServerFrame.parseFrom(readMessage(s));
      assertTrue(welcome.hasWelcome(), welcome.toString());
      assertEquals(5, welcome.getRequestId());
    }
  }

  /** One unfragmented data frame's payload, inflated if compressed (RFC 7692). */
  private static byte[] readMessage(RawSocket s) throws Exception {
    DataInputStream in = new DataInputStream(s.socket.getInputStream());
    int b0 = in.readUnsignedByte();
    int len = in.readUnsignedByte() & 0x7f;
    if (len == 126) {
      len = in.readUnsignedShort();
    } else if (len == 127) {
      len = (int) in.readLong();
    }
    byte[] payload = in.readNBytes(len);
    if ((b0 & 0x40) == 0) {
      return payload;
    }
    Inflater inflater = new Inflater(true);
    inflater.setInput(
        ByteBuffer.allocate(len + 4).put(payload).put(new byte[] {0, 0, -1, -1}).flip());
    byte[] out = new byte[64 * 1024];
    int n = inflater.inflate(out);
    inflater.end();
    return Arrays.copyOf(out, n);
  }
}
