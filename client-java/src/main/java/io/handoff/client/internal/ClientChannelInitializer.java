package io.handoff.client.internal;

import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.websocketx.WebSocketClientProtocolConfig;
import io.netty.handler.codec.http.websocketx.WebSocketClientProtocolHandler;
import io.netty.handler.codec.http.websocketx.WebSocketFrameAggregator;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.timeout.IdleStateHandler;
import java.util.concurrent.TimeUnit;

/**
 * Assembles one client connection's pipeline:
 *
 * <pre>
 *   [TLS] → read-idle timeout → HTTP codec → HTTP aggregator (upgrade response only)
 *     → WebSocket client protocol (handshake, pings, masking) → WebSocket frame aggregator
 *     → protobuf frame codec → {@link ConnectionHandler}
 * </pre>
 *
 * The idle handler sits before the WebSocket handler so that the server's ping frames, which that
 * handler answers and swallows, still count as traffic. The HTTP handlers are removed by Netty's
 * handshaker once the upgrade completes.
 */
final class ClientChannelInitializer extends ChannelInitializer<SocketChannel> {
  static final String IDLE = "idle";

  private final SslContext ssl;
  private final String host;
  private final int port;
  private final WebSocketClientProtocolConfig webSocketConfig;
  private final ConnectionHandler handler;
  private final long initialReadTimeoutMillis;

  ClientChannelInitializer(
      SslContext ssl,
      String host,
      int port,
      WebSocketClientProtocolConfig webSocketConfig,
      ConnectionHandler handler,
      long initialReadTimeoutMillis) {
    this.ssl = ssl;
    this.host = host;
    this.port = port;
    this.webSocketConfig = webSocketConfig;
    this.handler = handler;
    this.initialReadTimeoutMillis = initialReadTimeoutMillis;
  }

  @Override
  protected void initChannel(SocketChannel ch) {
    ChannelPipeline p = ch.pipeline();
    if (ssl != null) {
      p.addLast("tls", ssl.newHandler(ch.alloc(), host, port));
    }
    p.addLast(IDLE, new IdleStateHandler(initialReadTimeoutMillis, 0, 0, TimeUnit.MILLISECONDS));
    p.addLast("http-codec", new HttpClientCodec());
    p.addLast(
        "http-aggregator", new HttpObjectAggregator(WebSocketConnector.MAX_UPGRADE_RESPONSE_BYTES));
    p.addLast("upgrade-refusal", UpgradeRefusal.INSTANCE);
    p.addLast("ws-protocol", new WebSocketClientProtocolHandler(webSocketConfig));
    p.addLast("ws-aggregator", new WebSocketFrameAggregator(WebSocketConnector.MAX_FRAME_BYTES));
    p.addLast("protobuf", ProtobufFrameCodec.INSTANCE);
    p.addLast("connection", handler);
  }
}
