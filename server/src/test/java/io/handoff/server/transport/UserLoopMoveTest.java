package io.handoff.server.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.ClientFrame;
import io.handoff.server.FakeScheduler;
import io.handoff.server.ServerConfig;
import io.handoff.server.ServerStats;
import io.handoff.server.auth.Principal;
import io.handoff.server.engine.StoreLimits;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpVersion;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The move of an upgrade to its user's loop ({@link Upgrades}, {@link UserLoops}) on real NIO
 * channels and loops, for what the node's own tests cannot time: a home loop that stops while a
 * connection moves to it (the node shutting down).
 */
class UserLoopMoveTest {

  @Test
  void aMoveToALoopThatHasStoppedReleasesTheRequestAndClosesTheConnection() throws Exception {
    EventLoopGroup accepting = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    EventLoopGroup home = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    home.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS).syncUninterruptibly();
    Upgrades upgrades = new Upgrades(false, p -> {}, new UserLoops(home));
    FullHttpRequest req = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET, "/ws");
    CompletableFuture<Channel> accepted = new CompletableFuture<>();
    ServerConfig config =
        ServerConfig.builder()
            .host("127.0.0.1")
            .port(0)
            .nodeId("test")
            .jwtSecret("0123456789abcdef0123456789abcdef")
            .storeLimits(StoreLimits.builder().build())
            .build();
    ConnectionHandler.Shared shared =
        new ConnectionHandler.Shared(config, new ServerStats(), new FakeScheduler());
    Channel server =
        new ServerBootstrap()
            .group(accepting)
            .channel(NioServerSocketChannel.class)
            .childHandler(
                new ChannelInitializer<SocketChannel>() {
                  @Override
                  protected void initChannel(SocketChannel ch) {
                    ch.pipeline()
                        .addLast(
                            HandoffChannelInitializer.HTTP_HANDLER,
                            new ChannelInboundHandlerAdapter());
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
    try (Socket device = new Socket()) {
      device.connect(server.localAddress(), 10_000);
      Channel ch = accepted.get(10, TimeUnit.SECONDS);
      ch.attr(HttpRequestHandler.PRINCIPAL).set(new Principal("alice", "phone", Long.MAX_VALUE));
      ch.eventLoop()
          .execute(
              () ->
                  upgrades.upgrade(
                      ch.pipeline().context(HandoffChannelInitializer.HTTP_HANDLER), req));
      assertTrue(ch.closeFuture().await(10, TimeUnit.SECONDS), "the connection is closed");
      // The move's last step runs on the loop that gave up the channel; wait for that loop's turn.
      accepting.submit(() -> {}).sync();
      assertEquals(0, req.refCnt(), "the request is released");
    } finally {
      server.close().sync();
      accepting.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS).syncUninterruptibly();
    }
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
