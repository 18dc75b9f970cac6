package io.handoff.server.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.server.FakeScheduler;
import io.handoff.server.ServerStats;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpVersion;
import java.net.Socket;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
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
    Upgrades upgrades =
        new Upgrades(false, p -> {}, new UserLoops(home), new UpgradeRefusals(new LongAdder()));
    FullHttpRequest req = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET, "/ws");
    MovingUpgrades node =
        new MovingUpgrades(
            accepting,
            accepting,
            new ServerStats(),
            new FakeScheduler(),
            p ->
                p.addLast(
                    HandoffChannelInitializer.HTTP_HANDLER, new ChannelInboundHandlerAdapter()));
    try (Socket device = new Socket()) {
      Channel ch = node.connect(device);
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
      node.listener.close().sync();
      accepting.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS).syncUninterruptibly();
    }
  }
}
