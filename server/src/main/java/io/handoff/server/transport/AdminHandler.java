package io.handoff.server.transport;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandler.Sharable;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.handler.timeout.ReadTimeoutHandler;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.function.Supplier;

/**
 * The management listener ({@code --admin-host}/{@code --admin-port}): {@code /metrics}, {@code
 * /healthz} and {@code /readyz} on a port of their own, so an operator can keep them off the public
 * port (scrape and probe on a private network, or firewall them). Plain HTTP/1.1, no WebSocket, no
 * authentication, requests of at most 8 KiB, idle connections cut after 60 s. Stateless and shared;
 * runs on the node's event loops.
 */
@Sharable
public final class AdminHandler extends SimpleChannelInboundHandler<FullHttpRequest> {
  private static final int MAX_REQUEST_BYTES = 8 * 1024;
  private static final int IDLE_SECONDS = 60;

  private final Readiness readiness;
  private final Supplier<String> metrics;

  AdminHandler(Readiness readiness, Supplier<String> metrics) {
    this.readiness = readiness;
    this.metrics = metrics;
  }

  /**
   * Binds the management listener on {@code host:port} (0 picks a free port) with the node's event
   * loops, and returns its channel; closing the channel stops it.
   *
   * @throws InterruptedException while binding
   */
  public static Channel bind(
      EventLoopGroup boss,
      EventLoopGroup workers,
      Class<? extends ServerChannel> channelType,
      String host,
      int port,
      Readiness readiness,
      Supplier<String> metrics)
      throws InterruptedException {
    AdminHandler handler = new AdminHandler(readiness, metrics);
    return new ServerBootstrap()
        .group(boss, workers)
        .channel(channelType)
        .childHandler(
            new ChannelInitializer<SocketChannel>() {
              @Override
              protected void initChannel(SocketChannel ch) {
                ch.pipeline()
                    .addLast(new ReadTimeoutHandler(IDLE_SECONDS))
                    .addLast(new HttpServerCodec(4096, MAX_REQUEST_BYTES, 8192))
                    .addLast(new HttpObjectAggregator(MAX_REQUEST_BYTES))
                    .addLast(handler);
              }
            })
        .bind(new InetSocketAddress(host, port))
        .sync()
        .channel();
  }

  @Override
  protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
    if (!req.decoderResult().isSuccess()) {
      // The codec reads nothing more on this connection (it cannot tell where the next request
      // starts): closed after the answer, or a keep-alive client would wait there for ever.
      FullHttpResponse res =
          new DefaultFullHttpResponse(
              HttpVersion.HTTP_1_1,
              HttpResponseStatus.BAD_REQUEST,
              Unpooled.copiedBuffer(
                  HttpRequestHandler.malformed(req.decoderResult()) + "\n",
                  StandardCharsets.UTF_8));
      res.headers().set(HttpHeaderNames.CONTENT_TYPE, "text/plain; charset=utf-8");
      res.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
      HttpUtil.setContentLength(res, res.content().readableBytes());
      ctx.writeAndFlush(res).addListener(ChannelFutureListener.CLOSE);
      return;
    }
    String path;
    try {
      path = new QueryStringDecoder(req.uri()).path();
    } catch (IllegalArgumentException e) {
      // The client's mistake: answered like the public port's, and no warning.
      send(
          ctx,
          req,
          HttpResponseStatus.BAD_REQUEST,
          "application/json",
          HttpRequestHandler.errorJson(
              "invalid_request", HttpRequestHandler.malformedEscape("URL", e)));
      return;
    }
    if (HttpRequestHandler.PROBE_PATHS.contains(path)
        && !HttpMethod.GET.equals(req.method())
        && !HttpMethod.HEAD.equals(req.method())) {
      FullHttpResponse res =
          new DefaultFullHttpResponse(
              HttpVersion.HTTP_1_1,
              HttpResponseStatus.METHOD_NOT_ALLOWED,
              Unpooled.copiedBuffer(
                  path + " takes GET (or HEAD), not " + req.method() + "\n",
                  StandardCharsets.UTF_8));
      res.headers().set(HttpHeaderNames.CONTENT_TYPE, "text/plain; charset=utf-8");
      res.headers().set(HttpHeaderNames.ALLOW, "GET, HEAD");
      res.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
      HttpUtil.setContentLength(res, res.content().readableBytes());
      ctx.writeAndFlush(res).addListener(ChannelFutureListener.CLOSE);
      return;
    }
    switch (path) {
      case "/metrics" ->
          send(
              ctx,
              req,
              HttpResponseStatus.OK,
              "text/plain; version=0.0.4; charset=utf-8",
              metrics.get());
      case "/healthz" -> send(ctx, req, HttpResponseStatus.OK, "text/plain", "ok\n");
      case "/readyz" -> readyz(ctx, req, readiness);
      default ->
          send(
              ctx,
              req,
              HttpResponseStatus.NOT_FOUND,
              "text/plain",
              "no such path: " + path + " (this port serves /metrics, /healthz, /readyz)\n");
    }
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    ctx.close();
  }

  /** 200 {@code ready}, or 503 {@code not ready: <reason>}: shared with the public port. */
  static void readyz(ChannelHandlerContext ctx, FullHttpRequest req, Readiness readiness) {
    String problem = readiness.problem();
    if (problem == null) {
      send(ctx, req, HttpResponseStatus.OK, "text/plain", "ready\n");
    } else {
      send(
          ctx,
          req,
          HttpResponseStatus.SERVICE_UNAVAILABLE,
          "text/plain",
          "not ready: " + problem + "\n");
    }
  }

  private static void send(
      ChannelHandlerContext ctx,
      FullHttpRequest req,
      HttpResponseStatus status,
      String contentType,
      String body) {
    FullHttpResponse res =
        new DefaultFullHttpResponse(
            HttpVersion.HTTP_1_1, status, Unpooled.copiedBuffer(body, StandardCharsets.UTF_8));
    res.headers()
        .set(
            HttpHeaderNames.CONTENT_TYPE,
            contentType.contains("charset") ? contentType : contentType + "; charset=utf-8");
    HttpUtil.setContentLength(res, res.content().readableBytes());
    if (HttpUtil.isKeepAlive(req)) {
      res.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.KEEP_ALIVE);
      ctx.writeAndFlush(res);
    } else {
      ctx.writeAndFlush(res).addListener(ChannelFutureListener.CLOSE);
    }
  }
}
