package io.handoff.server.transport;

import io.handoff.server.ServerConfig;
import io.handoff.server.ServerStats;
import io.handoff.server.engine.DocumentStore;
import io.handoff.server.engine.WriteValidator;
import io.handoff.server.sessions.DeviceSessions;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.websocketx.WebSocketDecoderConfig;
import io.netty.handler.codec.http.websocketx.WebSocketFrameAggregator;
import io.netty.handler.codec.http.websocketx.WebSocketServerProtocolConfig;
import io.netty.handler.codec.http.websocketx.WebSocketServerProtocolHandler;
import io.netty.handler.timeout.IdleStateHandler;
import java.util.concurrent.TimeUnit;

/**
 * Assembles one connection's pipeline:
 *
 * <pre>
 * idle → HTTP codec → aggregator → http (health, readiness, /v1/ API, auth at upgrade)
 *      → WebSocket protocol (handshake, ping/pong, close) → frame aggregator
 *      → protobuf frame codec → session
 * </pre>
 *
 * The HTTP handler leaves the pipeline once the handshake completes (the handshake itself replaces
 * the HTTP codec and aggregator with WebSocket frame codecs).
 */
public final class HandoffChannelInitializer extends ChannelInitializer<SocketChannel> {
  static final String HTTP_HANDLER = "http";

  private final ServerConfig config;
  private final DocumentStore store;
  private final Hub hub;
  private final ServerStats stats;
  private final HttpRequestHandler http;
  private final WriteValidator validator;
  private final WebSocketServerProtocolConfig wsConfig;

  private final io.handoff.server.auth.TokenVerifier verifier;
  private final DeviceSessions deviceSessions;

  public HandoffChannelInitializer(
      ServerConfig config,
      DocumentStore store,
      Hub hub,
      ServerStats stats,
      io.handoff.server.auth.TokenVerifier verifier,
      java.util.function.BooleanSupplier ready,
      DeviceSessions deviceSessions) {
    this.config = config;
    this.store = store;
    this.hub = hub;
    this.stats = stats;
    this.verifier = verifier;
    this.deviceSessions = deviceSessions;
    this.http =
        new HttpRequestHandler(
            verifier,
            ready,
            stats,
            new ApiHandler(deviceSessions, verifier, stats, java.time.Clock.systemUTC()),
            deviceSessions::check);
    this.validator = new WriteValidator(config.storeLimits());
    this.wsConfig =
        WebSocketServerProtocolConfig.newBuilder()
            .websocketPath(HttpRequestHandler.WS_PATH)
            .checkStartsWith(true)
            .handshakeTimeoutMillis(config.handshakeTimeout().toMillis())
            .forceCloseTimeoutMillis(config.closeTimeout().toMillis())
            .handleCloseFrames(true)
            .dropPongFrames(true)
            .decoderConfig(
                WebSocketDecoderConfig.newBuilder()
                    .maxFramePayloadLength(config.maxFrameBytes())
                    .allowExtensions(false)
                    .closeOnProtocolViolation(false)
                    .build())
            .build();
  }

  @Override
  protected void initChannel(SocketChannel ch) {
    ChannelPipeline p = ch.pipeline();
    p.addLast(
        "idle",
        new IdleStateHandler(config.heartbeatInterval().toMillis(), 0, 0, TimeUnit.MILLISECONDS));
    p.addLast("httpCodec", new HttpServerCodec(4096, config.maxHttpHeaderBytes(), 8192));
    p.addLast("httpAggregator", new HttpObjectAggregator(8192));
    p.addLast(HTTP_HANDLER, http);
    p.addLast("ws", new WebSocketServerProtocolHandler(wsConfig));
    p.addLast("wsAggregator", new WebSocketFrameAggregator(config.maxFrameBytes()));
    p.addLast("codec", FrameCodec.INSTANCE);
    p.addLast(
        "session",
        new SessionHandler(config, store, hub, stats, validator, verifier, deviceSessions));
  }
}
