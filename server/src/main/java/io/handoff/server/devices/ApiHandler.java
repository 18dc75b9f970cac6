package io.handoff.server.devices;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.handoff.server.ServerConfig;
import io.handoff.server.ServerStats;
import io.handoff.server.auth.AuthException;
import io.handoff.server.auth.Principal;
import io.handoff.server.auth.TokenVerifier;
import io.handoff.server.devices.SessionStore.DeviceSession;
import io.handoff.server.transport.CallerRateLimiter;
import io.handoff.server.transport.HttpRequestHandler;
import io.handoff.server.transport.HttpService;
import io.handoff.server.util.AddressGroups;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
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
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The device-session HTTP API under {@code /v1/}, and the node's public keys at {@code
 * /.well-known/jwks.json}. JSON in and out; errors are {@code {"error": ..., "message": ...}} with
 * a 4xx status. See docs/security.md for every route. Everything a request needs is read on the
 * event loop before the work goes to the store; the answer is written from whichever thread
 * completes it (Netty hands the write to the event loop).
 *
 * <p>Every request under {@code /v1/} takes a token of its caller's bucket first ({@link
 * ServerConfig#apiRequestRatePerSecond()}), before any store call: the caller is the user of the
 * access token on the routes that take one (whichever devices and addresses it comes from), and the
 * address's group on the others, and for a request whose token is refused (there is no user to
 * charge). When the caller's bucket is empty the request is answered 429 {@code rate_limited} with
 * {@code Retry-After}, and nothing else is done. Shared by every connection; the buckets are
 * thread-safe.
 */
public final class ApiHandler implements HttpService {
  static final String JWKS_PATH = "/.well-known/jwks.json";
  private static final Logger log = LoggerFactory.getLogger(ApiHandler.class);

  private final DeviceSessions sessions;
  private final TokenVerifier verifier;
  private final ServerStats stats;
  private final Clock clock;
  private final ServerConfig config;
  private final CallerRateLimiter callers;

  /** {@code nanoTime} is the time the callers' buckets fill on. */
  public ApiHandler(
      DeviceSessions sessions,
      TokenVerifier verifier,
      ServerStats stats,
      Clock clock,
      ServerConfig config,
      LongSupplier nanoTime) {
    this.sessions = sessions;
    this.verifier = verifier;
    this.stats = stats;
    this.clock = clock;
    this.config = config;
    this.callers =
        new CallerRateLimiter(
            config.apiRequestRatePerSecond(),
            config.apiRequestBurst(),
            CallerRateLimiter.MAX_TRACKED,
            nanoTime);
  }

  @Override
  public boolean handles(String path) {
    return path.startsWith("/v1/") || path.equals(JWKS_PATH);
  }

  /** Answers {@code req}; does not keep or release it. Event loop. */
  @Override
  public void handle(ChannelHandlerContext ctx, FullHttpRequest req, String path) {
    boolean keepAlive = HttpUtil.isKeepAlive(req);
    HttpMethod m = req.method();
    // One request at a time per connection, so answers cannot overtake each other.
    ctx.channel().config().setAutoRead(false);
    CompletableFuture<Reply> reply;
    String address = address(ctx);
    try {
      reply = route(req, path, m, address, admit(req, path, address));
    } catch (ApiException e) {
      reply = CompletableFuture.failedFuture(e);
    }
    reply.whenComplete(
        (r, err) -> {
          if (err != null) {
            Throwable cause =
                err instanceof CompletionException && err.getCause() != null ? err.getCause() : err;
            if (cause instanceof ApiException a) {
              r =
                  new Reply(
                      a.status(),
                      ApiJson.error(a.error(), a.getMessage()),
                      a.retryAfterSeconds(),
                      a.allow());
            } else {
              log.warn("{} {} failed: {}", m, path, cause.toString());
              r = Reply.error(503, "unavailable", "the store is unavailable; try again later", 0);
            }
          }
          send(ctx, keepAlive, r);
        });
  }

