package io.handoff.server;

import io.handoff.server.auth.Hs256TokenVerifier;
import io.handoff.server.auth.TokenVerifier;
import io.handoff.server.engine.Engine;
import io.handoff.server.transport.HandoffChannelInitializer;
import io.handoff.server.transport.HandoffService;
import io.handoff.server.transport.Hub;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import java.net.InetSocketAddress;
import java.time.Clock;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One Handoff node: binds the port and serves {@code /ws}, {@code /healthz} and {@code /readyz} on
 * the given engine. Only bootstraps; the pipeline is assembled by {@link
 * HandoffChannelInitializer}. The engine is the caller's: closing the server does not close it.
 */
public final class HandoffServer implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(HandoffServer.class);

  private final ServerConfig config;
  private final Engine engine;
  private final Hub hub;
  private final HandoffService handoff;
  private final ServerStats stats = new ServerStats();
  private final EventLoopGroup boss;
  private final EventLoopGroup workers;
  private final Channel serverChannel;
  private volatile boolean ready;

  private HandoffServer(ServerConfig config, Engine engine) throws InterruptedException {
    this.config = config;
    this.engine = engine;
    this.handoff = new HandoffService(config, engine, stats);
    this.hub = new Hub(engine.broker(), handoff);
    handoff.start(hub);
    boolean epoll = Epoll.isAvailable();
    IoHandlerFactory io = epoll ? EpollIoHandler.newFactory() : NioIoHandler.newFactory();
    Class<? extends ServerChannel> channelType =
        epoll ? EpollServerSocketChannel.class : NioServerSocketChannel.class;
    this.boss = new MultiThreadIoEventLoopGroup(1, io);
    this.workers = new MultiThreadIoEventLoopGroup(io);
    TokenVerifier verifier =
        new Hs256TokenVerifier(config.jwtSecret(), config.clockSkew(), Clock.systemUTC());
    ServerBootstrap b =
        new ServerBootstrap()
            .group(boss, workers)
            .channel(channelType)
            .option(ChannelOption.SO_BACKLOG, 4096)
            .childOption(ChannelOption.TCP_NODELAY, true)
            .childOption(
                ChannelOption.WRITE_BUFFER_WATER_MARK,
                new WriteBufferWaterMark(
                    config.writeBufferLowBytes(), config.writeBufferHighBytes()))
            .childHandler(
                new HandoffChannelInitializer(
                    config, engine.store(), hub, stats, verifier, () -> ready && engine.healthy()));
    try {
      this.serverChannel =
          b.bind(new InetSocketAddress(config.host(), config.port())).sync().channel();
    } catch (InterruptedException | RuntimeException e) {
      boss.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS);
      workers.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS);
      handoff.stop();
      throw e;
    }
    this.ready = true;
    log.info(
        "node {} listening on {}:{} ({} transport, {} engine)",
        config.nodeId(),
        config.host(),
        port(),
        epoll ? "epoll" : "nio",
        engine.name());
  }

  /** Binds and starts serving. */
  public static HandoffServer start(ServerConfig config, Engine engine)
      throws InterruptedException {
    return new HandoffServer(config, engine);
  }

  /** The bound port (the real one when the config asked for 0). */
  public int port() {
    return ((InetSocketAddress) serverChannel.localAddress()).getPort();
  }

  public ServerConfig config() {
    return config;
  }

  public Engine engine() {
    return engine;
  }

  public Hub hub() {
    return hub;
  }

  public ServerStats stats() {
    return stats;
  }

  /**
   * Stops at once, as a crash would: connections are cut without close frames. For failure tests;
   * production shutdown is {@link #close()}.
   */
  public void abort() {
    ready = false;
    handoff.stop(); // As in a crash: no more presence refreshes, no offline marks.
    serverChannel.close();
    boss.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS);
    workers.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS).syncUninterruptibly();
  }

  /**
   * Stops accepting, tells every device to reconnect elsewhere (close code SHUTDOWN), waits up to
   * the close timeout for them to go, and stops the event loops.
   */
  @Override
  public void close() {
    ready = false;
    serverChannel.close().syncUninterruptibly();
    hub.shutdownAll();
    long deadline = System.nanoTime() + config.closeTimeout().toNanos() * 2;
    while (stats.openConnections() > 0 && System.nanoTime() < deadline) {
      try {
        Thread.sleep(10);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
    }
    boss.shutdownGracefully(0, 1, TimeUnit.SECONDS);
    workers.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    handoff.stop();
    log.info("node {} stopped", config.nodeId());
  }
}
