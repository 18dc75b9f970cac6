package io.handoff.server.transport;

import io.handoff.server.Scheduler;
import io.handoff.server.ServerConfig;
import io.handoff.server.ServerStats;
import io.handoff.server.auth.Principal;
import io.handoff.server.auth.TokenVerifier;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.compression.ZlibCodecFactory;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.websocketx.WebSocketDecoderConfig;
import io.netty.handler.codec.http.websocketx.WebSocketServerProtocolConfig;
import io.netty.handler.codec.http.websocketx.WebSocketServerProtocolHandler;
import io.netty.handler.codec.http.websocketx.extensions.WebSocketServerExtensionHandler;
import io.netty.handler.codec.http.websocketx.extensions.compression.PerMessageDeflateServerExtensionHandshaker;
import io.netty.handler.ssl.OpenSsl;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslProvider;
import java.util.concurrent.CompletableFuture;
import java.util.function.Function;
import java.util.function.Supplier;
import javax.net.ssl.SSLException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Assembles one connection's pipeline:
 *
 * <pre>
 * [TLS] → HTTP codec → aggregator → http (health, readiness, metrics, /v1/ API, auth at upgrade)
 *      → WebSocket protocol (handshake, ping/pong, close) → frame aggregator
 *      → protobuf frame codec → connection → session
 * </pre>
 *
 * A new connection's pipeline holds only the HTTP handlers and the connection handler. A version-13
 * upgrade that negotiates no extension is answered by {@link Upgrades}: the HTTP handlers leave and
 * the connection handler frames itself (see {@link WireCodec}) at once, so an upgraded connection's
 * pipeline is {@code [TLS] → connection}. Any other upgrade request gets Netty's WebSocket handlers
 * added (and the deflate extension's, with compression on) and goes through Netty's handshaker,
 * which replaces the HTTP codec with WebSocket frame codecs; then, with no extension negotiated,
 * the connection handler frames itself and they leave too; with permessage-deflate the WebSocket
 * protocol handler gives its place to the shared {@link ControlFrameHandler}.
 */
public final class HandoffChannelInitializer extends ChannelInitializer<SocketChannel> {
  private static final Logger log = LoggerFactory.getLogger(HandoffChannelInitializer.class);
  public static final String HTTP_HANDLER = "http";
  static final String HTTP_CODEC = "httpCodec";
  static final String HTTP_AGGREGATOR = "httpAggregator";
  // Added in front of the HTTP handler by a connection's first request to a service (/v1/).
  static final String HTTP_FLOW = "httpFlow";
  static final String CONNECTION = "connection";
  // Replaced by ControlFrameHandler once the upgrade is done.
  static final String WS_HANDLER = "ws";
  static final String WS_AGGREGATOR = "wsAggregator";
  // The frame codec; after an upgrade without extensions the connection handler's own framing
  // (WireCodec) replaces it and the WebSocket handlers.
  static final String CODEC = "codec";

  /**
   * A user event that drains the connection's session: no new requests, writes in flight answered,
   * then SHUTDOWN; a connection still in plain HTTP is answered and let go (see {@link
   * HttpRequestHandler}). Fired by the server on every connection when it stops.
   */
  public static final Object DRAIN =
      new Object() {
        @Override
        public String toString() {
          return "DRAIN";
        }
      };

  private final ServerConfig config;
  private final HttpRequestHandler http;
  private final Supplier<Endpoint> sessions;
  private final ConnectionHandler.Shared connections;
  private final WebSocketServerProtocolConfig wsConfig;
  private final SslContext tls;

  /**
   * {@code api} serves {@code /v1/} (may be null), {@code sessionCheck} tells whether a verified
   * principal's device session is alive (see {@link HttpRequestHandler}), {@code sessions} makes
   * the session of each upgraded connection; with {@code userLoops} (the workers), every connection
   * of a user is moved to the same loop of them at its upgrade (see {@link UserLoops}; null: each
   * stays where it was accepted).
   */
  public HandoffChannelInitializer(
      ServerConfig config,
      ServerStats stats,
      Scheduler time,
      TokenVerifier verifier,
      Readiness ready,
      Supplier<String> metrics,
      HttpService api,
      Function<Principal, CompletableFuture<String>> sessionCheck,
      Supplier<Endpoint> sessions,
      EventLoopGroup userLoops) {
    this.config = config;
    this.sessions = sessions;
    this.connections = new ConnectionHandler.Shared(config, stats, time);
    this.http =
        new HttpRequestHandler(
            verifier,
            ready,
            stats,
            metrics,
            new CallerRateLimiter(
                config.connectRatePerAddress(),
                config.connectBurstPerAddress(),
                CallerRateLimiter.MAX_TRACKED,
                time::nanoTime),
            api,
            // A storm of upgrades with device sessions asks the store a bounded number at once.
            new UpgradeChecks(sessionCheck, config.maxResumesInFlight()),
            new Upgrades(
                config.transport().compression(),
                this::addWebSocketHandlers,
                userLoops == null ? null : new UserLoops(userLoops),
                new UpgradeRefusals(stats.upgradesRefused)),
            config.maxFrameBytes());
    this.tls = config.transport().tlsCertificate() == null ? null : tlsContext(config);
    this.wsConfig =
        WebSocketServerProtocolConfig.newBuilder()
            .websocketPath(HttpRequestHandler.WS_PATH)
            .checkStartsWith(true)
            .subprotocols(EarlyHello.SUBPROTOCOL)
            .handshakeTimeoutMillis(config.handshakeTimeout().toMillis())
            .forceCloseTimeoutMillis(config.closeTimeout().toMillis())
            .handleCloseFrames(true)
            .dropPongFrames(true)
            .decoderConfig(decoderConfig(config))
            .build();
  }

  /** The WebSocket frame decoder's settings, for Netty's handshaker and BudgetedFrameDecoder. */
  static WebSocketDecoderConfig decoderConfig(ServerConfig config) {
    return WebSocketDecoderConfig.newBuilder()
        .maxFramePayloadLength(config.maxFrameBytes())
        .allowExtensions(config.transport().compression())
        .closeOnProtocolViolation(false)
        // Text frames are refused anyway: no UTF-8 validator per connection.
        .withUTF8Validator(false)
        .build();
  }

  /**
   * The server's TLS context from PEM files: OpenSSL (BoringSSL through netty-tcnative) where its
   * native library loads, the JDK's TLS otherwise; TLS 1.3 and 1.2 only.
   */
  private static SslContext tlsContext(ServerConfig config) {
    SslProvider provider = OpenSsl.isAvailable() ? SslProvider.OPENSSL : SslProvider.JDK;
    try {
      SslContext ctx =
          SslContextBuilder.forServer(
                  config.transport().tlsCertificate().toFile(),
                  config.transport().tlsPrivateKey().toFile())
              .sslProvider(provider)
              .protocols("TLSv1.3", "TLSv1.2")
              .build();
      log.info("TLS on, with {} ({})", provider, config.transport().tlsCertificate());
      return ctx;
    } catch (SSLException | IllegalArgumentException e) {
      String form =
          String.valueOf(e.getMessage()).contains("private key")
              ? TlsKeyForm.refusal(config.transport().tlsPrivateKey())
              : null;
      throw new IllegalArgumentException(
          "cannot use TLS certificate "
              + config.transport().tlsCertificate()
              + " (--tls-cert) with key "
              + config.transport().tlsPrivateKey()
              + " (--tls-key): "
              + (form == null ? e.getMessage() : form),
          e);
    }
  }

  /** True if connections are served over TLS ({@code wss://}). */
  public boolean secure() {
    return tls != null;
  }

  @Override
  protected void initChannel(SocketChannel ch) {
    ChannelPipeline p = ch.pipeline();
    if (tls != null) {
      SslHandler ssl = tls.newHandler(ch.alloc());
      ssl.setHandshakeTimeoutMillis(config.handshakeTimeout().toMillis());
      p.addLast("tls", ssl);
    }
    p.addLast(HTTP_CODEC, new HttpServerCodec(4096, config.maxHttpHeaderBytes(), 8192));
    p.addLast(HTTP_AGGREGATOR, new BodyLimitAggregator(8192, connections.time()));
    p.addLast(HTTP_HANDLER, http);
    p.addLast(CONNECTION, new ConnectionHandler(connections, sessions.get()));
  }

  /**
   * The handler that negotiates permessage-deflate at the upgrade, without context takeover where
   * the device offers to go without (server_no_context_takeover, client_no_context_takeover): a
   * context kept is about 200 KB of native memory for the connection's life. No frame may inflate
   * past {@code maxFrameBytes} (decompression bombs).
   */
  static WebSocketServerExtensionHandler compression(int maxFrameBytes) {
    return new WebSocketServerExtensionHandler(
        new PerMessageDeflateServerExtensionHandshaker(
            6,
            ZlibCodecFactory.isSupportingWindowSizeAndMemLevel(),
            PerMessageDeflateServerExtensionHandshaker.MAX_WINDOW_SIZE,
            true,
            true,
            maxFrameBytes));
  }

  /**
   * Netty's WebSocket handlers, in front of the connection handler, for an upgrade that {@link
   * Upgrades} leaves to Netty's handshaker.
   */
  private void addWebSocketHandlers(ChannelPipeline p) {
    if (config.transport().compression()) {
      p.addBefore(CONNECTION, "wsCompression", compression(config.maxFrameBytes()));
    }
    p.addBefore(CONNECTION, WS_HANDLER, new WebSocketServerProtocolHandler(wsConfig));
    // Counted against the node's inbound budget: on a compressed connection it joins inflated
    // fragments (a plain upgrade's connection handler frames and joins by itself).
    p.addBefore(
        CONNECTION,
        WS_AGGREGATOR,
        new BudgetedFrameAggregator(config.maxFrameBytes(), connections.inbound()));
    p.addBefore(CONNECTION, CODEC, FrameCodec.INSTANCE);
  }
}
