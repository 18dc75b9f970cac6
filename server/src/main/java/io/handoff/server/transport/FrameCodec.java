package io.handoff.server.transport;

import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.InvalidProtocolBufferException;
import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.ServerFrame;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandler.Sharable;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.DecoderException;
import io.netty.handler.codec.EncoderException;
import io.netty.handler.codec.http.websocketx.BinaryWebSocketFrame;
import io.netty.handler.codec.http.websocketx.TextWebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocketFrame;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;

/**
 * Binary WebSocket messages to {@link ClientFrame}s, and {@link ServerFrame}s (or their encoded
 * bytes, a {@code byte[]}) to binary messages. Every outgoing frame is encoded once, straight into
 * a pooled buffer of the connection's allocator: no intermediate array, no copy from heap to direct
 * memory.
 *
 * <p>Two instances, both stateless and shared by every connection: {@link #INSTANCE} hands {@link
 * BinaryWebSocketFrame}s to the WebSocket encoder (and to permessage-deflate, where negotiated);
 * {@link #FRAMING} writes the WebSocket header itself (a server frame is never masked) and passes
 * finished wire bytes through the WebSocket encoder untouched, one buffer and no frame object per
 * message. The connection switches to {@link #FRAMING} once its upgrade negotiated no extension.
 *
 * <p>A plain duplex handler, not a {@code MessageToMessageCodec}: one message in, one message out,
 * so no output list per message and no generic matching on the hot path. Anything else it is handed
 * passes through untouched.
 *
 * <p>A frame that does not parse, or a text frame, raises a {@link ProtocolViolation} (inside a
 * {@link DecoderException}) that the session handler turns into a PROTOCOL_ERROR close.
 */
@Sharable
public final class FrameCodec extends ChannelDuplexHandler {
  public static final FrameCodec INSTANCE = new FrameCodec(false);

  /** Writes the WebSocket framing itself: for connections without extensions only. */
  public static final FrameCodec FRAMING = new FrameCodec(true);

  // FIN + binary opcode: one whole binary message per frame.
  private static final int FIN_BINARY = 0x82;

  private final boolean framing;

  private FrameCodec(boolean framing) {
    this.framing = framing;
  }

  @Override
  public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
    ByteBuf buf;
    try {
      if (msg instanceof byte[] encoded) {
        buf = encoded(ctx.alloc(), encoded, framing);
      } else if (msg instanceof ServerFrame frame) {
        buf = encode(ctx.alloc(), frame, framing);
      } else {
        ctx.write(msg, promise);
        return;
      }
    } catch (IOException | RuntimeException e) {
      promise.tryFailure(new EncoderException(e));
      return;
    }
    ctx.write(framing ? buf : new BinaryWebSocketFrame(buf), promise);
  }

  /**
   * {@code msg} (a ServerFrame or an encoded one) as one whole unmasked binary WebSocket frame, in
   * one buffer of {@code alloc}.
   */
  static ByteBuf framed(ByteBufAllocator alloc, Object msg) {
    if (msg instanceof byte[] encoded) {
      return encoded(alloc, encoded, true);
    }
    try {
      return encode(alloc, (ServerFrame) msg, true);
    } catch (IOException e) {
      throw new UncheckedIOException(e); // Unreachable: the buffer has the frame's exact size.
    }
  }

  /** An encoded frame (a delta, an ack) copied behind its header: no NIO view, no encoder. */
  private static ByteBuf encoded(ByteBufAllocator alloc, byte[] frame, boolean framing) {
    int size = frame.length;
    ByteBuf buf = alloc.ioBuffer((framing ? headerBytes(size) : 0) + size);
    if (framing) {
      writeHeader(buf, FIN_BINARY, size);
    }
    return buf.writeBytes(frame);
  }

  /** Whether {@link #framed} takes {@code msg}: a ServerFrame or an encoded one. */
  static boolean frames(Object msg) {
    return msg instanceof ServerFrame || msg instanceof byte[];
  }

  /** An unmasked WebSocket header: {@code first} (FIN and opcode), then the payload's size. */
  static void writeHeader(ByteBuf buf, int first, int size) {
    buf.writeByte(first);
    if (size < 126) {
      buf.writeByte(size);
    } else if (size <= 0xffff) {
      buf.writeByte(126).writeShort(size);
    } else {
      buf.writeByte(127).writeLong(size);
    }
  }

  private static ByteBuf encode(ByteBufAllocator alloc, ServerFrame frame, boolean framing)
      throws IOException {
    int size = frame.getSerializedSize();
    int header = framing ? headerBytes(size) : 0;
    ByteBuf buf = alloc.ioBuffer(header + size);
    try {
      // One view of the buffer for header and payload: fewer bounds checks (and fewer leak-detector
      // records) than one ByteBuf call per field.
      ByteBuffer nio = buf.internalNioBuffer(buf.writerIndex(), header + size);
      if (framing) {
        writeHeader(nio, size);
      }
      CodedOutputStream cos = CodedOutputStream.newInstance(nio);
      frame.writeTo(cos);
      cos.checkNoSpaceLeft();
      buf.writerIndex(buf.writerIndex() + header + size);
      return buf;
    } catch (IOException | RuntimeException e) {
      buf.release();
      throw e;
    }
  }

  /** Bytes of an unmasked WebSocket header for a payload of {@code size} bytes (RFC 6455 5.2). */
  static int headerBytes(int size) {
    return size < 126 ? 2 : size <= 0xffff ? 4 : 10;
  }

  private static void writeHeader(ByteBuffer buf, int size) {
    buf.put((byte) FIN_BINARY);
    if (size < 126) {
      buf.put((byte) size);
    } else if (size <= 0xffff) {
      buf.put((byte) 126);
      buf.putShort((short) size);
    } else {
      buf.put((byte) 127);
      buf.putLong(size);
    }
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (!(msg instanceof WebSocketFrame frame)) {
      ctx.fireChannelRead(msg);
      return;
    }
    ClientFrame decoded;
    try {
      decoded = decode(frame);
    } finally {
      frame.release();
    }
    ctx.fireChannelRead(decoded);
  }

  private static ClientFrame decode(WebSocketFrame frame) {
    if (!(frame instanceof BinaryWebSocketFrame)) {
      throw new DecoderException(
          new ProtocolViolation(
              CloseCode.PROTOCOL_ERROR,
              frame instanceof TextWebSocketFrame
                  ? "text frames are not accepted; send binary protobuf ClientFrames"
                  : "unexpected " + frame.getClass().getSimpleName()));
    }
    try {
      return ClientFrame.parseFrom(frame.content().nioBuffer());
    } catch (InvalidProtocolBufferException e) {
      throw new DecoderException(
          new ProtocolViolation(
              CloseCode.PROTOCOL_ERROR, "malformed frame, not a ClientFrame: " + e.getMessage()));
    }
  }
}
