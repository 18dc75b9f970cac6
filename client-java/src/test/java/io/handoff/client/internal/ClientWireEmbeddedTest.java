package io.handoff.client.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.Pong;
import io.handoff.protocol.v1.ServerFrame;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * {@link ClientWire} on an {@link EmbeddedChannel}, where a read buffer's reference count can be
 * seen after the read and the clock is the test's.
 */
class ClientWireEmbeddedTest {

  @Test
  void noCompleteResponseWithinTheHandshakeTimeoutEndsTheAttempt() throws Exception {
    // On a real connection the read-idle timer has the same length and fires first; ClientWireTest
    // accepts either. Without it, the handshake's own timer must end the attempt.
    List<String> closes = new ArrayList<>();
    ConnectionHandler handler =
        new ConnectionHandler(
            new Handshake(URI.create("ws://example.test/ws")), null, 300, recorder(closes), null);
    EmbeddedChannel ch = new EmbeddedChannel();
    ch.freezeTime();
    ch.pipeline().addLast(handler);
    handler.channel(ch);
    // As a connect would: the request goes out and the handshake's timer starts.
    ch.pipeline().fireChannelActive();
    ((ByteBuf) ch.readOutbound()).release();
    ch.writeInbound(Unpooled.copiedBuffer("HTTP/1.1 101 Switching", StandardCharsets.US_ASCII));
    ch.advanceTimeBy(299, TimeUnit.MILLISECONDS);
    ch.runScheduledPendingTasks();
    assertTrue(ch.isOpen());
    ch.advanceTimeBy(1, TimeUnit.MILLISECONDS);
    ch.runScheduledPendingTasks();
    ch.runPendingTasks();
    assertFalse(ch.isOpen());
    assertEquals(List.of("1006 WebSocket handshake timed out after 300 ms"), closes);
    ch.finishAndReleaseAll();
  }

  private static FrameListener recorder(List<String> closes) {
    return new FrameListener() {
      @Override
      public void onOpen(FrameChannel channel, boolean helloRead) {
        closes.add("open");
      }

      @Override
      public void onFrame(ServerFrame frame) {}

      @Override
      public void onClose(int closeCode, String reason, Throwable cause) {
        closes.add(closeCode + " " + reason);
      }
    };
  }

  @Test
  void readBufferIsReleasedWhenTheListenerThrowsAnError() {
    List<String> closes = new ArrayList<>();
    FrameListener listener =
        new FrameListener() {
          @Override
          public void onOpen(FrameChannel channel, boolean helloRead) {}

          @Override
          public void onFrame(ServerFrame frame) {
            throw new AssertionError("an application's bug");
          }

          @Override
          public void onClose(int closeCode, String reason, Throwable cause) {
            closes.add(closeCode + " " + reason);
          }
        };
    ConnectionHandler handler =
        new ConnectionHandler(
            new Handshake(URI.create("ws://example.test/ws")), null, 0, listener, null);
    EmbeddedChannel ch = new EmbeddedChannel(handler);
    handler.channel(ch);
    ByteBuf request = ch.readOutbound();
    String key = null;
    for (String line : request.toString(StandardCharsets.US_ASCII).split("\r\n")) {
      if (line.startsWith("Sec-WebSocket-Key: ")) {
        key = line.substring("Sec-WebSocket-Key: ".length());
      }
    }
    request.release();
    byte[] frame =
        ServerFrame.newBuilder().setPong(Pong.newBuilder().setNonce(1)).build().toByteArray();
    ByteBuf in = Unpooled.buffer();
    in.writeCharSequence(
        "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n"
            + "sec-websocket-accept: "
            + Handshake.accept(key)
            + "\r\n\r\n",
        StandardCharsets.US_ASCII);
    in.writeByte(0x82).writeByte(frame.length).writeBytes(frame);
    ch.writeInbound(in);
    assertEquals(0, in.refCnt(), "the read buffer was not released");
    ch.finishAndReleaseAll();
    assertEquals(1, closes.size(), closes.toString());
  }
}
