package io.handoff.client.internal;

import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.timeout.IdleStateHandler;
import java.util.concurrent.TimeUnit;

/**
 * Assembles one client connection's pipeline:
 *
 * <pre>
 *   [TLS] → read-idle timeout → {@link ConnectionHandler} (upgrade, framing, protobuf)
 * </pre>
 *
 * The idle handler sits before the connection handler so that the server's ping frames, which that
 * handler answers and swallows, still count as traffic. Nothing is added or removed at the upgrade.
 */
final class ClientChannelInitializer extends ChannelInitializer<SocketChannel> {
  static final String IDLE = "idle";

  private final SslContext ssl;
  private final String host;
  private final int port;
  private final ConnectionHandler handler;
  private final long initialReadTimeoutMillis;

  ClientChannelInitializer(
      SslContext ssl,
      String host,
      int port,
      ConnectionHandler handler,
      long initialReadTimeoutMillis) {
    this.ssl = ssl;
    this.host = host;
    this.port = port;
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
    p.addLast("connection", handler);
  }
}
