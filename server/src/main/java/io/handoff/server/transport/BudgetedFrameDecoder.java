package io.handoff.server.transport;

import io.handoff.protocol.CloseCode;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.websocketx.WebSocket13FrameDecoder;
import io.netty.handler.codec.http.websocketx.WebSocketDecoderConfig;
import java.util.List;

/**
 * Netty's WebSocket frame decoder, on a connection with permessage-deflate, with the bytes of a
 * frame still arriving (held whole until it can be inflated) counted against the node's {@link
 * InboundBudget}, as {@link WireCodec} counts a plain connection's. Takes the place of the decoder
 * Netty's handshaker installs, once the upgrade is done. Past the budget, what it holds is dropped
 * with the rest of the input and the connection is told with UNAVAILABLE (a {@link
 * ProtocolViolation} the connection handler turns into its close). Event loop only.
 */
final class BudgetedFrameDecoder extends WebSocket13FrameDecoder {
  private final InboundBudget budget;
  // What this handler counts against the budget now.
  private long counted;
  private boolean over;

  BudgetedFrameDecoder(WebSocketDecoderConfig config, InboundBudget budget) {
    super(config);
    this.budget = budget;
  }

  @Override
  protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) throws Exception {
    if (over) {
      in.skipBytes(in.readableBytes());
      return;
    }
    super.decode(ctx, in, out);
    if (!account(InboundBudget.counted(in))) {
      over = true;
      in.skipBytes(in.readableBytes()); // Not readable: released once this read is decoded.
      account(0);
      throw new ProtocolViolation(
          CloseCode.UNAVAILABLE,
          "this node holds too much of large messages still arriving; reconnect and send it again");
    }
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) throws Exception {
    try {
      super.channelRead(ctx, msg);
    } finally {
      account(InboundBudget.counted(internalBuffer()));
    }
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) throws Exception {
    try {
      super.channelInactive(ctx);
    } finally {
      account(InboundBudget.counted(internalBuffer()));
    }
  }

  @Override
  protected void handlerRemoved0(ChannelHandlerContext ctx) throws Exception {
    account(0);
    super.handlerRemoved0(ctx);
  }

  /** Counts {@code now} bytes; false when bytes were added and the node is past its budget. */
  private boolean account(long now) {
    long delta = now - counted;
    counted = now;
    return delta == 0 || budget.add(delta);
  }
}
