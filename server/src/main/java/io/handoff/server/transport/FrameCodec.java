package io.handoff.server.transport;

import com.google.protobuf.InvalidProtocolBufferException;
import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.ServerFrame;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandler.Sharable;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.MessageToMessageCodec;
import io.netty.handler.codec.http.websocketx.BinaryWebSocketFrame;
import io.netty.handler.codec.http.websocketx.TextWebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocketFrame;
import java.util.List;

/**
 * Binary WebSocket messages to {@link ClientFrame}s and {@link ServerFrame}s to binary messages.
 * Stateless and shared by every connection. A frame that does not parse, or a text frame, raises a
 * {@link ProtocolViolation} that the session handler turns into a PROTOCOL_ERROR close.
 */
@Sharable
public final class FrameCodec extends MessageToMessageCodec<WebSocketFrame, ServerFrame> {
  public static final FrameCodec INSTANCE = new FrameCodec();

  private FrameCodec() {}

  @Override
  protected void encode(ChannelHandlerContext ctx, ServerFrame msg, List<Object> out) {
    out.add(new BinaryWebSocketFrame(Unpooled.wrappedBuffer(msg.toByteArray())));
  }

  @Override
  protected void decode(ChannelHandlerContext ctx, WebSocketFrame frame, List<Object> out) {
    if (!(frame instanceof BinaryWebSocketFrame)) {
      throw new ProtocolViolation(
          CloseCode.PROTOCOL_ERROR,
          frame instanceof TextWebSocketFrame
              ? "text frames are not accepted; send binary protobuf ClientFrames"
              : "unexpected " + frame.getClass().getSimpleName());
    }
    ByteBuf buf = frame.content();
    try {
      out.add(ClientFrame.parseFrom(buf.nioBuffer()));
    } catch (InvalidProtocolBufferException e) {
      throw new ProtocolViolation(
          CloseCode.PROTOCOL_ERROR, "malformed frame, not a ClientFrame: " + e.getMessage());
    }
  }
}
