package io.handoff.client.internal;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.ChannelFactory;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.IoEventLoop;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.util.NetUtil;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.time.Duration;
import javax.net.ssl.SSLException;

/**
 * Opens WebSocket connections to one Handoff endpoint from one event loop. Immutable; {@link
 * #connect} must be called on that event loop, and every connection it opens lives there.
 *
 * <p>Limits: upgrade responses up to {@value #MAX_UPGRADE_RESPONSE_BYTES} bytes, server frames up
 * to {@value #MAX_FRAME_BYTES} bytes. The server name's lookup and the TCP connect together time
 * out after the connect timeout ({@link BoundedConnect}), the WebSocket handshake after another,
 * and so does the wait for the first frame until the caller sets another read timeout.
 */
public final class WebSocketConnector {
  /** Largest HTTP response accepted for the upgrade request. */
  public static final int MAX_UPGRADE_RESPONSE_BYTES = Handshake.MAX_RESPONSE_BYTES;

  /** Largest WebSocket message accepted from the server. */
  public static final int MAX_FRAME_BYTES = 16 * 1024 * 1024;

  // Made once, not by reflection per connection attempt.
  private static final ChannelFactory<EpollSocketChannel> EPOLL = EpollSocketChannel::new;
  private static final ChannelFactory<NioSocketChannel> NIO = NioSocketChannel::new;

  private final URI uri;
  private final String host;
  private final int port;
  // The server's address: resolved once when the URI names an IP address; otherwise unresolved,
  // so that each attempt resolves the name anew, off the event loop (LookupResolver).
  private final InetSocketAddress remote;
  private final EventLoop eventLoop;
  private final InetSocketAddress localAddress;
  private final int connectTimeoutMillis;
  private final SslContext ssl;
  private final Handshake handshake;

  /**
   * @param uri a {@code ws://} or {@code wss://} URI
   * @param eventLoop the loop every connection is registered on (NIO or epoll)
   * @param localAddress the source address to bind, or {@code null} for any
   */
  public WebSocketConnector(
      URI uri, EventLoop eventLoop, InetSocketAddress localAddress, Duration connectTimeout) {
    this.uri = uri;
    this.host = uri.getHost();
    boolean secure = "wss".equalsIgnoreCase(uri.getScheme());
    this.port = uri.getPort() > 0 ? uri.getPort() : (secure ? 443 : 80);
    InetAddress literal = NetUtil.createInetAddressFromIpAddressString(host);
    this.remote =
        literal != null
            ? new InetSocketAddress(literal, port)
            : InetSocketAddress.createUnresolved(host, port);
    this.eventLoop = eventLoop;
    this.localAddress = localAddress;
    this.connectTimeoutMillis = (int) Math.min(Integer.MAX_VALUE, connectTimeout.toMillis());
    this.ssl = secure ? DefaultTls.CONTEXT : null;
    this.handshake = new Handshake(uri);
  }

  /**
   * Starts one connection attempt. Its outcome is reported to {@code listener} (see {@link
   * FrameListener} for the order and the thread); its upgrade request carries the listener's {@link
   * FrameListener#hello}, if any, with the subprotocol that offers it.
   *
   * @param token sent as {@code Authorization: Bearer <token>} on the upgrade; none if null
   * @return the connection, usable once {@link FrameListener#onOpen} was called; {@link
   *     FrameChannel#close()} may be called at any time
   */
  public FrameChannel connect(String token, FrameListener listener) {
    ConnectionHandler handler =
        new ConnectionHandler(handshake, token, connectTimeoutMillis, listener, eventLoop);
    Bootstrap bootstrap =
        new Bootstrap()
            .group(eventLoop)
            .channelFactory(isEpoll(eventLoop) ? EPOLL : NIO)
            .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, connectTimeoutMillis)
            .option(ChannelOption.TCP_NODELAY, true)
            // A name is looked up off the loop: a lookup that hangs would stall its other clients.
            .resolver(LookupResolver.INSTANCE)
            .handler(new ClientChannelInitializer(ssl, host, port, handler, connectTimeoutMillis));
    // The lookup and the TCP connect together within the connect timeout.
    ChannelFuture connected =
        BoundedConnect.connect(bootstrap, remote, localAddress, connectTimeoutMillis);
    handler.channel(connected.channel());
    connected.addListener(
        f -> {
          if (!f.isSuccess()) {
            handler.connectFailed(f.cause());
          }
        });
    return handler;
  }

  /** Whether {@code loop} is a native epoll loop (else NIO). */
  public static boolean isEpoll(EventLoop loop) {
    return loop instanceof IoEventLoop io && io.isIoType(EpollIoHandler.class);
  }

  @Override
  public String toString() {
    return "WebSocketConnector{"
        + uri
        + (localAddress == null ? "" : " from " + localAddress)
        + "}";
  }

  /** The JDK's trust store and hostname verification; built on first use of a wss:// URI. */
  private static final class DefaultTls {
    static final SslContext CONTEXT = build();

    private static SslContext build() {
      try {
        return SslContextBuilder.forClient().endpointIdentificationAlgorithm("HTTPS").build();
      } catch (SSLException e) {
        throw new IllegalStateException("cannot create the default TLS context", e);
      }
    }
  }
}
