package io.handoff.server.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.server.FakeScheduler;
import io.handoff.server.ServerStats;
import io.handoff.server.auth.AuthException;
import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpVersion;
import java.io.InputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import org.junit.jupiter.api.Test;

/**
 * A drain that reaches a connection while its upgrade moves to its user's loop ({@link Upgrades},
 * {@link UserLoops}): the device is answered, not dropped. Real NIO channels and loops, and the
 * node's HTTP handler, which the drain reaches first; the order the node's own tests cannot time is
 * made here: the upgrade's move starts, the listener closes and the drain is queued on the loop the
 * connection leaves, ahead of the move's next step, all in one task of that loop.
 */
class DrainDuringMoveTest {

  @Test
  void anUpgradeMovingToItsUsersLoopWhenTheDrainReachesItIsAnswered503() throws Exception {
    EventLoopGroup boss = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    EventLoopGroup accepting = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    EventLoopGroup home = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    ServerStats stats = new ServerStats();
    FakeScheduler time = new FakeScheduler();
    Upgrades upgrades =
        new Upgrades(false, p -> {}, new UserLoops(home), new UpgradeRefusals(new LongAdder()));
    HttpRequestHandler http =
        MovingUpgrades.httpHandler(
            token -> {
              throw new AuthException("no token is read here");
            },
            stats,
            time,
            null,
            upgrades);
    MovingUpgrades node =
        new MovingUpgrades(boss, accepting, stats, time, MovingUpgrades.httpStage(time, http));
    Channel listener = node.listener;
    FullHttpRequest req = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET, "/ws");
    req.headers()
        .set("upgrade", "websocket")
        .set("connection", "Upgrade")
        .set("sec-websocket-version", "13")
        .set("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
    try (Socket device = new Socket()) {
      device.setSoTimeout(30_000);
      Channel ch = node.connect(device);
      ch.eventLoop()
          .submit(
              () -> {
                // The node's drain reaches the connection while its loop reads the upgrade: the
                // drain's task waits behind the read. (The node closes its listener before it
                // tells its connections; here the listener closes below, before the task runs.)
                ch.eventLoop()
                    .execute(
                        () ->
                            ch.pipeline().fireUserEventTriggered(HandoffChannelInitializer.DRAIN));
                // The authenticated upgrade starts its move: the channel leaves this loop in a
                // task queued behind the drain's.
                upgrades.upgrade(
                    ch.pipeline().context(HandoffChannelInitializer.HTTP_HANDLER), req);
                listener.close().syncUninterruptibly();
              })
          .get(10, TimeUnit.SECONDS);

      InputStream in = device.getInputStream();
      String answer = new String(in.readAllBytes(), StandardCharsets.US_ASCII);
      assertTrue(answer.startsWith("HTTP/1.1 503 "), "answered, not dropped: [" + answer + "]");
      assertTrue(answer.toLowerCase(java.util.Locale.ROOT).contains("connection: close"), answer);
      assertTrue(answer.contains("this node is draining"), answer);
      assertTrue(ch.closeFuture().await(10, TimeUnit.SECONDS), "the connection is closed");
      assertEquals(0, req.refCnt(), "the request is released");
    } finally {
      listener.close().sync();
      boss.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS).syncUninterruptibly();
      accepting.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS).syncUninterruptibly();
      home.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS).syncUninterruptibly();
    }
  }
}
