package io.handoff.server.transport;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.EventLoop;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.websocketx.WebSocketServerProtocolHandler;
import io.netty.util.concurrent.FastThreadLocal;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Base64;
import java.util.function.Consumer;

/**
 * The WebSocket handshake of an authenticated {@code /ws} request. The common case, a version-13
 * request that asks for no extension the node would grant, is answered here: the 101 with its
 * {@code Sec-WebSocket-Accept} (RFC 6455 section 4.2.2) is written as bytes, the HTTP handlers
 * leave, and the connection handler frames itself ({@link WireCodec}) at once. Every other request
 * goes through Netty's handshaker, whose handlers are added to this connection's pipeline only then
 * (permessage-deflate, other versions, and the refusals of requests that are no valid handshake,
 * with Netty's statuses: 400, 426 with {@code Sec-WebSocket-Version: 13}). In a reconnect storm
 * every device upgrades at once, and Netty's path costs each a handshaker, a response object and
 * its encoding, a handshake timer, and two rounds of pipeline changes (see docs/decisions.md).
 * Shared; event loop only.
 */
final class Upgrades {
  private static final String GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  private static final byte[] HEAD =
      ("HTTP/1.1 101 Switching Protocols\r\n"
              + "upgrade: websocket\r\n"
              + "connection: upgrade\r\n"
              + "sec-websocket-accept: ")
          .getBytes(StandardCharsets.US_ASCII);
  private static final byte[] PROTOCOL =
      ("\r\nsec-websocket-protocol: " + EarlyHello.SUBPROTOCOL).getBytes(StandardCharsets.US_ASCII);
  private static final byte[] END = "\r\n\r\n".getBytes(StandardCharsets.US_ASCII);
  // Base64 of a SHA-1 digest: 28 characters.
  private static final int ACCEPT_LENGTH = 28;

  private static final FastThreadLocal<MessageDigest> SHA1 =
      new FastThreadLocal<>() {
        @Override
        protected MessageDigest initialValue() throws NoSuchAlgorithmException {
          return MessageDigest.getInstance("SHA-1");
        }
      };

  private final boolean compression;
  private final Consumer<ChannelPipeline> nettyHandlers;
  private final UserLoops loops;
  // The refusals of upgrades for what they sent, this class's and the HTTP handler's.
  final UpgradeRefusals refusals;

  /**
   * {@code nettyHandlers} adds Netty's WebSocket handlers (and the deflate extension's, with {@code
   * compression}) in front of the connection handler, for the requests this class does not answer.
   * With {@code loops}, each upgrade is done on its user's home loop (null: where it was accepted).
   */
  Upgrades(
      boolean compression,
      Consumer<ChannelPipeline> nettyHandlers,
      UserLoops loops,
      UpgradeRefusals refusals) {
    this.compression = compression;
    this.nettyHandlers = nettyHandlers;
    this.loops = loops;
    this.refusals = refusals;
  }

  /**
   * Upgrades the connection of {@code http} (the HTTP handler's context) with {@code req}, whose
   * principal is set. Takes {@code req}'s reference.
   */
  void upgrade(ChannelHandlerContext http, FullHttpRequest req) {
    if (HttpRequestHandler.draining(http.channel())) {
      // The node began to drain while the upgrade waited (for its session check, or its move to
      // its user's loop): a session now would only be told SHUTDOWN.
      req.release();
      HttpRequestHandler.answerDraining(http);
      return;
    }
    if (loops != null) {
      EventLoop home = loops.home(http.channel().attr(HttpRequestHandler.PRINCIPAL).get().userId());
      if (home != http.channel().eventLoop()) {
        if (http.pipeline().get(HandoffChannelInitializer.WS_HANDLER) != null) {
          // Netty refused an upgrade on this connection before and kept it open (426), for a user
          // whose loop this is: each move starts the handshake limit again, and a socket that asks
          // for two users in turn would never reach it.
          req.release();
          refusals.refuseAndClose(
              http,
              "this connection asked to upgrade for another user before; open a new connection");
          return;
        }
        move(http, req, home);
        return;
      }
    }
    ChannelPipeline p = http.pipeline();
    // Netty's handlers stay after a request they refused with the connection kept open (426 for
    // another version): a request after it on that connection goes through them again.
    boolean netty = p.get(HandoffChannelInitializer.WS_HANDLER) != null;
    String key = netty ? null : plainKey(req.headers());
    if (key == null) {
      if (compression && unnamedExtension(req.headers())) {
        // Netty's extension handler fails on it (an index out of bounds) and the connection would
        // be cut unanswered, with a warning logged for each such request.
        req.release();
        refusals.refuseAndClose(
            http,
            "Sec-WebSocket-Extensions offers an extension without a name (RFC 6455 section 9.1):"
                + " each comma-separated offer starts with the extension's name");
        return;
      }
      try {
        if (!netty) {
          nettyHandlers.accept(p);
        }
      } catch (RuntimeException e) {
        req.release();
        throw e;
      }
      // Netty's extension handler fails on an offer it cannot read (a parameter that is no
      // number) before it passes the request on, and never releases it (the failure is answered
      // by the connection handler, see ConnectionErrors). The reference held across the read
      // tells: left at two, nothing behind took the request.
      req.retain();
      try {
        http.fireChannelRead(req);
      } finally {
        req.release(req.refCnt() > 1 ? 2 : 1);
      }
      return;
    }
    try {
      answer(http, key, req);
    } finally {
      req.release();
    }
  }

