package io.handoff.client.internal;

import io.handoff.protocol.CloseCode;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOption;
import io.netty.handler.codec.DecoderException;

/**
 * The close code and reason a client connection reports for a failure on its channel, and the cut
 * that ends a connection as a network failure would. Shared by {@link ConnectionHandler} and the
 * load tester's lean connection, so both report the same codes. Stateless.
 *
 * @param code a WebSocket or Handoff close code
 * @param reason for people
 */
public record ClosedBy(int code, String reason) {
  /** Close code of a connection that ended without a close frame. */
  public static final int ABNORMAL_CLOSURE = 1006;

  /**
   * What a failure on a connection means: an upgrade refused with 401 or 403 is {@link
   * CloseCode#UNAUTHORIZED} (with the server's reason, read by {@link Handshake}), any other failed
   * upgrade 1006, undecodable data {@link CloseCode#PROTOCOL_ERROR}, anything else 1006.
   */
  public static ClosedBy failure(Throwable t) {
    if (t instanceof UpgradeFailedException failed) {
      boolean denied = failed.status() == 401 || failed.status() == 403;
      return new ClosedBy(
          denied ? CloseCode.UNAUTHORIZED.code() : ABNORMAL_CLOSURE,
          failed.getMessage() + (failed.reason() == null ? "" : ": " + failed.reason()));
    } else if (t instanceof DecoderException) {
      return new ClosedBy(
          CloseCode.PROTOCOL_ERROR.code(), "undecodable data from server: " + t.getMessage());
    }
    return new ClosedBy(ABNORMAL_CLOSURE, t.toString());
  }

  /**
   * Drops {@code channel} with a TCP reset and no close frame (closed from the head of the
   * pipeline: the connection's handler would otherwise send one). Call on its event loop.
   */
  public static void cut(Channel channel) {
    if (channel.isActive()) {
      channel.config().setOption(ChannelOption.SO_LINGER, 0);
    }
    ChannelHandlerContext first = channel.pipeline().firstContext();
    if (first != null) {
      first.close();
    } else {
      channel.close();
    }
  }
}
