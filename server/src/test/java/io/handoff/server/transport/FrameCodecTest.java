package io.handoff.server.transport;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.Pong;
import io.handoff.protocol.v1.ServerFrame;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.DecoderException;
import io.netty.handler.codec.http.websocketx.BinaryWebSocketFrame;
import io.netty.handler.codec.http.websocketx.TextWebSocketFrame;
import org.junit.jupiter.api.Test;

/** The frame codec against exact wire bytes. */
public class FrameCodecTest {
  // ClientFrame{request_id: 1, ping: {nonce: 7}}: field 1 varint 1; field 15 (ping) length 2
  // holding field 1 varint 7.
  private static final byte[] PING = {0x08, 0x01, 0x7a, 0x02, 0x08, 0x07};
  // ServerFrame{request_id: 1, pong: {nonce: 7}}: field 15 is pong on the server side too.
  private static final byte[] PONG = {0x08, 0x01, 0x7a, 0x02, 0x08, 0x07};

  @Test
  void decodesABinaryFrameIntoAClientFrame() {
    EmbeddedChannel ch = new EmbeddedChannel(FrameCodec.INSTANCE);
    ch.writeInbound(new BinaryWebSocketFrame(Unpooled.wrappedBuffer(PING)));
    ClientFrame f = ch.readInbound();
    assertEquals(1, f.getRequestId());
    assertEquals(7, f.getPing().getNonce());
    ch.finishAndReleaseAll();
  }

  @Test
  void encodesAServerFrameIntoExactlyItsProtobufBytes() {
    EmbeddedChannel ch = new EmbeddedChannel(FrameCodec.INSTANCE);
    ch.writeOutbound(
        ServerFrame.newBuilder().setRequestId(1).setPong(Pong.newBuilder().setNonce(7)).build());
    BinaryWebSocketFrame out = ch.readOutbound();
    ByteBuf content = out.content();
    assertArrayEquals(PONG, ByteBufUtil.getBytes(content));
    out.release();
    ch.finishAndReleaseAll();
  }

  @Test
  void theFramingCodecWritesAWholeUnmaskedBinaryFrameInOneBuffer() {
    EmbeddedChannel ch = new EmbeddedChannel(FrameCodec.FRAMING);
    ch.writeOutbound(
        ServerFrame.newBuilder().setRequestId(1).setPong(Pong.newBuilder().setNonce(7)).build());
    ByteBuf out = ch.readOutbound();
    // FIN + binary, unmasked, length 6, then the protobuf bytes.
    byte[] expected = {(byte) 0x82, 0x06, 0x08, 0x01, 0x7a, 0x02, 0x08, 0x07};
    assertArrayEquals(expected, ByteBufUtil.getBytes(out));
    out.release();
    ch.finishAndReleaseAll();
  }

  @Test
  void theFramingCodecCopiesEncodedFramesAndUsesLongerLengthsForLargerOnes() {
    EmbeddedChannel ch = new EmbeddedChannel(FrameCodec.FRAMING);
    for (int size : new int[] {0, 125, 126, 65_535, 65_536, 200_000}) {
      byte[] frame = new byte[size];
      java.util.Arrays.fill(frame, (byte) 0x5a);
      ch.writeOutbound((Object) frame);
      ByteBuf out = ch.readOutbound();
      assertEquals(0x82, out.getUnsignedByte(0));
      int header = size < 126 ? 2 : size <= 0xffff ? 4 : 10;
      assertEquals(header + size, out.readableBytes(), "frame of " + size + " bytes");
      assertArrayEquals(frame, ByteBufUtil.getBytes(payload(out)), "payload of " + size);
      out.release();
    }
    ch.finishAndReleaseAll();
  }

  @Test
  void theWrappingCodecHandsEncodedFramesToTheWebSocketEncoder() {
    EmbeddedChannel ch = new EmbeddedChannel(FrameCodec.INSTANCE);
    ch.writeOutbound((Object) PONG.clone());
    BinaryWebSocketFrame out = ch.readOutbound();
    assertArrayEquals(PONG, ByteBufUtil.getBytes(out.content()));
    out.release();
    ch.finishAndReleaseAll();
  }

  /**
   * The payload of one whole unmasked binary frame as {@link FrameCodec#FRAMING} writes it (a slice
   * of {@code frame}), for tests that read what a connection sent.
   */
  public static ByteBuf payload(ByteBuf frame) {
    int len = frame.getUnsignedByte(frame.readerIndex() + 1) & 0x7f;
    int header = len == 126 ? 4 : len == 127 ? 10 : 2;
    return frame.slice(frame.readerIndex() + header, frame.readableBytes() - header);
  }

  @Test
  void garbageIsAProtocolViolation() {
    EmbeddedChannel ch = new EmbeddedChannel(FrameCodec.INSTANCE);
    DecoderException e =
        assertThrows(
            DecoderException.class,
            () ->
                ch.writeInbound(
                    new BinaryWebSocketFrame(Unpooled.wrappedBuffer(new byte[] {(byte) 0xff}))));
    assertEquals(CloseCode.PROTOCOL_ERROR, ((ProtocolViolation) e.getCause()).code());
    ch.finishAndReleaseAll();
  }

  @Test
  void textFramesAreAProtocolViolation() {
    EmbeddedChannel ch = new EmbeddedChannel(FrameCodec.INSTANCE);
    DecoderException e =
        assertThrows(DecoderException.class, () -> ch.writeInbound(new TextWebSocketFrame("{}")));
    assertEquals(CloseCode.PROTOCOL_ERROR, ((ProtocolViolation) e.getCause()).code());
    ch.finishAndReleaseAll();
  }
}
