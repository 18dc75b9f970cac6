package io.handoff.server.transport;

import io.handoff.server.Scheduler;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpMessage;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMessage;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.util.ReferenceCountUtil;
import java.nio.charset.StandardCharsets;

/**
 * Netty's aggregator, whose 413 for a body over the limit is the API's JSON error ({@code
 * body_too_large}, naming the limit) instead of an empty answer. When it closes the connection is
 * Netty's choice: a request whose body already came in part, or that keeps no connection alive, is
 * answered and closed; a keep-alive request refused before its body came (a Content-Length over the
 * limit, or {@code Expect: 100-continue}) leaves the connection open, and the body is skipped. A
 * connection it closes is not closed at once, with the device perhaps still sending its body (a
 * reset that could lose the 413): it lingers ({@link LingeringClose}), bounded in bytes and time.
 */
final class BodyLimitAggregator extends HttpObjectAggregator {
  private final int maxBytes;
  private final Scheduler time;

  BodyLimitAggregator(int maxBytes, Scheduler time) {
    super(maxBytes);
    this.maxBytes = maxBytes;
    this.time = time;
  }

  private FullHttpResponse tooLarge(boolean close) {
    FullHttpResponse res =
        new DefaultFullHttpResponse(
            HttpVersion.HTTP_1_1,
            HttpResponseStatus.REQUEST_ENTITY_TOO_LARGE,
            Unpooled.copiedBuffer(
                HttpRequestHandler.errorJson(
                    "body_too_large",
                    "the request body is over the limit of "
                        + maxBytes
                        + " bytes; the API takes small JSON or form bodies"),
                StandardCharsets.UTF_8));
    res.headers().set(HttpHeaderNames.CONTENT_TYPE, "application/json");
    res.headers().set(HttpHeaderNames.CACHE_CONTROL, "no-store");
    if (close) {
      res.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
    }
    HttpUtil.setContentLength(res, res.content().readableBytes());
    return res;
  }

  @Override
  protected Object newContinueResponse(HttpMessage start, int maxLength, ChannelPipeline p) {
    Object res = super.newContinueResponse(start, maxLength, p);
    if (res instanceof FullHttpResponse r
        && r.status().code() == HttpResponseStatus.REQUEST_ENTITY_TOO_LARGE.code()) {
      boolean close = !HttpUtil.isKeepAlive(r);
      ReferenceCountUtil.release(r);
      return tooLarge(close);
    }
    return res;
  }

  @Override
  protected void handleOversizedMessage(ChannelHandlerContext ctx, HttpMessage oversized)
      throws Exception {
    if (!(oversized instanceof HttpRequest)) {
      super.handleOversizedMessage(ctx, oversized);
      return;
    }
    // As Netty decides: close when part of the body came already (or reading is off), or when the
    // request keeps no connection alive and waits for no 100 Continue.
    if (oversized instanceof FullHttpMessage
        || !ctx.channel().config().isAutoRead()
        || !HttpUtil.is100ContinueExpected(oversized) && !HttpUtil.isKeepAlive(oversized)) {
      ctx.writeAndFlush(tooLarge(true))
          .addListener(
              f -> {
                if (f.isSuccess()) {
                  LingeringClose.start(ctx.channel(), time);
                } else {
                  ctx.channel().close();
                }
              });
    } else {
      ctx.writeAndFlush(tooLarge(false)).addListener(ChannelFutureListener.CLOSE_ON_FAILURE);
    }
  }
}
