package io.handoff.server.demo;

import io.handoff.server.ServerConfig;
import io.handoff.server.auth.DevTokens;
import io.handoff.server.transport.HttpRequestHandler;
import io.handoff.server.transport.HttpService;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.QueryStringDecoder;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Serves the demo under {@code /demo/}: its static files from the {@code client-js} folder of a
 * checkout ({@code demo/*} and the built browser bundle {@code dist/handoff-client.min.js}), and
 * {@code GET /demo/token?device=ID[&user=NAME]}, which mints a development token (HS256, {@code
 * sub} user, default {@code demo}, {@code did} the device) valid for {@link #TOKEN_TTL}.
 *
 * <p>Exists only with the development secret: {@link #forConfig} returns null otherwise, so a node
 * with a real key or secret has no demo and mints nothing. Files are read from disk per request
 * (the demo is for development; nothing is cached). Stateless; safe on any event loop.
 */
public final class DemoSite implements HttpService {
  /** Lifetime of a demo token; the page fetches a new one when the server says it expires soon. */
  public static final Duration TOKEN_TTL = Duration.ofMinutes(15);

  /** Where the {@code client-js} folder is, when not {@code ./client-js}. */
  public static final String DIR_PROPERTY = "handoff.demo.dir";

  static final String PREFIX = "/demo";
  private static final Pattern FILE = Pattern.compile("[a-z0-9][a-z0-9-]*\\.(html|js|css|svg)");
  private static final Pattern NAME = Pattern.compile("[A-Za-z0-9._-]{1,64}");
  private static final Map<String, String> TYPES =
      Map.of(
          "html", "text/html; charset=utf-8",
          "js", "text/javascript; charset=utf-8",
          "css", "text/css; charset=utf-8",
          "svg", "image/svg+xml");
  private static final Logger log = LoggerFactory.getLogger(DemoSite.class);

  private final String secret;
  private final Path clientDir;

  DemoSite(String secret, Path clientDir) {
    this.secret = secret;
    this.clientDir = clientDir;
  }

  /**
   * The demo for a node, or null when the node has a real secret, signing key or identity provider
   * configured.
   */
  public static DemoSite forConfig(ServerConfig config) {
    if (!config.developmentOnly()) {
      return null;
    }
    String dir = System.getProperty(DIR_PROPERTY);
    Path clientDir = Path.of(dir == null ? "client-js" : dir).toAbsolutePath().normalize();
    log.info("demo at /demo/ (development secret only), files from {}", clientDir);
    return new DemoSite(config.jwtSecret(), clientDir);
  }

  /**
   * {@code api} with the demo in front of it when the node runs with the development secret; {@code
   * api} itself (which may be null) otherwise.
   */
  public static HttpService withDemo(ServerConfig config, HttpService api) {
    DemoSite demo = forConfig(config);
    if (demo == null) {
      return withoutDemo(api);
    }
    return new HttpService() {
      @Override
      public boolean handles(String path) {
        return demo.handles(path) || (api != null && api.handles(path));
      }

      @Override
      public void handle(ChannelHandlerContext ctx, FullHttpRequest req, String path) {
        if (demo.handles(path)) {
          demo.handle(ctx, req, path);
        } else {
          api.handle(ctx, req, path);
        }
      }
    };
  }

  /**
   * {@code api} with {@code /demo} answered 404 with the reason, for a node that has no demo:
   * someone who followed the quick start (which exports {@code HANDOFF_JWT_SECRET}) and opens the
   * demo learns what to change instead of reading "no such path".
   */
  private static HttpService withoutDemo(HttpService api) {
    return new HttpService() {
      @Override
      public boolean handles(String path) {
        return isDemoPath(path) || (api != null && api.handles(path));
      }

      @Override
      public void handle(ChannelHandlerContext ctx, FullHttpRequest req, String path) {
        if (isDemoPath(path)) {
          send(
              ctx,
              HttpResponseStatus.NOT_FOUND,
              "application/json",
              HttpRequestHandler.errorJson("not_found", OFF));
        } else {
          api.handle(ctx, req, path);
        }
      }
    };
  }

  /** Why a node has no demo, in its 404. */
  static final String OFF =
      "the demo runs only on a node with the development secret: start it with neither"
          + " --jwt-secret nor HANDOFF_JWT_SECRET (unset it), nor --signing-key or --identity-jwks";

  private static boolean isDemoPath(String path) {
    return path.equals(PREFIX) || path.startsWith(PREFIX + "/");
  }

  @Override
  public boolean handles(String path) {
    return isDemoPath(path);
  }

  /** Answers one request under {@code /demo}; does not release {@code req}. */
  @Override
  public void handle(ChannelHandlerContext ctx, FullHttpRequest req, String path) {
    QueryStringDecoder uri = new QueryStringDecoder(req.uri());
    if (!HttpMethod.GET.equals(req.method())) {
      send(ctx, HttpResponseStatus.METHOD_NOT_ALLOWED, "text/plain", "the demo takes GET\n");
      return;
    }
    if (path.equals(PREFIX)) {
      FullHttpResponse res = response(HttpResponseStatus.FOUND, "text/plain", "");
      res.headers().set(HttpHeaderNames.LOCATION, PREFIX + "/");
      ctx.writeAndFlush(res).addListener(ChannelFutureListener.CLOSE);
      return;
    }
    String name = path.substring(PREFIX.length() + 1);
    if (name.equals("token")) {
      Map<String, List<String>> params;
      try {
        params = uri.parameters();
      } catch (IllegalArgumentException e) {
        send(
            ctx,
            HttpResponseStatus.BAD_REQUEST,
            "application/json",
            HttpRequestHandler.errorJson(
                "invalid_request", HttpRequestHandler.malformedEscape("URL", e)));
        return;
      }
      token(ctx, params);
    } else if (name.isEmpty()) {
      file(ctx, clientDir.resolve("demo").resolve("index.html"), "html");
    } else if (name.equals("handoff-client.js")) {
      file(ctx, clientDir.resolve("dist").resolve("handoff-client.min.js"), "js");
    } else if (FILE.matcher(name).matches()) {
      file(ctx, clientDir.resolve("demo").resolve(name), name.substring(name.lastIndexOf('.') + 1));
    } else {
      send(ctx, HttpResponseStatus.NOT_FOUND, "text/plain", "no such demo file: " + name + "\n");
    }
  }

  private void token(ChannelHandlerContext ctx, Map<String, List<String>> params) {
    String device = first(params, "device");
    String user = first(params, "user");
    if (user == null) {
      user = "demo";
    }
    if (device == null || !NAME.matcher(device).matches() || !NAME.matcher(user).matches()) {
      send(
          ctx,
          HttpResponseStatus.BAD_REQUEST,
          "application/json",
          "{\"error\":\"bad_request\",\"message\":\"device (and user, if given) must be 1-64 of"
              + " A-Z a-z 0-9 . _ -\"}\n");
      return;
    }
    String token = DevTokens.mint(secret, user, device, TOKEN_TTL);
    send(
        ctx,
        HttpResponseStatus.OK,
        "application/json",
        "{\"token\":\""
            + token
            + "\",\"user\":\""
            + user
            + "\",\"device\":\""
            + device
            + "\",\"expires_in\":"
            + TOKEN_TTL.toSeconds()
            + "}\n");
  }

  private void file(ChannelHandlerContext ctx, Path file, String type) {
    byte[] body;
    try {
      body = Files.readAllBytes(file);
    } catch (IOException e) {
      send(
          ctx,
          HttpResponseStatus.NOT_FOUND,
          "text/plain",
          "demo file "
              + file
              + " not found: build the client (cd client-js && npm ci && npm run build) and start"
              + " the server from the repository root, or set -D"
              + DIR_PROPERTY
              + "=/path/to/client-js\n");
      return;
    }
    FullHttpResponse res =
        new DefaultFullHttpResponse(
            HttpVersion.HTTP_1_1, HttpResponseStatus.OK, Unpooled.wrappedBuffer(body));
    res.headers().set(HttpHeaderNames.CONTENT_TYPE, TYPES.get(type));
    res.headers().set(HttpHeaderNames.CACHE_CONTROL, "no-store");
    HttpUtil.setContentLength(res, body.length);
    ctx.writeAndFlush(res);
  }

  private static String first(Map<String, List<String>> params, String key) {
    List<String> values = params.get(key);
    return values == null || values.isEmpty() ? null : values.get(0);
  }

  private static void send(
      ChannelHandlerContext ctx, HttpResponseStatus status, String type, String body) {
    FullHttpResponse res = response(status, type, body);
    HttpUtil.setContentLength(res, res.content().readableBytes());
    if (status.code() >= 400) {
      ctx.writeAndFlush(res).addListener(ChannelFutureListener.CLOSE);
    } else {
      ctx.writeAndFlush(res);
    }
  }

  private static FullHttpResponse response(HttpResponseStatus status, String type, String body) {
    FullHttpResponse res =
        new DefaultFullHttpResponse(
            HttpVersion.HTTP_1_1, status, Unpooled.copiedBuffer(body, StandardCharsets.UTF_8));
    res.headers().set(HttpHeaderNames.CONTENT_TYPE, type);
    res.headers().set(HttpHeaderNames.CACHE_CONTROL, "no-store");
    HttpUtil.setContentLength(res, res.content().readableBytes());
    return res;
  }
}
