package io.handoff.client.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.handoff.protocol.v1.Pong;
import io.handoff.protocol.v1.ServerFrame;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * What {@link ClientWire} does with the read buffers it is handed, on an {@link EmbeddedChannel}: a
 * buffer whose reference count the test can see after the read.
 */
class ClientWireBufferTest {

  @Test
  void readBufferIsReleasedWhenTheListenerThrowsAnError() {
    List<String> closes = new ArrayList<>();
    FrameListener listener =
        new FrameListener() {
          @Override
          public void onOpen(FrameChannel channel) {}

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
