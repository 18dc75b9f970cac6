package io.handoff.server.transport;

import io.handoff.server.ServerStats;
import io.handoff.server.auth.AuthException;
import io.handoff.server.auth.Principal;
import io.handoff.server.auth.TokenVerifier;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandler.Sharable;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.DecoderResult;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import io.netty.handler.codec.http.TooLongHttpLineException;
import io.netty.handler.flow.FlowControlHandler;
import io.netty.util.AttributeKey;
import io.netty.util.ReferenceCountUtil;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.function.Function;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Plain HTTP on the WebSocket port: {@code /healthz}, {@code /readyz}, the device-session API (an
 * {@link HttpService}), and authentication of the {@code /ws} upgrade (a server-issued token's
 * device session must also be alive: checked in the store without blocking). A request to {@code
 * /ws} with a valid token (Authorization: Bearer, or an {@code access_token} query parameter for
 * browsers) is passed on to the WebSocket handshake with its {@link Principal} in {@link
 * #PRINCIPAL}; a bad token gets 401 and the connection closes. Stateless and shared; the session
 * handler removes it once the handshake completes.
 */
@Sharable
public final class HttpRequestHandler extends ChannelInboundHandlerAdapter {
  /** The authenticated principal of an upgraded connection. */
  public static final AttributeKey<Principal> PRINCIPAL = AttributeKey.valueOf("handoff.principal");

  // The request of an upgrade waiting for the store's word on its device session, taken (and
  // released, unless upgraded) by whichever comes first: that word, the node's drain (which answers
  // the upgrade 503), or the connection's end.
  private static final AttributeKey<FullHttpRequest> CHECKING =
      AttributeKey.valueOf("handoff.http.upgradeChecking");

  static final String WS_PATH = "/ws";
  private static final Logger log = LoggerFactory.getLogger(HttpRequestHandler.class);

  private final TokenVerifier verifier;
  private final Readiness ready;
  private final ServerStats stats;
  private final Supplier<String> metrics;

  /** The probes and the scrape: read-only, so GET and HEAD only (405 otherwise). */
  static final java.util.Set<String> PROBE_PATHS =
      java.util.Set.of("/healthz", "/readyz", "/metrics");

  private final CallerRateLimiter connectLimiter;
  private final HttpService api;
  private final Function<Principal, CompletableFuture<String>> sessionCheck;
  private final Upgrades upgrades;
  private final int maxHelloBytes;

  /**
   * {@code sessionCheck} completes with null when a verified principal may connect, or with the
   * reason it may not (its device session was revoked); {@code api} serves {@code /v1/}; {@code
   * metrics} renders {@code /metrics} (null: served on the admin port only); {@code connectLimiter}
   * bounds upgrades per address; {@code upgrades} does the handshake of an authenticated upgrade;
   * {@code maxHelloBytes} bounds a Hello in the upgrade as every frame is bounded.
   */
  HttpRequestHandler(
      TokenVerifier verifier,
      Readiness ready,
      ServerStats stats,
      Supplier<String> metrics,
      CallerRateLimiter connectLimiter,
      HttpService api,
      Function<Principal, CompletableFuture<String>> sessionCheck,
      Upgrades upgrades,
      int maxHelloBytes) {
    this.maxHelloBytes = maxHelloBytes;
    this.verifier = verifier;
    this.ready = ready;
    this.stats = stats;
    this.metrics = metrics;
    this.connectLimiter = connectLimiter;
    this.api = api;
    this.sessionCheck = sessionCheck;
    this.upgrades = upgrades;
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (!(msg instanceof FullHttpRequest req)) {
      ctx.fireChannelRead(msg);
      return;
    }
    boolean forwarded = false;
    try {
      if (draining(ctx.channel())) {
        answerDraining(ctx);
        return;
      }
      if (!req.decoderResult().isSuccess()) {
        respond(
            ctx,
            req,
            HttpResponseStatus.BAD_REQUEST,
            "bad_request",
            malformed(req.decoderResult()));
        return;
      }
      QueryStringDecoder uri = new QueryStringDecoder(req.uri());
      String path;
      try {
        path = uri.path();
      } catch (IllegalArgumentException e) {
        refuseMalformedEscape(ctx, req, e);
        return;
      }
      if (PROBE_PATHS.contains(path)
          && !HttpMethod.GET.equals(req.method())
          && !HttpMethod.HEAD.equals(req.method())) {
        FullHttpResponse res =
            response(
                HttpResponseStatus.METHOD_NOT_ALLOWED,
                "method_not_allowed",
                path + " takes GET (or HEAD), not " + req.method());
        res.headers().set(HttpHeaderNames.ALLOW, "GET, HEAD");
        send(ctx, req, res);
        return;
      }
      switch (path) {
        case "/healthz" -> respondText(ctx, req, HttpResponseStatus.OK, "ok\n");
        case "/readyz" -> {
          String problem = ready.problem();
          if (problem == null) {
            respondText(ctx, req, HttpResponseStatus.OK, "ready\n");
          } else {
            respondText(
                ctx, req, HttpResponseStatus.SERVICE_UNAVAILABLE, "not ready: " + problem + "\n");
          }
        }
        case "/metrics" -> {
          if (metrics != null) {
            respondMetrics(ctx, req);
          } else {
            respond(
                ctx,
                req,
                HttpResponseStatus.NOT_FOUND,
                "not_found",
                "/metrics is served on the admin port (--admin-port)");
          }
        }
        case WS_PATH -> forwarded = upgrade(ctx, req, uri);
        default -> {
          if (api != null && api.handles(path)) {
            holdPipelinedRequests(ctx);
            ctx.channel().attr(HttpService.Answering.KEY).set(Boolean.TRUE);
            api.handle(ctx, req, path);
            return;
          }
          respond(
              ctx,
              req,
              HttpResponseStatus.NOT_FOUND,
              "not_found",
              "no such path: " + path + " (WebSocket endpoint is " + WS_PATH + ")");
        }
      }
    } finally {
      if (!forwarded) {
        ReferenceCountUtil.release(req);
      }
    }
  }

  /**
   * The node drains ({@link HandoffChannelInitializer#DRAIN}) a connection still in plain HTTP. A
   * service request on it that waits for its answer gets it, which then closes the connection
   * ({@link HttpService#answered}); an upgrade on it that waits for the store's word on its device
   * session is answered 503 at once (the node is draining), so that the device goes to another node
   * within its short backoff instead of taking a dropped connection; an upgrade on its way to its
   * user's loop is answered there ({@link Upgrades}; the connection handler leaves it to the move).
   * Any other connection (idle, or with a request not read yet) is left to the connection handler,
   * which closes it after the close timeout: a request read meanwhile is answered 503 too, not cut
   * off unread.
   */
  @Override
  public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
    if (evt != HandoffChannelInitializer.DRAIN) {
      ctx.fireUserEventTriggered(evt);
      return;
    }
    if (ctx.channel().attr(HttpService.Answering.KEY).get() != null) {
      ctx.channel().attr(HttpService.Answering.DRAINING).set(Boolean.TRUE);
      return;
    }
    FullHttpRequest checking = ctx.channel().attr(CHECKING).getAndSet(null);
    if (checking != null) {
      checking.release();
      answerDraining(ctx);
    } else {
      ctx.fireUserEventTriggered(evt);
    }
  }

  /**
   * Whether the node of {@code ch} has begun to drain: its listener, which accepted {@code ch}, is
   * closed (a drain closes it before it tells its connections). Any thread.
   */
  static boolean draining(Channel ch) {
    Channel listener = ch.parent();
    return listener != null && !listener.isOpen();
  }

  /** Answers 503 (the node is draining) and closes the connection. */
  static void answerDraining(ChannelHandlerContext ctx) {
    FullHttpResponse res =
        response(
            HttpResponseStatus.SERVICE_UNAVAILABLE,
            "unavailable",
            "this node is draining (shutting down); reconnect to another node");
    res.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
    ctx.writeAndFlush(res).addListener(ChannelFutureListener.CLOSE);
  }

  /**
   * Removes this handler from the pipeline {@code p} of an upgraded connection, and then the flow
   * control a service request earlier on the connection put in front of it ({@link
   * #holdPipelinedRequests}): an upgraded connection keeps no HTTP handler. A request still held
   * there goes on to the handlers after it, not to this one.
   */
  static void leave(ChannelPipeline p) {
    if (p.get(HandoffChannelInitializer.HTTP_HANDLER) != null) {
      p.remove(HandoffChannelInitializer.HTTP_HANDLER);
    }
    if (p.get(HandoffChannelInitializer.HTTP_FLOW) != null) {
      p.remove(HandoffChannelInitializer.HTTP_FLOW);
    }
  }

  /**
   * An upgrade's request still held for its session check is released here when the connection
   * ends: the check's answer may come once the event loops stopped (the node drained), when it
   * cannot run.
   */
  @Override
  public void channelInactive(ChannelHandlerContext ctx) throws Exception {
    ReferenceCountUtil.release(ctx.channel().attr(CHECKING).getAndSet(null));
    ctx.fireChannelInactive();
  }

  /**
   * The service answers later and reads nothing more until then (it turns auto-read off), but the
   * HTTP codec may already have decoded more requests from the same read (HTTP/1.1 pipelining):
   * from the connection's first service request on, they wait in a flow-control handler, one let
   * through per read, so answers keep the order of their requests. Bounded by what one read held.
   */
  private static void holdPipelinedRequests(ChannelHandlerContext ctx) {
    if (ctx.pipeline().get(HandoffChannelInitializer.HTTP_FLOW) == null) {
      ctx.pipeline()
          .addBefore(ctx.name(), HandoffChannelInitializer.HTTP_FLOW, new FlowControlHandler());
    }
  }

  private boolean upgrade(ChannelHandlerContext ctx, FullHttpRequest req, QueryStringDecoder uri) {
    if (!HttpMethod.GET.equals(req.method())) {
      FullHttpResponse res =
          response(
              HttpResponseStatus.METHOD_NOT_ALLOWED,
              "method_not_allowed",
              "the WebSocket upgrade takes GET, not " + req.method());
      res.headers().set(HttpHeaderNames.ALLOW, "GET");
      upgrades.refusals.refuse(ctx, req, res);
      return false;
    }
    if (ctx.channel().remoteAddress() instanceof InetSocketAddress remote) {
      long waitMillis = connectLimiter.acquire(remote.getAddress());
      if (waitMillis > 0) {
        stats.connectsRateLimited.increment();
        FullHttpResponse res =
            response(
                HttpResponseStatus.TOO_MANY_REQUESTS,
                "rate_limited",
                "too many connections from this address; retry in " + waitMillis + " ms");
        res.headers()
            .set(
                HttpHeaderNames.RETRY_AFTER, Long.toString(Math.max(1, (waitMillis + 999) / 1000)));
        ctx.writeAndFlush(res).addListener(ChannelFutureListener.CLOSE);
        return false;
      }
    }
    String token = bearer(req.headers().get(HttpHeaderNames.AUTHORIZATION));
    if (token == null) {
      List<String> q;
      try {
        q = uri.parameters().get("access_token");
      } catch (IllegalArgumentException e) {
        upgrades.refusals.count();
        refuseMalformedEscape(ctx, req, e);
        return false;
      }
      token = q == null || q.isEmpty() ? null : q.get(0);
    }
    Principal p;
    try {
      p = verifier.verify(token);
    } catch (AuthException e) {
      refuse(ctx, e.getMessage());
      return false;
    }
    if (upgrades.refusals.refusedAsNoHandshake(ctx, req)) {
      return false;
    }
    try {
      EarlyHello.keep(
          ctx.channel(), req.headers(), EarlyHello.of(req.headers(), uri, maxHelloBytes));
    } catch (EarlyHello.Unusable e) {
      upgrades.refusals.refuse(ctx, req, HttpResponseStatus.BAD_REQUEST, e.error, e.getMessage());
      return false;
    } catch (IllegalArgumentException e) {
      upgrades.refusals.count();
      refuseMalformedEscape(ctx, req, e); // The query's (QueryStringDecoder).
      return false;
    }
    if (!p.hasSession()) {
      ctx.channel().attr(PRINCIPAL).set(p);
      upgrades.upgrade(ctx, req);
      return true;
    }
    // A server-issued token: its device session must still be alive. Ask the store without
    // blocking; the request is held (and released on refusal) until the answer is back.
    ctx.channel().config().setAutoRead(false);
    ctx.channel().attr(CHECKING).set(req);
    sessionCheck
        .apply(p)
        .whenComplete(
            (problem, err) ->
                ctx.executor()
                    .execute(
                        () -> {
                          if (ctx.channel().attr(CHECKING).getAndSet(null) == null) {
                            // The node's drain answered it, or the connection ended: released.
                            return;
                          }
                          if (ctx.isRemoved() || !ctx.channel().isActive()) {
                            // The device left (or the handshake limit closed it) while the store
                            // was asked: nothing to answer, and the pipeline is gone.
                            ReferenceCountUtil.release(req);
                            return;
                          }
                          ctx.channel().config().setAutoRead(true);
                          if (err != null) {
                            ReferenceCountUtil.release(req);
                            Throwable cause = err.getCause() != null ? err.getCause() : err;
                            if (!(err instanceof RejectedExecutionException
                                || cause instanceof RejectedExecutionException)) {
                              log.warn("session check failed: {}", err.toString());
                            } // Else refused unasked (UpgradeChecks): one line each would flood.
                            FullHttpResponse res =
                                response(
                                    HttpResponseStatus.SERVICE_UNAVAILABLE,
                                    "unavailable",
                                    "session store unavailable; retry later");
                            ctx.writeAndFlush(res).addListener(ChannelFutureListener.CLOSE);
                            return;
                          }
                          if (problem != null) {
                            ReferenceCountUtil.release(req);
                            refuse(ctx, problem);
                            return;
                          }
                          ctx.channel().attr(PRINCIPAL).set(p);
                          upgrades.upgrade(ctx, req);
                        }));
    return true;
  }

  private void respondMetrics(ChannelHandlerContext ctx, FullHttpRequest req) {
    FullHttpResponse res =
        new DefaultFullHttpResponse(
            HttpVersion.HTTP_1_1,
            HttpResponseStatus.OK,
            Unpooled.copiedBuffer(metrics.get(), StandardCharsets.UTF_8));
    res.headers().set(HttpHeaderNames.CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
    send(ctx, req, res);
  }

  private void refuse(ChannelHandlerContext ctx, String message) {
    stats.authFailures.increment();
    log.debug("refused upgrade from {}: {}", ctx.channel().remoteAddress(), message);
    FullHttpResponse res = response(HttpResponseStatus.UNAUTHORIZED, "unauthorized", message);
    res.headers().set(HttpHeaderNames.WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"");
    ctx.writeAndFlush(res).addListener(ChannelFutureListener.CLOSE);
  }

  /**
   * The message of the 400 answering a request the HTTP codec could not read: which limit it is
   * over (the request line, the headers), or else what the codec found wrong.
   */
  static String malformed(DecoderResult result) {
    Throwable cause = result.cause();
    if (cause instanceof TooLongHttpLineException) {
      return "the request line is too long: "
          + cause.getMessage()
          + " Send a shorter URL (the access token goes in the Authorization header).";
    }
    if (cause instanceof TooLongHttpHeaderException) {
      return "the request headers are too large: " + cause.getMessage();
    }
    return cause == null || cause.getMessage() == null
        ? "malformed HTTP request"
        : "malformed HTTP request: " + cause.getMessage();
  }

  /**
   * 400 for a URL whose percent-escapes do not decode: the client's mistake, so a debug line and no
   * warning.
   */
  private static void refuseMalformedEscape(
      ChannelHandlerContext ctx, FullHttpRequest req, IllegalArgumentException e) {
    log.debug(
        "malformed percent-escape from {}: {}", ctx.channel().remoteAddress(), e.getMessage());
    respond(ctx, req, HttpResponseStatus.BAD_REQUEST, "invalid_request", malformedEscape("URL", e));
  }

  /**
   * The message of the 400 {@code invalid_request} answering a request whose {@code where} (the
   * URL, a form body) has a percent-escape that does not decode; {@code e} is the decoder's
   * complaint ({@link QueryStringDecoder} throws IllegalArgumentException), which says where.
   */
  public static String malformedEscape(String where, IllegalArgumentException e) {
    return "the "
        + where
        + " has a malformed percent-escape (% must be followed by two hex digits; a literal % is"
        + " sent as %25): "
        + e.getMessage();
  }

  public static String bearer(String header) {
    if (header == null || header.length() < 7 || !header.regionMatches(true, 0, "Bearer ", 0, 7)) {
      return null;
    }
    return header.substring(7).trim();
  }

  private static void respondText(
      ChannelHandlerContext ctx, FullHttpRequest req, HttpResponseStatus status, String body) {
    FullHttpResponse res =
        new DefaultFullHttpResponse(
            HttpVersion.HTTP_1_1, status, Unpooled.copiedBuffer(body, StandardCharsets.UTF_8));
    res.headers().set(HttpHeaderNames.CONTENT_TYPE, "text/plain; charset=utf-8");
    send(ctx, req, res);
  }

  private static void respond(
      ChannelHandlerContext ctx,
      FullHttpRequest req,
      HttpResponseStatus status,
      String error,
      String message) {
    send(ctx, req, response(status, error, message));
  }

  /** An answer with {@code status} and the JSON body of {@link #errorJson}. */
  static FullHttpResponse response(HttpResponseStatus status, String error, String message) {
    FullHttpResponse res =
        new DefaultFullHttpResponse(
            HttpVersion.HTTP_1_1,
            status,
            Unpooled.copiedBuffer(errorJson(error, message), StandardCharsets.UTF_8));
    res.headers().set(HttpHeaderNames.CONTENT_TYPE, "application/json");
    HttpUtil.setContentLength(res, res.content().readableBytes());
    return res;
  }

  static void send(ChannelHandlerContext ctx, FullHttpRequest req, FullHttpResponse res) {
    HttpUtil.setContentLength(res, res.content().readableBytes());
    boolean keepAlive = HttpUtil.isKeepAlive(req) && res.status().code() < 400;
    if (keepAlive) {
      res.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.KEEP_ALIVE);
      ctx.writeAndFlush(res);
    } else {
      res.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
      ctx.writeAndFlush(res).addListener(ChannelFutureListener.CLOSE);
    }
  }

  /** The JSON body of an error answer: {@code {"error": ..., "message": ...}} and a newline. */
  public static String errorJson(String error, String message) {
    return "{\"error\":\"" + error + "\",\"message\":\"" + jsonEscape(message) + "\"}\n";
  }

  public static String jsonEscape(String s) {
    StringBuilder b = new StringBuilder(s.length() + 8);
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> b.append("\\\"");
        case '\\' -> b.append("\\\\");
        default -> {
          if (c < 0x20) {
            b.append(String.format("\\u%04x", (int) c));
          } else {
            b.append(c);
          }
        }
      }
    }
    return b.toString();
  }
}