  /**
   * Charges the request to its caller (see the class comment) and returns the principal of its
   * access token on a route that takes one (else null); throws the 401 of a refused token or the
   * 429 of a caller out of tokens.
   */
  private Principal admit(FullHttpRequest req, String path, String address) {
    if (!path.startsWith("/v1/")) {
      return null;
    }
    if (!authenticated(path)) {
      limit(address, null);
      return null;
    }
    Principal p;
    try {
      p = authenticate(req);
    } catch (ApiException refused) {
      limit(address, null);
      throw refused;
    }
    limit(address, p);
    return p;
  }

  /** The routes that act for the user of an access token. */
  private boolean authenticated(String path) {
    return path.equals("/v1/devices")
        || path.startsWith("/v1/devices/")
        || path.equals("/v1/me")
        || (sessions.approvals() != null && ApprovalRoutes.authenticated(path));
  }

  /** Takes a token of {@code user}'s bucket, or of {@code address}'s group's when null. */
  private void limit(String address, Principal user) {
    long waitMillis =
        callers.acquire(user != null ? "u:" + user.userId() : "a:" + AddressGroups.of(address));
    if (waitMillis == 0) {
      return;
    }
    (user != null ? stats.apiRequestsRefusedForUser : stats.apiRequestsRefusedForAddress)
        .increment();
    double rate = config.apiRequestRatePerSecond();
    throw new ApiException(
        429,
        "rate_limited",
        "more than "
            + ServerConfig.rate(rate)
            + " requests a second (bursts of "
            + config.apiRequestBurst()
            + ") "
            + (user != null
                ? "for this user, from all of its devices together"
                : "from this network address")
            + "; retry in "
            + waitMillis
            + " ms",
        (waitMillis + 999) / 1000);
  }

  private CompletableFuture<Reply> route(
      FullHttpRequest req, String path, HttpMethod m, String address, Principal caller) {
    if (ApprovalRoutes.handles(path) && sessions.approvals() != null) {
      return new ApprovalRoutes(sessions.approvals()).route(req, path, m, address, caller);
    }
    if (path.equals(JWKS_PATH)) {
      requireMethod(m, HttpMethod.GET);
      return done(new Reply(200, sessions.accessTokens().keys().publicJwks(clock.millis())));
    }
    switch (path) {
      case "/v1/sessions" -> {
        requireMethod(m, HttpMethod.POST);
        Map<String, String> body = jsonBody(req);
        if (sessions.approvals() != null) {
          return ApprovalRoutes.signIn(sessions.approvals(), body, address, clock);
        }
        return sessions
            .signIn(
                required(body, "identity_token"),
                required(body, "device_id"),
                body.get("device_name"),
                body.get("platform"))
            .thenApply(t -> new Reply(201, tokens(t, clock.millis())));
      }
      case "/v1/token" -> {
        requireMethod(m, HttpMethod.POST);
        Map<String, String> body = formOrJsonBody(req);
        // Missing, it is a missing parameter (RFC 6749 section 5.2), not a grant of no type.
        String grant = required(body, "grant_type");
        if (ApprovalRoutes.DEVICE_CODE_GRANT.equals(grant) && sessions.approvals() != null) {
          return sessions
              .approvals()
              .poll(required(body, "device_code"))
              .thenApply(t -> new Reply(200, tokens(t, clock.millis())));
        }
        if (!"refresh_token".equals(grant)) {
          throw new ApiException(
              400,
              "unsupported_grant_type",
              sessions.approvals() != null
                  ? "grant_type must be refresh_token or "
                      + ApprovalRoutes.DEVICE_CODE_GRANT
                      + ", got "
                      + grant
                  : "grant_type must be refresh_token (device-code sign-in is not enabled on"
                      + " this node), got "
                      + grant);
        }
        return sessions
            .refresh(required(body, "refresh_token"))
            .thenApply(t -> new Reply(200, tokens(t, clock.millis())));
      }
      case "/v1/devices" -> {
        Principal p = caller;
        requireMethod(m, HttpMethod.GET, HttpMethod.DELETE);
        if (m.equals(HttpMethod.GET)) {
          return checked(p)
              .thenCompose(v -> sessions.list(p))
              .thenApply(d -> new Reply(200, devices(d)));
        }
        return checked(p)
            .thenCompose(v -> sessions.revoke(p, null, true))
            .thenApply(r -> new Reply(200, revoked(r)));
      }
      case "/v1/me" -> {
        requireMethod(m, HttpMethod.DELETE);
        Principal p = caller;
        return checked(p)
            .thenCompose(v -> sessions.erase(p))
            .thenApply(v -> new Reply(200, "{\"erased\":true}"));
      }
      default -> {
        if (path.startsWith("/v1/devices/")) {
          requireMethod(m, HttpMethod.DELETE);
          Principal p = caller;
          // The path is decoded already (by the HTTP handler): decoding again would make "a+b"
          // (sent as a%2Bb) "a b", and "50%off" (sent as 50%25off) a malformed escape.
          String device = path.substring("/v1/devices/".length());
          return checked(p)
              .thenCompose(v -> sessions.revoke(p, device, false))
              .thenApply(
                  r -> {
                    if (r.isEmpty()) {
                      throw new ApiException(
                          404, "unknown_device", "no device session for device " + device);
                    }
                    return new Reply(200, revoked(r));
                  });
        }
        throw new ApiException(404, "not_found", "no such path: " + path);
      }
    }
  }

