package io.handoff.client.internal;

import com.google.protobuf.CodedOutputStream;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.ServerFrame;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufInputStream;
import io.netty.channel.ChannelHandler.Sharable;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.CorruptedFrameException;
import io.netty.handler.codec.MessageToMessageCodec;
import io.netty.handler.codec.http.websocketx.BinaryWebSocketFrame;
import io.netty.handler.codec.http.websocketx.CloseWebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocketFrame;
import java.util.List;

/**
 * Decodes each binary WebSocket frame into one {@link ServerFrame} and encodes each {@link
 * ClientFrame} into one binary WebSocket frame. Close frames pass through; a text frame is a
 * protocol violation. Stateless, so one instance serves every connection.
 */
@Sharable
final class ProtobufFrameCodec extends MessageToMessageCodec<WebSocketFrame, ClientFrame> {
  static final ProtobufFrameCodec INSTANCE = new ProtobufFrameCodec();

  private ProtobufFrameCodec() {}

  @Override
  protected void encode(ChannelHandlerContext ctx, ClientFrame frame, List<Object> out)
      throws Exception {
    int size = frame.getSerializedSize();
    ByteBuf buf = ctx.alloc().buffer(size);
    try {
      CodedOutputStream output = CodedOutputStream.newInstance(buf.nioBuffer(0, size));
      frame.writeTo(output);
      output.checkNoSpaceLeft();
      buf.writerIndex(size);
      out.add(new BinaryWebSocketFrame(buf));
    } catch (Exception | Error e) {
      buf.release();
      throw e;
    }
  }

  @Override
  protected void decode(ChannelHandlerContext ctx, WebSocketFrame frame, List<Object> out)
      throws Exception {
    if (frame instanceof BinaryWebSocketFrame) {
      ByteBuf content = frame.content();
      ServerFrame decoded =
          content.nioBufferCount() == 1
              ? ServerFrame.parseFrom(content.nioBuffer())
              : ServerFrame.parseFrom(new ByteBufInputStream(content));
      out.add(decoded);
    } else if (frame instanceof CloseWebSocketFrame) {
      out.add(frame.retain());
    } else {
      throw new CorruptedFrameException(
          "expected a binary frame, got " + frame.getClass().getSimpleName());
    }
  }
}
