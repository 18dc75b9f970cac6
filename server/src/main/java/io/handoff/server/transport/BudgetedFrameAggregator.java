package io.handoff.server.transport;

import io.handoff.protocol.CloseCode;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.websocketx.WebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocketFrameAggregator;
import io.netty.util.ReferenceCountUtil;

/**
 * Netty's frame aggregator, on a connection with permessage-deflate, with the message it is joining
 * counted against the node's {@link InboundBudget} as {@link WireCodec} counts a plain connection's
 * fragments: here the fragments are already inflated, so a few KiB from the device can hold a
 * message of up to {@code maxFrameBytes}. A message that would take the node past its budget is
 * dropped, with every data frame after it, and the connection is told with UNAVAILABLE (a {@link
 * ProtocolViolation} the connection handler turns into its close). Event loop only.
 */
final class BudgetedFrameAggregator extends WebSocketFrameAggregator {
  private final InboundBudget budget;
  // The message being joined; null outside one.
  private WebSocketFrame joining;
  // What this handler counts against the budget now.
  private long counted;
  private boolean over;

  BudgetedFrameAggregator(int maxFrameBytes, InboundBudget budget) {
    super(maxFrameBytes);
    this.budget = budget;
  }

  @Override
  protected WebSocketFrame beginAggregation(WebSocketFrame start, ByteBuf content)
      throws Exception {
    joining = super.beginAggregation(start, content);
    return joining;
  }

  @Override
  protected void finishAggregation(WebSocketFrame aggregated) throws Exception {
    joining = null;
    super.finishAggregation(aggregated);
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) throws Exception {
    if (over) {
      ReferenceCountUtil.release(msg);
      return;
    }
    try {
      super.channelRead(ctx, msg);
    } finally {
      if (!account()) {
        over = true;
        releaseCurrentMessage();
        account();
        ctx.fireExceptionCaught(
            new ProtocolViolation(
                CloseCode.UNAVAILABLE,
                "this node holds too much of large messages still arriving;"
                    + " reconnect and send it again"));
      }
    }
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) throws Exception {
    try {
      super.channelInactive(ctx);
    } finally {
      account();
    }
  }

  @Override
  public void handlerRemoved(ChannelHandlerContext ctx) throws Exception {
    try {
      super.handlerRemoved(ctx);
    } finally {
      account();
    }
  }

  /**
   * Brings the budget up to date with the message being joined (none once the aggregator has
   * released it: a broken message, the connection closed). False when bytes were added and the node
   * now holds more than its budget.
   */
  private boolean account() {
    if (joining != null && joining.refCnt() == 0) {
      joining = null;
    }
    long now = joining == null ? 0 : InboundBudget.counted(joining.content());
    long delta = now - counted;
    counted = now;
    return delta == 0 || budget.add(delta);
  }
}