  private Principal authenticate(FullHttpRequest req) {
    String token = HttpRequestHandler.bearer(req.headers().get(HttpHeaderNames.AUTHORIZATION));
    try {
      return verifier.verify(token);
    } catch (AuthException e) {
      stats.authFailures.increment();
      throw new ApiException(401, "invalid_token", e.getMessage());
    }
  }

  CompletableFuture<Void> checked(Principal p) {
    return sessions
        .check(p)
        .thenApply(
            problem -> {
              if (problem != null) {
                stats.authFailures.increment();
                throw new ApiException(401, "invalid_token", problem);
              }
              return null;
            });
  }

  /** Throws the 405 of a path that takes only {@code allowed} unless {@code m} is one of them. */
  static void requireMethod(HttpMethod m, HttpMethod... allowed) {
    String[] names = new String[allowed.length];
    for (int i = 0; i < allowed.length; i++) {
      if (m.equals(allowed[i])) {
        return;
      }
      names[i] = allowed[i].name();
    }
    throw ApiException.methodNotAllowed(m.name(), names);
  }

  static Map<String, String> jsonBody(FullHttpRequest req) {
    try {
      return ApiJson.parseFlatObject(ByteBufUtil.getBytes(req.content()));
    } catch (ApiJson.BadJson e) {
      String type = req.headers().get(HttpHeaderNames.CONTENT_TYPE, "");
      int semicolon = type.indexOf(';');
      String media = (semicolon < 0 ? type : type.substring(0, semicolon)).trim();
      String sent =
          media.isEmpty() || media.equalsIgnoreCase("application/json")
              ? ""
              : " (Content-Type: application/json; this one was sent as " + media + ")";
      throw new ApiException(
          400,
          "invalid_request",
          "the body must be a flat JSON object" + sent + ": " + e.getMessage());
    }
  }

  static Map<String, String> formOrJsonBody(FullHttpRequest req) {
    String type = req.headers().get(HttpHeaderNames.CONTENT_TYPE, "");
    if (type.startsWith("application/x-www-form-urlencoded")) {
      QueryStringDecoder q =
          new QueryStringDecoder(req.content().toString(StandardCharsets.UTF_8), false);
      Map<String, String> out = new HashMap<>();
      try {
        q.parameters().forEach((k, v) -> out.put(k, v.isEmpty() ? null : v.get(0)));
      } catch (IllegalArgumentException e) {
        throw new ApiException(
            400, "invalid_request", HttpRequestHandler.malformedEscape("form body", e));
      }
      return out;
    }
    return jsonBody(req);
  }

