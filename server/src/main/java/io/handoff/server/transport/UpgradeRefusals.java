package io.handoff.server.transport;

import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpResponseStatus;
import java.util.concurrent.atomic.LongAdder;

/**
 * The refusals of a {@code /ws} upgrade for what it sent, each answered with its status and a JSON
 * body and the connection closed, and counted ({@code
 * handoff_protocol_error_closes_total{stage="upgrade"}}, beside the frames that close a connection
 * after the 101): a Hello in the upgrade that cannot be used ({@code invalid_hello}, {@code
 * frame_too_large}), a request that is no version-13 handshake (400, 405, 426), a URL or header the
 * node could not read (400), an upgrade for another user on a connection that asked for one before.
 * Not a refused token (counted as an auth failure) nor an address over its rate (counted apart).
 * Shared by the node's connections; thread-safe.
 */
final class UpgradeRefusals {
  private final LongAdder refused;

  UpgradeRefusals(LongAdder refused) {
    this.refused = refused;
  }

  /** Counts a refusal answered elsewhere. */
  void count() {
    refused.increment();
  }

  /** Whether {@code ch} is an authenticated upgrade under way (its principal set, no 101 yet). */
  static boolean upgrading(Channel ch) {
    return ch.hasAttr(HttpRequestHandler.PRINCIPAL)
        && ch.attr(HttpRequestHandler.PRINCIPAL).get() != null;
  }

  /** Answers {@code req} with {@code res}, a refusal, and closes; counted. */
  void refuse(ChannelHandlerContext ctx, FullHttpRequest req, FullHttpResponse res) {
    refused.increment();
    HttpRequestHandler.send(ctx, req, res);
  }

  /** Answers {@code req} {@code status} with {@code error} and {@code message}, and closes. */
  void refuse(
      ChannelHandlerContext ctx,
      FullHttpRequest req,
      HttpResponseStatus status,
      String error,
      String message) {
    refuse(ctx, req, HttpRequestHandler.response(status, error, message));
  }

  /** Answers 400 {@code bad_request} with {@code message} and closes (the request is released). */
  void refuseAndClose(ChannelHandlerContext ctx, String message) {
    refused.increment();
    FullHttpResponse res =
        HttpRequestHandler.response(HttpResponseStatus.BAD_REQUEST, "bad_request", message);
    res.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
    ctx.writeAndFlush(res).addListener(ChannelFutureListener.CLOSE);
  }

  /**
   * Answers a request to the WebSocket path that is no WebSocket handshake (a page load, curl, a
   * proxy that dropped the hop-by-hop headers) in JSON like every other refusal; Netty's handshaker
   * would answer a plain-text 400. After the token's check, so that a token can be tried with plain
   * HTTP (401 or this 400). RFC 6455 section 4.2.1 answers such requests 400; one without a version
   * gets 426 naming version 13. A handshake of another WebSocket version still goes to Netty, whose
   * 426 names the version (hybi-07 and -08 it takes, framed as 13).
   */
  boolean refusedAsNoHandshake(ChannelHandlerContext ctx, FullHttpRequest req) {
    HttpHeaders h = req.headers();
    if (!h.containsValue(HttpHeaderNames.UPGRADE, HttpHeaderValues.WEBSOCKET, true)
        || !h.containsValue(HttpHeaderNames.CONNECTION, HttpHeaderValues.UPGRADE, true)) {
      refuse(
          ctx,
          req,
          HttpResponseStatus.BAD_REQUEST,
          "bad_request",
          HttpRequestHandler.WS_PATH
              + " is the WebSocket endpoint: open it with a WebSocket client, which sends"
              + " Upgrade: websocket and Connection: Upgrade");
      return true;
    }
    String key = h.get(HttpHeaderNames.SEC_WEBSOCKET_KEY);
    if (key == null || key.isBlank()) {
      refuse(
          ctx,
          req,
          HttpResponseStatus.BAD_REQUEST,
          "bad_request",
          "the WebSocket upgrade has no Sec-WebSocket-Key header (RFC 6455 section 4.1)");
      return true;
    }
    if (!h.contains(HttpHeaderNames.SEC_WEBSOCKET_VERSION)) {
      // Netty's handshaker would take it for the hixie-76 draft and answer a 101 in its framing.
      FullHttpResponse res =
          HttpRequestHandler.response(
              HttpResponseStatus.UPGRADE_REQUIRED,
              "bad_request",
              "the WebSocket upgrade has no Sec-WebSocket-Version header; this node speaks version"
                  + " 13 (RFC 6455 section 4.4)");
      res.headers().set(HttpHeaderNames.SEC_WEBSOCKET_VERSION, "13");
      refuse(ctx, req, res);
      return true;
    }
    return false;
  }
}
