package io.handoff.server;

import io.handoff.server.auth.AccessTokenVerifier;
import io.handoff.server.auth.AccessTokens;
import io.handoff.server.auth.Hs256TokenVerifier;
import io.handoff.server.auth.IdentityVerifier;
import io.handoff.server.auth.SigningKeys;
import io.handoff.server.auth.TokenConfig;
import io.handoff.server.auth.TokenVerifier;
import io.handoff.server.demo.DemoSite;
import io.handoff.server.devices.ApiHandler;
import io.handoff.server.devices.DeviceSessions;
import io.handoff.server.engine.Engine;
import io.handoff.server.engine.NodeIdInUseException;
import io.handoff.server.handoff.HandoffService;
import io.handoff.server.metrics.NodeMetrics;
import io.handoff.server.session.Hub;
import io.handoff.server.session.QueueBudget;
import io.handoff.server.session.Sessions;
import io.handoff.server.transport.AdminHandler;
import io.handoff.server.transport.CompactRecvByteBufAllocator;
import io.handoff.server.transport.ConnectionHandler;
import io.handoff.server.transport.HandoffChannelInitializer;
import io.handoff.server.transport.IoTransport;
import io.handoff.server.transport.Readiness;
import io.handoff.server.util.EventLoops;
import io.micrometer.core.instrument.Gauge;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.util.concurrent.GlobalEventExecutor;
import java.net.InetSocketAddress;
import java.time.Clock;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One Handoff node: binds the port and serves {@code /ws}, {@code /healthz}, {@code /readyz},
 * {@code /metrics} and the device-session API ({@code /v1/}, {@code /.well-known/jwks.json}) on the
 * given engine; with an admin port, {@code /metrics} moves there ({@link AdminHandler}). Only
 * bootstraps; the pipeline is assembled by {@link HandoffChannelInitializer}. The engine is the
 * caller's: closing the server does not close it.
 */
