package io.handoff.client.internal;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler.Sharable;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.util.AttributeKey;
import java.nio.charset.StandardCharsets;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Keeps the server's reason when it refuses the WebSocket upgrade: Netty's handshake exception
 * carries the status but not the body, and the body says why ({@code {"error":"unauthorized",
 * "message":"bad token signature"}}). Sits between the HTTP aggregator and the WebSocket protocol
 * handler, reads the {@code message} of a non-101 response into {@link #REASON} and passes the
 * response on untouched; removes itself once the upgrade succeeds. Stateless and shared. Public for
 * the load tester's lean connection, which sets up the same upgrade.
 */
@Sharable
public final class UpgradeRefusal extends ChannelInboundHandlerAdapter {
  public static final UpgradeRefusal INSTANCE = new UpgradeRefusal();
  static final AttributeKey<String> REASON = AttributeKey.valueOf("handoff.upgradeRefusal");
  private static final int MAX_REASON_CHARS = 300;
  private static final Pattern MESSAGE =
      Pattern.compile("\"message\"\\s*:\\s*\"((?:[^\"\\\\]|\\\\.)*)\"");

  private UpgradeRefusal() {}

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (msg instanceof FullHttpResponse res
        && res.status().equals(HttpResponseStatus.SWITCHING_PROTOCOLS)) {
      ctx.pipeline().remove(this); // Upgraded: frames need not pass through here.
    } else if (msg instanceof FullHttpResponse res) {
      String body =
          res.content()
              .toString(
                  res.content().readerIndex(),
                  Math.min(res.content().readableBytes(), 4096),
                  StandardCharsets.UTF_8);
      Matcher m = MESSAGE.matcher(body);
      String reason = m.find() ? m.group(1).replace("\\\"", "\"") : body.strip();
      if (!reason.isEmpty()) {
        ctx.channel()
            .attr(REASON)
            .set(
                reason.length() > MAX_REASON_CHARS
                    ? reason.substring(0, MAX_REASON_CHARS)
                    : reason);
      }
    }
    ctx.fireChannelRead(msg);
  }

  /** The refusal's reason on {@code channel}, or null. */
  public static String reason(Channel channel) {
    return channel.attr(REASON).get();
  }
}
