package io.handoff.server.transport;

import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandler.Sharable;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.websocketx.CloseWebSocketFrame;
import io.netty.handler.codec.http.websocketx.PingWebSocketFrame;
import io.netty.handler.codec.http.websocketx.PongWebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocketServerHandshaker;
import io.netty.util.AttributeKey;

/**
 * WebSocket control frames once the upgrade is done, in place of {@code
 * WebSocketServerProtocolHandler}, which with its handshaker would otherwise stay in every pipeline
 * for the connection's life. Answers pings with pongs, drops pongs (a read already counts as the
 * device alive), and answers a close frame with one and closes. Stateless and shared.
 */
@Sharable
public final class ControlFrameHandler extends ChannelInboundHandlerAdapter {
  static final ControlFrameHandler INSTANCE = new ControlFrameHandler();

  /** Where {@code WebSocketServerProtocolHandler} keeps the connection's handshaker. */
  static final AttributeKey<WebSocketServerHandshaker> HANDSHAKER =
      AttributeKey.valueOf(WebSocketServerHandshaker.class, "HANDSHAKER");

  private ControlFrameHandler() {}

  /** Swaps the protocol handler named {@code name} for this one. Event loop. */
  static void install(ChannelHandlerContext ctx, String name) {
    if (ctx.pipeline().get(name) != null) {
      ctx.pipeline().replace(name, name, INSTANCE);
    }
    // Removed, not set to null: an attribute left in the map costs every connection 48 bytes.
    ctx.channel().attr(HANDSHAKER).getAndRemove();
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (msg instanceof PingWebSocketFrame ping) {
      ctx.writeAndFlush(new PongWebSocketFrame(ping.content()));
    } else if (msg instanceof PongWebSocketFrame pong) {
      pong.release();
    } else if (msg instanceof CloseWebSocketFrame close) {
      // Echo the device's close (RFC 6455 5.5.1); if ours went first, the echo fails harmlessly.
      ctx.writeAndFlush(close).addListener(ChannelFutureListener.CLOSE);
    } else {
      ctx.fireChannelRead(msg);
    }
  }
}
