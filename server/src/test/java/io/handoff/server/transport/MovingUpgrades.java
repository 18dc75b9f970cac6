package io.handoff.server.transport;

import io.handoff.protocol.v1.ClientFrame;
import io.handoff.server.FakeScheduler;
import io.handoff.server.ServerConfig;
import io.handoff.server.ServerStats;
import io.handoff.server.auth.Principal;
import io.handoff.server.auth.TokenVerifier;
import io.handoff.server.engine.StoreLimits;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.HttpServerCodec;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * A listener on real NIO channels for the tests of an upgrade's move to its user's loop ({@link
 * Upgrades}, {@link UserLoops}): each connection it accepts gets the HTTP handlers a test adds,
 * then a {@link ConnectionHandler} with no endpoint.
 */
final class MovingUpgrades {
  final Channel listener;
  private final CompletableFuture<Channel> accepted = new CompletableFuture<>();

  /**
   * Listens on 127.0.0.1, accepting on {@code boss} and serving the connections on {@code
   * children}; {@code http} adds the handlers before the connection's own.
   */
  MovingUpgrades(
      EventLoopGroup boss,
      EventLoopGroup children,
      ServerStats stats,
      FakeScheduler time,
      Consumer<ChannelPipeline> http)
      throws InterruptedException {
    ServerConfig config =
        ServerConfig.builder()
            .host("127.0.0.1")
            .port(0)
            .nodeId("test")
            .jwtSecret("0123456789abcdef0123456789abcdef")
            .storeLimits(StoreLimits.builder().build())
            .build();
    ConnectionHandler.Shared shared = new ConnectionHandler.Shared(config, stats, time);
    listener =
        new ServerBootstrap()
            .group(boss, children)
            .channel(NioServerSocketChannel.class)
            .childHandler(
                new ChannelInitializer<SocketChannel>() {
                  @Override
                  protected void initChannel(SocketChannel ch) {
                    http.accept(ch.pipeline());
                    ch.pipeline()
                        .addLast(
                            HandoffChannelInitializer.CONNECTION,
                            new ConnectionHandler(shared, new NoEndpoint()));
                    accepted.complete(ch);
                  }
                })
            .bind(new InetSocketAddress("127.0.0.1", 0))
            .sync()
            .channel();
  }

  /**
   * The node's HTTP stage, as {@code http} for the constructor: its codec, its aggregator (8 KiB
   * bodies) and {@code handler}.
   */
  static Consumer<ChannelPipeline> httpStage(FakeScheduler time, HttpRequestHandler handler) {
    return p ->
        p.addLast(HandoffChannelInitializer.HTTP_CODEC, new HttpServerCodec())
            .addLast(HandoffChannelInitializer.HTTP_AGGREGATOR, new BodyLimitAggregator(8192, time))
            .addLast(HandoffChannelInitializer.HTTP_HANDLER, handler);
  }

  /**
   * An HTTP handler as the node's, with {@code service} for the API paths (null: none) and {@code
   * upgrades}, reading every token as {@code tokens} says (and no session check).
   */
  static HttpRequestHandler httpHandler(
      TokenVerifier tokens,
      ServerStats stats,
      FakeScheduler time,
      HttpService service,
      Upgrades upgrades) {
    return new HttpRequestHandler(
        tokens,
        () -> null,
        stats,
        null,
        new CallerRateLimiter(100, 100, 16, time::nanoTime),
        service,
        p -> CompletableFuture.completedFuture(null),
        upgrades,
        64 * 1024);
  }

  /** Connects {@code device}; returns the node's side of it, authenticated as alice's phone. */
  Channel connect(Socket device) throws Exception {
    device.connect(listener.localAddress(), 10_000);
    Channel ch = accepted.get(10, TimeUnit.SECONDS);
    ch.attr(HttpRequestHandler.PRINCIPAL).set(new Principal("alice", "phone", Long.MAX_VALUE));
    return ch;
  }

  private static final class NoEndpoint implements Endpoint {
    @Override
    public void opened(Link link) {}

    @Override
    public void frame(ClientFrame frame) {}

    @Override
    public void writable() {}

    @Override
    public void unwritable() {}

    @Override
    public void closing() {}

    @Override
    public void drain() {}

    @Override
    public void closed() {}
  }
}