  /**
   * Moves the connection of {@code http} to {@code home} and upgrades it there. Netty runs the
   * deregistration after the current read, then registers the channel with {@code home}, which adds
   * its socket to that loop's poller and resumes reading; nothing is read meanwhile (the device
   * waits for the 101 before it sends a frame). Every handler of the pipeline runs on {@code home}
   * from then on. If the node began to drain meanwhile, the upgrade is answered 503 there instead.
   * Takes {@code req}'s reference.
   */
  private void move(ChannelHandlerContext http, FullHttpRequest req, EventLoop home) {
    Channel ch = http.channel();
    ChannelHandlerContext connection =
        http.pipeline().context(HandoffChannelInitializer.CONNECTION);
    if (connection == null) {
      req.release(); // The connection closed meanwhile; its pipeline is gone.
      return;
    }
    ConnectionHandler handler = (ConnectionHandler) connection.handler();
    // From here a drain that reaches the connection leaves it to the move, which answers the
    // upgrade 503 on the new loop (see upgrade): the drain may run on either loop, before or after
    // the channel changed loops.
    handler.leavingLoop();
    ch.deregister()
        .addListener(
            left -> {
              if (!left.isSuccess()) {
                req.release();
                ch.close();
                return;
              }
              ChannelFuture joining = home.register(ch);
              if (joining.isDone() && !joining.isSuccess()) {
                // Refused at once: home has stopped (the node is shutting down) and Netty has
                // closed the channel. Its listeners would be told on home, which runs nothing
                // any more.
                req.release();
                return;
              }
              joining.addListener(
                  joined -> {
                    // A failed registration has closed the channel (Netty closes it forcibly).
                    if (!joined.isSuccess() || http.isRemoved() || !ch.isActive()) {
                      req.release();
                      ch.close();
                      return;
                    }
                    handler.joinedLoop();
                    upgrade(http, req);
                  });
            });
  }

  /**
   * The key of a valid version-13 request that can be answered without Netty's handshaker; null for
   * any other request.
   */
  private String plainKey(HttpHeaders h) {
    if (!"13".equals(h.get(HttpHeaderNames.SEC_WEBSOCKET_VERSION))
        || !h.containsValue(HttpHeaderNames.UPGRADE, HttpHeaderValues.WEBSOCKET, true)
        || !h.containsValue(HttpHeaderNames.CONNECTION, HttpHeaderValues.UPGRADE, true)
        || (compression && h.contains(HttpHeaderNames.SEC_WEBSOCKET_EXTENSIONS))) {
      return null;
    }
    String key = h.get(HttpHeaderNames.SEC_WEBSOCKET_KEY);
    return key == null || key.isEmpty() ? null : key;
  }

  /** Whether an offer of {@code h}'s extensions has parameters but no name (";", "a, ;b"). */
  private static boolean unnamedExtension(HttpHeaders h) {
    for (String value : h.getAll(HttpHeaderNames.SEC_WEBSOCKET_EXTENSIONS)) {
      for (String offer : value.split(",")) {
        if (offer.strip().startsWith(";")) {
          return true;
        }
      }
    }
    return false;
  }

  private void answer(ChannelHandlerContext http, String key, FullHttpRequest req) {
    ChannelPipeline p = http.pipeline();
    ChannelHandlerContext codec = p.context(HandoffChannelInitializer.HTTP_CODEC);
    if (codec == null) {
      return; // The connection closed meanwhile; its pipeline is gone.
    }
    boolean early = EarlyHello.carried(http.channel());
    ByteBuf res =
        http.alloc()
            .buffer(HEAD.length + ACCEPT_LENGTH + (early ? PROTOCOL.length : 0) + END.length);
    res.writeBytes(HEAD).writeCharSequence(accept(key), StandardCharsets.US_ASCII);
    if (early) {
      res.writeBytes(PROTOCOL);
    }
    res.writeBytes(END);
    // Written from the HTTP codec's place (behind TLS, if any), past its encoder; flushed once the
    // connection has heard of the upgrade, with what it wrote (the Welcome of a Hello in the
    // upgrade, when the store answered at once).
    codec.write(res, codec.voidPromise());
    p.remove(HandoffChannelInitializer.HTTP_AGGREGATOR);
    HttpRequestHandler.leave(p);
    ChannelHandlerContext connection = p.context(HandoffChannelInitializer.CONNECTION);
    ((ConnectionHandler) connection.handler()).install(connection);
    // Before the connection hears of the upgrade, so that what it writes at once (a close, when
    // its user has no slot left) reaches the device. RFC 6455 4.1 has the device wait for the 101
    // before it sends a frame.
    p.remove(HandoffChannelInitializer.HTTP_CODEC);
    p.fireUserEventTriggered(
        new WebSocketServerProtocolHandler.HandshakeComplete(
            req.uri(), req.headers(), early ? EarlyHello.SUBPROTOCOL : null));
    http.channel().flush();
  }

  /** The Sec-WebSocket-Accept of RFC 6455 section 4.2.2 for {@code key}. */
  static String accept(String key) {
    MessageDigest sha1 = SHA1.get();
    sha1.reset();
    byte[] digest = sha1.digest((key + GUID).getBytes(StandardCharsets.US_ASCII));
    return Base64.getEncoder().encodeToString(digest);
  }
}