  static String required(Map<String, String> body, String name) {
    String v = body.get(name);
    if (v == null || v.isEmpty()) {
      throw new ApiException(400, "invalid_request", name + " is required");
    }
    return v;
  }

  /** A token answer; {@code expires_in} counted from {@code now} on the node's clock. */
  static String tokens(DeviceSessions.Tokens t, long now) {
    long expiresIn = Math.max(0, (t.accessExpiresAtMillis() - now) / 1000);
    return ApiJson.write(
        ApiJson.object()
            .put("access_token", t.accessToken())
            .put("token_type", "Bearer")
            .put("expires_in", expiresIn)
            .put("expires_at_ms", t.accessExpiresAtMillis())
            .put("refresh_token", t.refreshToken())
            .put("session_id", t.sessionId())
            .put("user_id", t.userId())
            .put("device_id", t.deviceId()));
  }

  private static String devices(DeviceSessions.Devices d) {
    ObjectNode body = ApiJson.object();
    ArrayNode list = body.putArray("devices");
    for (DeviceSession s : d.devices()) {
      list.addObject()
          .put("device_id", s.deviceId())
          .put("name", s.name())
          .put("platform", s.platform())
          .put("created_ms", s.createdMillis())
          .put("last_seen_ms", s.lastSeenMillis())
          .put("online", d.online(s))
          .put("current", s.deviceId().equals(d.currentDeviceId()));
    }
    return ApiJson.write(body);
  }

  private static String revoked(List<String> devices) {
    ObjectNode body = ApiJson.object();
    ArrayNode list = body.putArray("revoked");
    devices.forEach(list::add);
    return ApiJson.write(body);
  }

  static <T> CompletableFuture<T> done(T v) {
    return CompletableFuture.completedFuture(v);
  }

  private static void send(ChannelHandlerContext ctx, boolean keepAlive, Reply r) {
    if (!ctx.executor().inEventLoop()) {
      // On the loop, where a drain looks whether an answer is still to come.
      ctx.executor().execute(() -> send(ctx, keepAlive, r));
      return;
    }
    boolean draining = HttpService.answered(ctx.channel());
    FullHttpResponse res =
        new DefaultFullHttpResponse(
            HttpVersion.HTTP_1_1,
            HttpResponseStatus.valueOf(r.status),
            Unpooled.copiedBuffer(r.body, StandardCharsets.UTF_8));
    res.headers().set(HttpHeaderNames.CONTENT_TYPE, "application/json");
    res.headers().set(HttpHeaderNames.CACHE_CONTROL, "no-store");
    if (r.status == 401) {
      res.headers().set(HttpHeaderNames.WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"");
    }
    if (r.retryAfterSeconds > 0) {
      res.headers().set(HttpHeaderNames.RETRY_AFTER, Long.toString(r.retryAfterSeconds));
    }
    if (r.allow != null) {
      res.headers().set(HttpHeaderNames.ALLOW, r.allow);
    }
    HttpUtil.setContentLength(res, res.content().readableBytes());
    if (keepAlive && r.status < 500 && !draining) {
      res.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.KEEP_ALIVE);
      ctx.writeAndFlush(res).addListener(f -> ctx.channel().config().setAutoRead(true));
    } else {
      res.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
      ctx.writeAndFlush(res).addListener(ChannelFutureListener.CLOSE);
    }
  }

  static String address(ChannelHandlerContext ctx) {
    return ctx.channel().remoteAddress() instanceof java.net.InetSocketAddress a
        ? a.getAddress().getHostAddress()
        : "unknown";
  }

  /**
   * An answer; {@code retryAfterSeconds} above 0 goes out as {@code Retry-After}, {@code allow}
   * (when not null) as {@code Allow}.
   */
  record Reply(int status, String body, long retryAfterSeconds, String allow) {
    Reply(int status, String body) {
      this(status, body, 0, null);
    }

    static Reply error(int status, String error, String message, long retryAfterSeconds) {
      return new Reply(status, ApiJson.error(error, message), retryAfterSeconds, null);
    }
  }
}
