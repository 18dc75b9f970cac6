package io.handoff.client.internal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.buffer.UnpooledByteBufAllocator;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** The upgrade request {@link Handshake} writes and the accept it expects; no socket needed. */
class HandshakeTest {
  private static final String TOKEN = "header.payload.signature";

  @Test
  void headLinesAreWhatSplittingAtCrLfGives() {
    for (String head :
        new String[] {
          "",
          "HTTP/1.1 101 Switching Protocols",
          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade",
          "HTTP/1.1 400 Bad Request\r\nX-Odd: a\rb\nc\r\nContent-Length: 2",
          "\r\nleading",
          "a\r\n\r\nb",
        }) {
      assertArrayEquals(head.split("\r\n"), Handshake.lines(head), head);
    }
  }

  @Test
  void acceptOfTheRfcSampleKeyIsTheRfcsAnswer() {
    assertEquals("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", Handshake.accept("dGhlIHNhbXBsZSBub25jZQ=="));
  }

  @Test
  void requestNamesPathHostVersionKeyAndBearerToken() {
    Handshake h = new Handshake(URI.create("ws://example.test:8080/ws?a=b"));
    ByteBuf b = h.request(UnpooledByteBufAllocator.DEFAULT, "a2V5", TOKEN, null);
    assertEquals(
        "GET /ws?a=b HTTP/1.1\r\n"
            + "Host: example.test:8080\r\n"
            + "Upgrade: websocket\r\n"
            + "Connection: Upgrade\r\n"
            + "Sec-WebSocket-Version: 13\r\n"
            + "Sec-WebSocket-Key: a2V5\r\n"
            + "Authorization: Bearer "
            + TOKEN
            + "\r\n\r\n",
        b.toString(StandardCharsets.US_ASCII));
    b.release();
    ByteBuf noToken =
        new Handshake(URI.create("wss://example.test/"))
            .request(UnpooledByteBufAllocator.DEFAULT, "a2V5", null, null);
    String text = noToken.toString(StandardCharsets.US_ASCII);
    noToken.release();
    assertTrue(text.contains("Host: example.test\r\n"), text);
    assertTrue(!text.contains("Authorization"), text);
  }

  @Test
  void pathAndQueryBeyondAsciiAreSentPercentEncoded() {
    // A java.net.URI may hold them raw; Netty's handshaker sent them (as UTF-8) where this one
    // refused the URL outright.
    Handshake h = new Handshake(URI.create("ws://example.test/caf\u00e9?name=J\u00fcrgen"));
    ByteBuf b = h.request(UnpooledByteBufAllocator.DEFAULT, "a2V5", null, null);
    String text = b.toString(StandardCharsets.US_ASCII);
    b.release();
    assertTrue(text.startsWith("GET /caf%C3%A9?name=J%C3%BCrgen HTTP/1.1\r\n"), text);
  }

  @Test
  void tokenWithALineBreakIsRefusedBeforeAnythingIsSent() {
    Handshake h = new Handshake(URI.create("ws://127.0.0.1:1/ws"));
    assertThrows(
        IllegalArgumentException.class,
        () -> h.request(UnpooledByteBufAllocator.DEFAULT, "a2V5", "x\r\nX-Evil: 1", null));
  }

  @Test
  void helloGoesInItsHeaderWithTheSubprotocolOffered() {
    Handshake h = new Handshake(URI.create("ws://example.test/ws"));
    ByteBuf b = h.request(UnpooledByteBufAllocator.DEFAULT, "a2V5", TOKEN, new byte[] {8, 1, -1});
    String text = b.toString(StandardCharsets.US_ASCII);
    b.release();
    assertTrue(
        text.endsWith("\r\nSec-WebSocket-Protocol: handoff.hello\r\nHandoff-Hello: CAH_\r\n\r\n"),
        text);
    assertThrows(
        IllegalArgumentException.class,
        () ->
            h.request(
                UnpooledByteBufAllocator.DEFAULT,
                "a2V5",
                TOKEN,
                new byte[Handshake.MAX_EARLY_HELLO_BYTES + 1]));
  }

  private static ByteBuf switching(String... extra) {
    StringBuilder b =
        new StringBuilder(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Accept: "
                + Handshake.accept("a2V5")
                + "\r\n");
    for (String line : extra) {
      b.append(line).append("\r\n");
    }
    return Unpooled.copiedBuffer(b.append("\r\n").toString(), StandardCharsets.US_ASCII);
  }

  @Test
  void theHellosSubprotocolInTheOneOhOneSaysTheNodeReadIt() throws Exception {
    String read = "Sec-WebSocket-Protocol: handoff.hello";
    assertEquals(Handshake.OPEN, Handshake.read(switching(), "a2V5", true));
    assertEquals(Handshake.OPEN_HELLO_READ, Handshake.read(switching(read), "a2V5", true));
    assertEquals(
        Handshake.INCOMPLETE,
        Handshake.read(Unpooled.copiedBuffer(new byte[] {'H'}), "a2V5", true));
    // Not asked for: a subprotocol the request did not offer fails the upgrade (RFC 6455 4.1).
    assertThrows(
        UpgradeFailedException.class, () -> Handshake.read(switching(read), "a2V5", false));
    assertThrows(
        UpgradeFailedException.class,
        () -> Handshake.read(switching("Sec-WebSocket-Protocol: other"), "a2V5", true));
  }
}
