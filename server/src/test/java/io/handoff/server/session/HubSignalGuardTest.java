package io.handoff.server.session;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.CloseCode;
import io.handoff.protocol.bus.v1.DeviceKick;
import io.handoff.protocol.bus.v1.UserSignal;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.Hello;
import io.handoff.server.Conditions;
import io.handoff.server.Scheduler;
import io.handoff.server.ServerConfig;
import io.handoff.server.ServerStats;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.memory.MemoryEngine;
import io.handoff.server.handoff.HandoffService;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.DefaultEventLoopGroup;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.channel.local.LocalAddress;
import io.netty.channel.local.LocalChannel;
import io.netty.channel.local.LocalServerChannel;
import io.netty.handler.codec.http.EmptyHttpHeaders;
import io.netty.handler.codec.http.websocketx.BinaryWebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocketServerProtocolHandler;
import io.netty.util.ReferenceCountUtil;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The hub hands each broker signal to every session of its user in turn. One session's event loop
 * that refuses tasks (it is stopping) must not keep the user's other sessions from their signal.
 * The stopping session is on Netty's in-VM transport, on an event loop the test shuts down itself,
 * its channel taken off that loop first so that the shutdown does not close it (a stopping loop
 * closes the channels registered with it, whose sessions then leave the hub): its session stays
 * registered while its loop refuses tasks. The other is on an embedded channel. The sessions, the
 * hub and the memory engine with its broker are the real ones.
 */
class HubSignalGuardTest {
  private final MemoryEngine engine = new MemoryEngine(StoreLimits.builder().build());
  private final ServerStats stats = new ServerStats();
  private final ServerConfig config =
      ServerConfig.builder().port(0).jwtSecret("guard-secret-guard-secret-guard-secret").build();
  private final HandoffService handoff =
      new HandoffService(config, engine, stats, Scheduler.system());
  private final QueueBudget budget = new QueueBudget(config.queueBudgetBytes(), "guard");
  private final Hub hub = new Hub(engine.broker());
  private final Sessions sessions;
  private final DefaultEventLoopGroup stopping = new DefaultEventLoopGroup(1);
  private EmbeddedChannel tv;

  HubSignalGuardTest() {
    sessions =
        EmbeddedConnections.sessions(
            config, stats, engine, engine::resume, hub, handoff, budget, "guard");
    handoff.start();
  }

  @AfterEach
  void tearDown() {
    if (tv != null) {
      tv.finishAndReleaseAll();
    }
    stopping.shutdownGracefully(0, 0, TimeUnit.SECONDS).syncUninterruptibly();
    handoff.stop();
    budget.close();
    engine.close();
  }

  @Test
  void aSessionWhoseLoopRefusesTasksDoesNotKeepTheUsersOtherSessionsFromAKick() throws Exception {
    // The phone's session, registered first (the hub tells the user's sessions in that order).
    liveSessionOnStoppingLoop("u", "phone");
    tv = EmbeddedConnections.upgraded("u", "tv", config, stats, sessions);
    tv.writeInbound(hello());
    tv.runPendingTasks();
    assertEquals(2, hub.sessions(), "both sessions registered");

    stopping.shutdownGracefully(0, 0, TimeUnit.SECONDS).syncUninterruptibly();
    assertEquals(2, hub.sessions(), "the stopped loop's session is still registered");

    engine
        .broker()
        .signal(
            "u",
            UserSignal.newBuilder()
                .setKick(
                    DeviceKick.newBuilder()
                        .setCloseCode(CloseCode.SESSION_REVOKED.code())
                        .setReason("revoked by the test"))
                .build())
        .get(10, TimeUnit.SECONDS);
    tv.runPendingTasks();
    int[] closeCode = {-1};
    EmbeddedConnections.read(tv, f -> {}, code -> closeCode[0] = code);
    assertEquals(
        CloseCode.SESSION_REVOKED.code(),
        closeCode[0],
        "the tv is kicked although the phone's loop refused its kick");
  }

  /**
   * A session of {@code user}'s {@code device} past its Hello, on a connection of the in-VM
   * transport served by {@link #stopping}.
   */
  private void liveSessionOnStoppingLoop(String user, String device) throws Exception {
    LocalAddress address = new LocalAddress("hub-guard-" + device);
    CompletableFuture<Channel> served = new CompletableFuture<>();
    Channel server =
        new ServerBootstrap()
            .group(stopping)
            .channel(LocalServerChannel.class)
            .childHandler(
                new ChannelInitializer<LocalChannel>() {
                  @Override
                  protected void initChannel(LocalChannel ch) {
                    EmbeddedConnections.serve(ch, user, device, config, stats, sessions);
                    served.complete(ch);
                  }
                })
            .bind(address)
            .sync()
            .channel();
    new Bootstrap()
        .group(stopping)
        .channel(LocalChannel.class)
        .handler(
            new ChannelInboundHandlerAdapter() {
              @Override
              public void channelRead(ChannelHandlerContext ctx, Object msg) {
                ReferenceCountUtil.release(msg); // What the node sends the phone.
              }
            })
        .connect(address)
        .sync();
    Channel ch = served.get(10, TimeUnit.SECONDS);
    ch.eventLoop()
        .submit(
            () -> {
              ch.pipeline()
                  .fireUserEventTriggered(
                      new WebSocketServerProtocolHandler.HandshakeComplete(
                          "/ws", EmptyHttpHeaders.INSTANCE, null));
              ch.pipeline().fireChannelRead(hello());
            })
        .get(10, TimeUnit.SECONDS);
    Conditions.await(
        "the phone's session registered", () -> hub.sessions() == 1, Duration.ofSeconds(10));
    server.close().sync();
    // Off its loop, as a connection moving between loops is: the loop's shutdown does not close
    // it, so its session stays registered while the loop refuses tasks.
    ch.deregister().sync();
    assertTrue(ch.isActive());
  }

  private static BinaryWebSocketFrame hello() {
    byte[] bytes =
        ClientFrame.newBuilder().setHello(Hello.getDefaultInstance()).build().toByteArray();
    return new BinaryWebSocketFrame(Unpooled.wrappedBuffer(bytes));
  }
}