public final class HandoffServer implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(HandoffServer.class);
  private static final CompactRecvByteBufAllocator RECV_ALLOCATOR =
      new CompactRecvByteBufAllocator();

  private final ServerConfig config;
  private final Engine engine;
  private final Hub hub;
  private final NodeMetrics metrics;
  private final ServerStats stats;
  private final HandoffService handoff;
  private final QueueBudget budget;
  private final EventLoopGroup boss;
  private final EventLoopGroup workers;
  // The engine's I/O on the workers (Redis): undone before they stop.
  private final Engine.LoopBinding engineLoops;
  private final Channel serverChannel;
  private final Channel adminChannel; // null without --admin-port
  // Every accepted connection, until it closes: what a drain waits for.
  private final ChannelGroup connections = new DefaultChannelGroup(GlobalEventExecutor.INSTANCE);
  private final DeviceSessions deviceSessions;
  private final Readiness readiness;
  private volatile boolean ready;
  private final AtomicBoolean stopping = new AtomicBoolean();
  // Counted down once close() or abort() finished: a second close() waits for it.
  private final CountDownLatch stopped = new CountDownLatch(1);
  // Counted down when the delay before a drain ends: by its timer, a second close(), or this node's
  // id found taken (it must stop serving at once).
  private final CountDownLatch delayOver = new CountDownLatch(1);
  private final Scheduler time;
  private final Runnable releaseNode;
  // Another running process was found holding this node's id: set by the engine's timer; the node
  // drains and stops, and this completes, with why, once it did.
  private volatile NodeIdInUseException idTaken;
  private final AtomicBoolean stopForIdStarted = new AtomicBoolean();
  private final CompletableFuture<NodeIdInUseException> stoppedForId = new CompletableFuture<>();

  private HandoffServer(ServerConfig config, Engine engine, Scheduler time)
      throws InterruptedException {
    this.config = config;
    this.engine = engine;
    this.time = time;
    // Before anything is served or kept: a second process with this id refuses to start here.
    this.releaseNode = engine.claimNode(config.nodeId(), this::idTaken);
    // Whatever fails from here on gives back all that was made before it, the node id last.
    MadeSoFar made = new MadeSoFar(releaseNode);
    Channel bound = null;
    boolean binding = false;
    IoTransport.Chosen transport;
    try {
      this.metrics = new NodeMetrics(config.nodeId());
      made.then(metrics::close);
      this.stats = new ServerStats(metrics.registry());
      this.handoff = new HandoffService(config, engine, stats, time);
      made.then(handoff::stop);
      this.hub = new Hub(engine.broker(), time);
      this.budget = new QueueBudget(config.queueBudgetBytes(), config.nodeId());
      made.then(budget::close);
      Gauge.builder("handoff.queued.bytes", budget, QueueBudget::queuedBytes)
          .description("bytes queued towards devices on this node (outboxes and socket buffers)")
          .register(metrics.registry());
      Gauge.builder("handoff.queued.bytes.peak", budget, QueueBudget::highestQueuedBytes)
          .description(
              "the most bytes queued towards devices on this node at once since it started, as"
                  + " the budget's sweeps found it (every 100 ms, and as an outbox grows by 64 KiB)")
          .register(metrics.registry());
      Gauge.builder("handoff.queued.bytes.budget", budget, QueueBudget::limit)
          .description("the node's budget of queued bytes; past it the slowest devices are closed")
          .register(metrics.registry());
      handoff.start();
      transport = config.transport().ioTransport().choose();
      log.info("socket I/O: {} ({})", transport.transport(), transport.why());
      IoHandlerFactory io = transport.handlers();
      Class<? extends ServerChannel> channelType = transport.serverChannel();
      // Netty's io_uring channels do not read again once moved to another loop (the upgrade of a
      // moved connection is never answered), so with io_uring connections stay where accepted.
      boolean userLoops = config.userLoops() && transport.transport() != IoTransport.IO_URING;
      if (config.userLoops() && !userLoops) {
        log.info("user loops off: io_uring connections cannot move between event loops");
      }
      this.boss = made.loops(new MultiThreadIoEventLoopGroup(1, io));
      this.workers =
          made.loops(new MultiThreadIoEventLoopGroup(config.transport().eventLoops(), io));
      this.engineLoops =
          config.redisOnLoops()
              ? engine.bindLoops(workers, transport.transport().name().toLowerCase(Locale.ROOT))
              : engine.ownThreads();
      made.then(engineLoops::close);
      this.readiness =
          () ->
              idTaken != null
                  ? "node id taken by another running node; draining"
                  : stopping.get()
                      ? "draining"
                      : !ready
                          ? "starting"
                          : !engine.holdsNode(config.nodeId())
                              ? "node id held by another process"
                              : !engine.healthy()
                                  ? "store unreachable"
                                  : !engine.confirmsNode(config.nodeId())
                                      ? "node id lease not confirmed"
                                      : null;
      metrics.bindEventLoops(workers);
      metrics.bindNode(readiness, hub::users, hub::sessions);
      metrics.bindEngine(engine, config.nodeId(), () -> idTaken != null);
      Gauge.builder("handoff.draining", () -> stopping.get() ? 1 : 0)
          .description("1 from SIGTERM until the node has let every connection go")
          .register(metrics.registry());
      TokenVerifier development =
          new Hs256TokenVerifier(
              config.jwtSecret(),
              config.clockSkew(),
              config.tokens().maxTokenLifetime(),
              time.clock());
      this.deviceSessions = deviceSessions(config, engine, stats, time.clock());
      deviceSessions.attach(
          new io.handoff.server.devices.DeviceApprovals(
              config.approvals(),
              deviceSessions,
              engine,
              config.nodeId(),
              new io.handoff.server.devices.ApprovalMetrics(metrics.registry()),
              engine.handoff().clock()));
      TokenVerifier verifier = new AccessTokenVerifier(deviceSessions.accessTokens(), development);
      ServerBootstrap b =
          new ServerBootstrap()
              .group(boss, workers)
              .channel(channelType)
              .handler(
                  new ChannelInboundHandlerAdapter() {
                    @Override
                    public void channelRead(ChannelHandlerContext ctx, Object child) {
                      connections.add((Channel) child);
                      ctx.fireChannelRead(child);
                    }
                  })
              .option(ChannelOption.SO_BACKLOG, 4096)
              .childOption(ChannelOption.TCP_NODELAY, true)
              // One allocator for every connection (it is stateless; each channel still gets its
              // own handle, one object of 40 bytes with this allocator): the default is a new
              // allocator per connection.
              .childOption(ChannelOption.RECVBUF_ALLOCATOR, RECV_ALLOCATOR)
              .childOption(
                  ChannelOption.WRITE_BUFFER_WATER_MARK,
                  new WriteBufferWaterMark(
                      config.transport().writeBufferLowBytes(),
                      config.transport().writeBufferHighBytes()))
              .childHandler(
                  new HandoffChannelInitializer(
                      config,
                      stats,
                      time,
                      verifier,
                      readiness,
                      config.adminPort() < 0 ? metrics::scrape : null,
                      DemoSite.withDemo(
                          config,
                          new ApiHandler(
                              deviceSessions,
                              verifier,
                              stats,
                              time.clock(),
                              config,
                              time::nanoTime)),
                      deviceSessions::check,
                      new Sessions(
                          config,
                          stats,
                          time,
                          hub,
                          engine.store(),
                          engine,
                          handoff,
                          deviceSessions,
                          verifier,
                          budget),
                      userLoops ? workers : null));
      if (config.transport().socketSendBufferBytes() > 0) {
        // Bounds what the kernel holds for a device that does not read, which the queue budget
        // cannot see (see docs/decisions.md); 0 keeps the kernel's autotuning.
        b.childOption(ChannelOption.SO_SNDBUF, config.transport().socketSendBufferBytes());
      }
      binding = true;
      bound = b.bind(new InetSocketAddress(config.host(), config.port())).sync().channel();
      made.then(bound::close);
      this.adminChannel =
          config.adminPort() < 0
              ? null
              : AdminHandler.bind(
                  boss,
                  workers,
                  channelType,
                  config.adminHost(),
                  config.adminPort(),
                  readiness,
                  metrics::scrape);
      this.serverChannel = bound;
    } catch (Throwable e) {
      // Bind failures arrive as checked IOExceptions thrown sneakily.
      made.giveBack(e);
      // A host name that does not resolve: Netty throws the JDK's UnresolvedAddressException, an
      // IllegalArgumentException without a message.
      if (binding
          && (e instanceof java.io.IOException
              || e instanceof java.nio.channels.UnresolvedAddressException)) {
        throw bound == null
            ? new ListenException("port", config.host(), config.port(), e)
            : new ListenException("admin-port", config.adminHost(), config.adminPort(), e);
      }
      throw e;
    }
    this.ready = true;
    if (idTaken != null) {
      stopForTakenId();
    }
    log.info(
        "node {} listening on {}:{} ({} transport, {} engine)",
        config.nodeId(),
        config.host(),
        port(),
        transport.transport(),
        engine.name());
    log.info(
        "queued bytes towards devices: budget {} MiB ({}), {} KiB per connection",
        budget.limit() >> 20,
        config.queueBudgetBytes() == 0
            ? "a quarter of the smaller of heap and direct memory"
            : "configured",
        config.maxQueuedBytes() >> 10);
    if (adminChannel != null) {
      log.info(
          "management listener (/metrics, /healthz, /readyz) on {}:{}",
          config.adminHost(),
          adminPort());
    }
  }

  private static DeviceSessions deviceSessions(
      ServerConfig config, Engine engine, ServerStats stats, Clock clock) {
    TokenConfig t = config.tokens();
    SigningKeys keys = t.signingKeys();
    if (keys == null) {
      keys = SigningKeys.ephemeral();
      log.warn(
          "node {} signs access tokens with an EPHEMERAL key ({}): tokens die with this process and"
              + " other nodes refuse them; configure --signing-key for production",
          config.nodeId(),
          keys.current().getKeyID());
    }
    AccessTokens access = new AccessTokens(keys, t, config.clockSkew(), clock);
    IdentityVerifier identity = null;
    if (t.identityJwks() != null) {
      identity = new IdentityVerifier(t, config.clockSkew(), clock);
    } else {
      log.info("sign-in (POST /v1/sessions) is disabled: no identity JWKS configured");
    }
    return new DeviceSessions(
        t,
        identity,
        access,
        engine,
        config.nodeId(),
        config.storeLimits().maxDevicesPerUser(),
        stats,
        clock);
  }

  /** Sign-in, tokens, devices and erasure of this node. */
  public DeviceSessions deviceSessions() {
    return deviceSessions;
  }

  /**
   * Binds and starts serving.
   *
   * @throws ListenException when the port or the admin port cannot be bound
   */
  public static HandoffServer start(ServerConfig config, Engine engine)
      throws InterruptedException {
    return new HandoffServer(config, engine, Scheduler.system());
  }

  /**
   * Binds and starts serving on {@code time}: every clock read and timer of the node (heartbeats,
   * handshake limit, token and offer expiry, presence, rate limits, the API) goes through it.
   */
  public static HandoffServer start(ServerConfig config, Engine engine, Scheduler time)
      throws InterruptedException {
    return new HandoffServer(config, engine, time);
  }

  /** The bound port (the real one when the config asked for 0). */
  public int port() {
    return ((InetSocketAddress) serverChannel.localAddress()).getPort();
  }

  /** The bound management port, or -1 when the node runs no management listener. */
  public int adminPort() {
    return adminChannel == null ? -1 : ((InetSocketAddress) adminChannel.localAddress()).getPort();
  }

  /**
   * The engine found another running process holding this node's id (on its timer): not ready at
   * once, and a drain on a thread of its own, as SIGTERM would start, once the node is built.
   */
  private void idTaken(NodeIdInUseException e) {
    idTaken = e;
    delayOver.countDown(); // No delay before its drain: two nodes with one id must not serve.
    if (ready) {
      stopForTakenId();
    }
  }

  private void stopForTakenId() {
    if (!stopForIdStarted.compareAndSet(false, true)) {
      return;
    }
    log.error(
        "node {} stops: {}; not ready, draining: devices are told to reconnect elsewhere",
        config.nodeId(),
        idTaken.getMessage());
    Thread t =
        new Thread(
            () -> {
              try {
                close();
              } finally {
                stoppedForId.complete(idTaken);
              }
            },
            "handoff-node-id-taken");
    t.start();
  }

  /**
   * Completes, with why, once this node found another running node holding its id (it was cut off
   * from the store for longer than its claim on the id lasts, and the other started meanwhile) and
   * drained and stopped for it: a launcher exits then (code 2), so that its supervisor sees it.
   * Never completes otherwise.
   */
  public CompletableFuture<NodeIdInUseException> stoppedForTakenId() {
    return stoppedForId.copy();
  }

  /** Whether {@code /readyz} answers 200, and if not, why (draining, store unreachable). */
  public Readiness readiness() {
    return readiness;
  }

  /** How many event loops serve this node's connections. */
  public int eventLoops() {
    int n = 0;
    for (io.netty.util.concurrent.EventExecutor ignored : workers) {
      n++;
    }
    return n;
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

  /** The event loops that serve the connections (tests wait for them to run what is queued). */
  EventLoopGroup workers() {
    return workers;
  }

  public NodeMetrics metrics() {
    return metrics;
  }

  public ServerStats stats() {
    return stats;
  }

  /** The node's budget of bytes queued towards devices. */
  public QueueBudget queueBudget() {
    return budget;
  }

  /**
   * Stops at once, as a crash would: connections are cut without close frames. For failure tests;
   * production shutdown is {@link #close()}.
   */
  public void abort() {
    if (!stopping.compareAndSet(false, true)) {
      return;
    }
    try {
      abortNow();
    } finally {
      stopped.countDown();
    }
  }

  private void abortNow() {
    ready = false;
    handoff.stop(); // As in a crash: no more presence refreshes, no offline marks.
    serverChannel.close();
    if (adminChannel != null) {
      adminChannel.close();
    }
    // A dying process's sockets are closed by its kernel: cut every connection, below the pipeline
    // so no close frame goes out (event loops that stop do not reliably close their channels).
    for (Channel ch : connections) {
      ch.eventLoop().execute(() -> ch.unsafe().close(ch.unsafe().voidPromise()));
    }
    engineLoops.abandon(); // No take-backs of resumes in flight: a crashed process sends none.
    boss.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS);
    workers.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS).syncUninterruptibly();
    budget.close();
    metrics.close();
  }

  /**
   * Drains and stops: turns {@code /readyz} false; after the drain delay (on the node's scheduler),
   * during which it still accepts and serves, stops accepting, lets every session finish its writes
   * in flight (up to the drain timeout), tells each device to reconnect elsewhere (close code
   * SHUTDOWN), waits for the connections to close (up to the drain and close timeouts), cuts any
   * that remain, and stops the event loops. Nothing acked is lost and nothing in flight is dropped
   * unanswered unless the drain timeout passes; the devices re-send what was not acked. A call
   * while the node stops already ends what is left of the drain delay and returns once it stopped.
   */
  @Override
  public void close() {
    if (!stopping.compareAndSet(false, true)) {
      delayOver.countDown();
      boolean interrupted = false;
      while (true) {
        try {
          stopped.await();
          break;
        } catch (InterruptedException e) {
          interrupted = true;
        }
      }
      if (interrupted) {
        Thread.currentThread().interrupt();
      }
      return;
    }
    try {
      awaitDrainDelay();
      drainAndStop();
    } finally {
      stopped.countDown();
    }
  }

  /**
   * Waits the drain delay, {@code /readyz} answering 503 ({@code stopping} is set) while the
   * listener still accepts and every connection is served: a load balancer that has not probed
   * since still sends new connections here, and they are served rather than refused.
   */
  private void awaitDrainDelay() {
    Duration delay = config.drainDelay();
    if (delay.isZero() || delayOver.getCount() == 0) {
      return;
    }
    log.info(
        "node {} not ready; drains in {} (--drain-delay), serving until then",
        config.nodeId(),
        delay);
    java.util.concurrent.Future<?> timer =
        time.schedule(boss.next(), delayOver::countDown, delay.toNanos(), TimeUnit.NANOSECONDS);
    boolean interrupted = false;
    while (true) {
      try {
        delayOver.await();
        break;
      } catch (InterruptedException e) {
        interrupted = true;
      }
    }
    timer.cancel(false);
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }

  private void drainAndStop() {
    ready = false;
    serverChannel.close().syncUninterruptibly();
    for (Channel ch : connections) {
      // Upgraded: the session drains. Still in HTTP: answered (503, or an API request's answer)
      // and closed, or closed after the close timeout if idle (HttpRequestHandler).
      ch.pipeline().fireUserEventTriggered(HandoffChannelInitializer.DRAIN);
    }
    Duration bound = config.drainTimeout().plus(config.closeTimeout()).plusSeconds(1);
    long deadline = System.nanoTime() + bound.toNanos();
    // Once every loop has handled DRAIN: idle HTTP connections linger while the others drain.
    EventLoops.afterQueuedTasks(workers, config.closeTimeout());
    if (!connections
        .newCloseFuture(ch -> !ConnectionHandler.lingering(ch))
        .awaitUninterruptibly(bound.toMillis())) {
      log.warn("{} connections still open after {}; cutting them", connections.size(), bound);
    }
    connections.close().awaitUninterruptibly(1_000);
    // A closed connection's session ends (and sends its device's offline mark) in its inactive
    // event, which its loop runs after the close completed; then the marks, still on their way to
    // the store, before its connections close: within the same bound, or the close timeout when
    // that is spent.
    EventLoops.afterQueuedTasks(workers, config.closeTimeout());
    Duration left = Duration.ofNanos(Math.max(0, deadline - System.nanoTime()));
    if (!handoff.awaitLeaving(
        left.compareTo(config.closeTimeout()) > 0 ? left : config.closeTimeout())) {
      log.warn("offline marks of closed devices not all stored; others see them until re-read");
    }
    if (adminChannel != null) {
      adminChannel.close().syncUninterruptibly();
    }
    engineLoops.close();
    boss.shutdownGracefully(0, 1, TimeUnit.SECONDS);
    workers.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    handoff.stop();
    budget.close();
    metrics.close();
    // Its devices' offline marks are stored: another process may run a node with this id now.
    releaseNode.run();
    log.info("node {} stopped", config.nodeId());
  }
}
