package io.handoff.client.internal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBuf;
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
    ByteBuf b = h.request(UnpooledByteBufAllocator.DEFAULT, "a2V5", TOKEN);
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
            .request(UnpooledByteBufAllocator.DEFAULT, "a2V5", null);
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
    ByteBuf b = h.request(UnpooledByteBufAllocator.DEFAULT, "a2V5", null);
    String text = b.toString(StandardCharsets.US_ASCII);
    b.release();
    assertTrue(text.startsWith("GET /caf%C3%A9?name=J%C3%BCrgen HTTP/1.1\r\n"), text);
  }

  @Test
  void tokenWithALineBreakIsRefusedBeforeAnythingIsSent() {
    Handshake h = new Handshake(URI.create("ws://127.0.0.1:1/ws"));
    assertThrows(
        IllegalArgumentException.class,
        () -> h.request(UnpooledByteBufAllocator.DEFAULT, "a2V5", "x\r\nX-Evil: 1"));
  }
}
