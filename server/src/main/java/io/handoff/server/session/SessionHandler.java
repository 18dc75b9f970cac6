package io.handoff.server.session;

import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.Ack;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.Disconnect;
import io.handoff.protocol.v1.DocumentSync;
import io.handoff.protocol.v1.Error;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.Follow;
import io.handoff.protocol.v1.Hello;
import io.handoff.protocol.v1.Pong;
import io.handoff.protocol.v1.Position;
import io.handoff.protocol.v1.Resync;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.protocol.v1.Snapshot;
import io.handoff.protocol.v1.SyncReport;
import io.handoff.protocol.v1.Unfollow;
import io.handoff.protocol.v1.Welcome;
import io.handoff.protocol.v1.Write;
import io.handoff.server.ServerConfig;
import io.handoff.server.ServerStats;
import io.handoff.server.auth.Principal;
import io.handoff.server.auth.TokenVerifier;
import io.handoff.server.devices.ApprovalPrompts;
import io.handoff.server.devices.DeviceSessions;
import io.handoff.server.devices.TokenKeeper;
import io.handoff.server.handoff.HandoffSession;
import io.handoff.server.sync.DocumentEvent;
import io.handoff.server.sync.DocumentStore;
import io.handoff.server.sync.FollowFilter;
import io.handoff.server.sync.SyncResult;
import io.handoff.server.sync.WriteOutcome;
import io.handoff.server.sync.WriteValidator;
import io.handoff.server.transport.ControlFrameHandler;
import io.handoff.server.transport.HandoffChannelInitializer;
import io.handoff.server.transport.Heartbeats;
import io.handoff.server.transport.HttpRequestHandler;
import io.handoff.server.transport.ProtocolViolation;
import io.handoff.server.transport.TokenBucket;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoop;
import io.netty.channel.socket.DuplexChannel;
import io.netty.handler.codec.CorruptedFrameException;
import io.netty.handler.codec.TooLongFrameException;
import io.netty.handler.codec.compression.DecompressionException;
import io.netty.handler.codec.http.websocketx.BinaryWebSocketFrame;
import io.netty.handler.codec.http.websocketx.CloseWebSocketFrame;
import io.netty.handler.codec.http.websocketx.PingWebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocketServerProtocolHandler;
import io.netty.handler.ssl.NotSslRecordException;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicIntegerFieldUpdater;
import java.util.concurrent.atomic.AtomicLongFieldUpdater;
import java.util.concurrent.atomic.AtomicReferenceFieldUpdater;
import java.util.function.BiConsumer;
import javax.net.ssl.SSLException;
import org.jctools.queues.MpscChunkedArrayQueue;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One device's connection after the WebSocket handshake: the protocol state machine.
 *
 * <h2>Threads</h2>
 *
 * Everything here runs on the channel's event loop except {@link #offer}, which the broker calls on
 * its own thread: it only puts the event in a bounded lock-free queue and schedules {@link #drain}
 * on the event loop. Store futures hop back onto the event loop before touching any state.
 *
 * <h2>Ordering</h2>
 *
 * For each followed document the session keeps a cursor: the epoch and last version this device has
 * been sent. A pushed event is sent only if it is exactly the next version; an older one is dropped
 * (duplicate), a newer one starts a fetch from history (gap), during which events of that document
 * are dropped and the highest version seen is remembered, so the fetch is repeated until it caught
 * up. The device therefore sees every document's versions in order, once, with no gap.
 *
 * <p>Token expiry, in-band token refresh and the device-session frames are handled by this
 * connection's {@link TokenKeeper}, on the same event loop.
 *
 * <p>A device's own write comes back through the same stream: where the other devices get a Delta,
 * the writer gets its Ack, in the same position of the stream. Refusals, duplicates and writes to
 * documents the device does not follow are answered directly.
 */
public final class SessionHandler extends ChannelInboundHandlerAdapter {
  private static final Logger log = LoggerFactory.getLogger(SessionHandler.class);
  private static final int DRAIN_BATCH = 512;
  private static final AtomicLongFieldUpdater<SessionHandler> QUEUED_BYTES =
      AtomicLongFieldUpdater.newUpdater(SessionHandler.class, "queuedBytes");
  private static final AtomicIntegerFieldUpdater<SessionHandler> DRAIN_SCHEDULED =
      AtomicIntegerFieldUpdater.newUpdater(SessionHandler.class, "drainScheduled");

  @SuppressWarnings("rawtypes")
  private static final AtomicReferenceFieldUpdater<SessionHandler, MpscChunkedArrayQueue> QUEUE =
      AtomicReferenceFieldUpdater.newUpdater(
          SessionHandler.class, MpscChunkedArrayQueue.class, "queue");

  private static final AtomicIntegerFieldUpdater<SessionHandler> OVERFLOWED =
      AtomicIntegerFieldUpdater.newUpdater(SessionHandler.class, "overflowed");

  private enum Phase {
    HANDSHAKE,
    AWAIT_HELLO,
    SYNCING,
    LIVE,
    CLOSED
  }

  private final ServerConfig config;
  private final DocumentStore store;
  private final Hub hub;
  private final ServerStats stats;
  private final WriteValidator validator;
  private final TokenVerifier verifier;
  private final DeviceSessions deviceSessions;
  private final HandoffSession handoff;

  private ChannelHandlerContext ctx;
  private EventLoop loop;
  private Principal principal;
  private Phase phase = Phase.HANDSHAKE;
  private boolean closing;
  private boolean draining;
  private TokenBucket writeBucket; // Created on the first write: idle connections carry none.
  // Heartbeats: when the device was last heard, whether it was pinged since, and the links of this
  // event loop's list of sessions (see Heartbeats).
  private long lastReadNanos;
  private boolean pinged;
  private Heartbeats heartbeats;
  public SessionHandler hbPrev;
  public SessionHandler hbNext;
  private boolean registered;
  // Token expiry and device-session frames (issue 4); set at the handshake.
  private TokenKeeper tokens;
  // Approval prompts and answers (device sign-in); set at the handshake.
  private volatile ApprovalPrompts approvals;
  // The principal this connection was recorded online as, if any.
  private Principal onlineAs;
  private FollowFilter follow;
  private final HashMap<String, Cursor> cursors = new HashMap<>();
  private final LinkedHashMap<Long, InFlight> inFlight = new LinkedHashMap<>();

  // Written by broker threads, read by the event loop.
  private volatile MpscChunkedArrayQueue<DocumentEvent> queue;
  private volatile long queuedBytes;
  private volatile int drainScheduled;
  private volatile int overflowed;
  private volatile boolean dead;
  private final Runnable drainTask = this::drain;

  public SessionHandler(
      ServerConfig config,
      DocumentStore store,
      Hub hub,
      ServerStats stats,
      WriteValidator validator,
      TokenVerifier verifier,
      DeviceSessions deviceSessions) {
    this.config = config;
    this.store = store;
    this.hub = hub;
    this.stats = stats;
    this.validator = validator;
    this.verifier = verifier;
    this.deviceSessions = deviceSessions;
    this.handoff = new HandoffSession(this, hub.handoff());
  }

  public String userId() {
    return principal.userId();
  }

  public String deviceId() {
    return principal.deviceId();
  }

  // ---------------------------------------------------------------------------------------------
  // Channel lifecycle
  // ---------------------------------------------------------------------------------------------

  @Override
  public void handlerAdded(ChannelHandlerContext ctx) {
    this.ctx = ctx;
    this.loop = ctx.channel().eventLoop();
  }

  @Override
  public void channelActive(ChannelHandlerContext ctx) {
    stats.connectionsOpened.increment();
    // A connection that never completes its upgrade is cut after the handshake timeout.
    loop.schedule(
        () -> {
          if (phase == Phase.HANDSHAKE) {
            ctx.close();
          }
        },
        config.handshakeTimeout().toMillis(),
        TimeUnit.MILLISECONDS);
    ctx.fireChannelActive();
  }

  @Override
  public void channelReadComplete(ChannelHandlerContext ctx) {
    // Every read from the socket, pongs and control frames included, counts as the device alive.
    lastReadNanos = System.nanoTime();
    pinged = false;
    ctx.flush();
    ctx.fireChannelReadComplete();
  }

  /**
   * Called by this event loop's heartbeat timer: ping after one silent interval, close after two.
   */
  public void checkHeartbeat(long now) {
    if (closing || phase == Phase.CLOSED) {
      return;
    }
    long silent = now - lastReadNanos;
    long interval = config.heartbeatInterval().toNanos();
    if (silent >= 2 * interval) {
      stats.idleCloses.increment();
      closeWith(CloseCode.IDLE_TIMEOUT, "nothing received for two heartbeat intervals");
    } else if (silent >= interval && !pinged) {
      pinged = true;
      ctx.writeAndFlush(new PingWebSocketFrame(Unpooled.EMPTY_BUFFER));
    }
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    if (heartbeats != null) {
      heartbeats.remove(this);
      heartbeats = null;
    }
    stats.connectionsClosed.increment();
    phase = Phase.CLOSED;
    dead = true;
    if (registered) {
      registered = false;
      hub.unregister(this);
      handoff.closed();
      approvals.closed();
    }
    if (tokens != null) {
      tokens.stop();
      if (onlineAs != null) {
        deviceSessions.seen(onlineAs, false);
      }
    }
    if (queue != null) {
      queue.clear();
    }
    cursors.clear();
    inFlight.clear();
    ctx.fireChannelInactive();
  }

  @Override
  public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
    if (evt instanceof WebSocketServerProtocolHandler.HandshakeComplete) {
      principal = ctx.channel().attr(HttpRequestHandler.PRINCIPAL).getAndRemove();
      if (principal == null) {
        // Unreachable: the HTTP handler only forwards authenticated upgrades.
        ctx.close();
        return;
      }
      if (ctx.pipeline().get(HandoffChannelInitializer.HTTP_HANDLER) != null) {
        ctx.pipeline().remove(HandoffChannelInitializer.HTTP_HANDLER);
      }
      ControlFrameHandler.install(ctx, HandoffChannelInitializer.WS_HANDLER);
      phase = Phase.AWAIT_HELLO;
      lastReadNanos = System.nanoTime();
      heartbeats = Heartbeats.current();
      heartbeats.add(this, loop, config.heartbeatInterval().toNanos());
      tokens =
          new TokenKeeper(
              this, ctx, principal, verifier, deviceSessions, stats, java.time.Clock.systemUTC());
      tokens.start();
      approvals = new ApprovalPrompts(deviceSessions.approvals(), new ApprovalLink(this));
      return;
    }
    if (evt == HandoffChannelInitializer.DRAIN) {
      shutdown();
      return;
    }
    ctx.fireUserEventTriggered(evt);
  }

  @Override
  public void channelWritabilityChanged(ChannelHandlerContext ctx) {
    boolean writable = ctx.channel().isWritable();
    // A device that does not read our pushes does not get its requests read either, so answers to
    // them cannot pile up in the outbound buffer.
    ctx.channel().config().setAutoRead(writable && !draining);
    if (writable && phase == Phase.LIVE) {
      drain();
    }
    ctx.fireChannelWritabilityChanged();
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    for (Throwable t = cause; t != null; t = t.getCause()) {
      if (t instanceof ProtocolViolation v) {
        stats.protocolErrorCloses.increment();
        closeWith(v.code(), v.getMessage());
        return;
      }
      if (t instanceof TooLongFrameException
          || (t instanceof CorruptedFrameException
              && String.valueOf(t.getMessage()).contains("length"))) {
        stats.protocolErrorCloses.increment();
        closeWith(
            CloseCode.FRAME_TOO_LARGE, "frame larger than " + config.maxFrameBytes() + " bytes");
        return;
      }
      if (t instanceof DecompressionException) {
        stats.protocolErrorCloses.increment();
        closeWith(
            CloseCode.FRAME_TOO_LARGE,
            "compressed frame inflates past " + config.maxFrameBytes() + " bytes");
        return;
      }
      if (t instanceof CorruptedFrameException) {
        stats.protocolErrorCloses.increment();
        closeWith(CloseCode.PROTOCOL_ERROR, "bad WebSocket frame: " + t.getMessage());
        return;
      }
    }
    for (Throwable t = cause; t != null; t = t.getCause()) {
      if (t instanceof SSLException || t instanceof NotSslRecordException) {
        log.debug("TLS failure on {}: {}", ctx.channel(), t.toString());
        ctx.close();
        return;
      }
    }
    if (cause instanceof IOException) {
      log.debug("connection error on {}: {}", ctx.channel(), cause.toString());
      ctx.close();
      return;
    }
    log.warn("unexpected error on {}", ctx.channel(), cause);
    closeWith(CloseCode.INTERNAL_ERROR, "internal error");
  }

  /** Another connection of the same device took over. Any thread. */
  void replaced() {
    dead = true;
    loop.execute(() -> closeWith(CloseCode.REPLACED, CloseCode.REPLACED.reason()));
  }

  /** Closes this session with {@code code}, as another node or an operator asked. Any thread. */
  void kick(CloseCode code, String reason) {
    dead = true;
    loop.execute(() -> closeWith(code, reason.isEmpty() ? code.reason() : reason));
  }

  /**
   * Drains this session: reads no more requests, lets the writes in flight be acked (for at most
   * the drain timeout), then tells the device to reconnect elsewhere (SHUTDOWN) and closes. Any
   * thread.
   */
  void shutdown() {
    loop.execute(
        () -> {
          if (closing || phase == Phase.CLOSED) {
            return;
          }
          draining = true;
          ctx.channel().config().setAutoRead(false);
          loop.schedule(
              () -> closeWith(CloseCode.SHUTDOWN, CloseCode.SHUTDOWN.reason()),
              config.drainTimeout().toMillis(),
              TimeUnit.MILLISECONDS);
          finishDrainIfDone();
        });
  }

  /** A draining session closes as soon as its last write in flight has its answer. */
  private void finishDrainIfDone() {
    if (draining && inFlight.isEmpty()) {
      closeWith(CloseCode.SHUTDOWN, CloseCode.SHUTDOWN.reason());
    }
  }

  /**
   * Sends Disconnect and a close frame with {@code code}, then closes. The channel is cut after the
   * close timeout even if the device never reads the close frame.
   */
  public void closeWith(CloseCode code, String reason) {
    if (closing || phase == Phase.CLOSED) {
      return;
    }
    closing = true;
    dead = true;
    String shortReason = reason.length() > 120 ? reason.substring(0, 120) : reason;
    if (phase != Phase.HANDSHAKE) {
      ctx.write(
          ServerFrame.newBuilder()
              .setDisconnect(
                  Disconnect.newBuilder()
                      .setCode(code.code())
                      .setReason(reason)
                      .setReconnect(code.reconnect()))
              .build());
    }
    // Half-close after the close frame so that unread input does not turn our FIN into a reset
    // that could destroy the close frame before the device reads it; input is discarded until the
    // device closes too, or the close timeout cuts the channel.
    ctx.writeAndFlush(new CloseWebSocketFrame(code.code(), shortReason))
        .addListener(
            f -> {
              if (f.isSuccess() && ctx.channel() instanceof DuplexChannel duplex) {
                duplex.shutdownOutput();
              } else {
                ctx.channel().close();
              }
            });
    loop.schedule(
        () -> {
          ctx.channel().close();
        },
        config.closeTimeout().toMillis(),
        TimeUnit.MILLISECONDS);
  }

  // ---------------------------------------------------------------------------------------------
  // Frames from the device
  // ---------------------------------------------------------------------------------------------

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (!(msg instanceof ClientFrame frame)) {
      ctx.fireChannelRead(msg);
      return;
    }
    if (closing || phase == Phase.CLOSED) {
      return;
    }
    long id = frame.getRequestId();
    if (phase == Phase.AWAIT_HELLO
        && frame.getBodyCase() != ClientFrame.BodyCase.HELLO
        && frame.getBodyCase() != ClientFrame.BodyCase.PING) {
      sendError(id, ErrorCode.UNEXPECTED_FRAME, "send Hello first", null, 0, 0, 0, false);
      ctx.flush();
      return;
    }
    switch (frame.getBodyCase()) {
      case HELLO -> onHello(id, frame.getHello());
      case WRITE -> onWrite(id, frame.getWrite());
      case FOLLOW -> onFollow(id, frame.getFollow());
      case UNFOLLOW -> onUnfollow(id, frame.getUnfollow());
      case RESYNC -> onResync(id, frame.getResync());
      case REFRESH_TOKEN -> tokens.onRefreshToken(id, frame.getRefreshToken().getAccessToken());
      case LIST_DEVICES -> tokens.onListDevices(id);
      case REVOKE_DEVICE -> tokens.onRevokeDevice(id, frame.getRevokeDevice());
      case PUBLISH_ACTIVITY, OFFER_ACTIVITY, ACCEPT_OFFER, DECLINE_OFFER, CANCEL_OFFER ->
          handoff.onFrame(id, frame);
      case VERIFY_USER_CODE -> approvals.onVerify(id, frame.getVerifyUserCode().getUserCode());
      case ANSWER_APPROVAL -> approvals.onAnswer(id, frame.getAnswerApproval());
      case PING ->
          ctx.write(
              ServerFrame.newBuilder()
                  .setRequestId(id)
                  .setPong(
                      Pong.newBuilder()
                          .setNonce(frame.getPing().getNonce())
                          .setServerTimeMs(System.currentTimeMillis()))
                  .build());
      default ->
          sendError(
              id,
              ErrorCode.BAD_REQUEST,
              "empty frame, or a frame type this server does not know",
              null,
              0,
              0,
              0,
              false);
    }
  }

  private void onHello(long id, Hello hello) {
    if (phase != Phase.AWAIT_HELLO) {
      sendError(id, ErrorCode.UNEXPECTED_FRAME, "Hello was already sent", null, 0, 0, 0, false);
      return;
    }
    FollowFilter filter =
        hello.hasFollow() ? FollowFilter.of(hello.getFollow()) : FollowFilter.all();
    String problem = checkFollow(filter, hello.getPositionsList());
    if (problem != null) {
      sendError(id, ErrorCode.LIMIT_EXCEEDED, problem, null, 0, 0, 0, false);
      return;
    }
    follow = filter;
    phase = Phase.SYNCING;
    CompletableFuture<Void> registration = hub.register(this, config.maxConnectionsPerUser());
    if (registration == null) {
      closeWith(
          CloseCode.POLICY_VIOLATION,
          "this user already has "
              + config.maxConnectionsPerUser()
              + " connections on this node, the limit");
      return;
    }
    // A session revoked between the upgrade and now was kicked before this node listened: check
    // again once the subscription is live.
    CompletableFuture<Void> subscribed = registration.thenCompose(v -> stillAlive());
    registered = true;
    FollowFilter snapshot = filter.copy();
    List<Position> positions = hello.getPositionsList();
    // Read only once the fan-out subscription is live: a write after the read is then pushed.
    CompletableFuture<Map.Entry<Long, List<SyncResult>>> resume =
        subscribed.thenCompose(
            v ->
                store
                    .lastClientSeq(userId(), deviceId())
                    .thenCombine(
                        store.sync(userId(), snapshot, positions),
                        (s, results) -> Map.entry(s, results)));
    CompletableFuture<HandoffSession.Extras> extras =
        subscribed.thenCompose(v -> handoff.connect());
    onLoop(
        resume.thenCombine(extras, Map::entry),
        (rx, err) -> {
          Map.Entry<Long, List<SyncResult>> r = err == null ? rx.getKey() : null;
          if (err != null) {
            if (rootCause(err) instanceof SessionGone gone) {
              closeWith(CloseCode.SESSION_REVOKED, gone.getMessage());
              return;
            }
            log.warn("resume of {}/{} failed: {}", userId(), deviceId(), rootMessage(err));
            closeWith(CloseCode.UNAVAILABLE, "store unavailable during resume");
            return;
          }
          SyncReport report = report(r.getValue());
          Welcome.Builder welcome =
              Welcome.newBuilder()
                  .setUserId(userId())
                  .setDeviceId(deviceId())
                  .setNodeId(config.nodeId())
                  .setLastClientSeq(r.getKey())
                  .setHeartbeatIntervalMs((int) config.heartbeatInterval().toMillis())
                  .setMaxFrameBytes(config.maxFrameBytes())
                  .setMaxInFlightWrites(config.maxInFlightWrites())
                  .setSync(report)
                  .setTokenExpiresAtMs(tokens.principal().expiresAtMillis())
                  .setSessionId(principal.sessionId());
          handoff.welcome(welcome, rx.getValue());
          ctx.write(ServerFrame.newBuilder().setRequestId(id).setWelcome(welcome).build());
          if (principal.hasSession()) {
            onlineAs = principal;
            deviceSessions.seen(principal, true);
          }
          for (SyncResult result : r.getValue()) {
            Cursor c = new Cursor();
            cursors.put(result.document(), c);
            deliver(result.document(), c, result);
          }
          phase = Phase.LIVE;
          handoff.welcomed();
          approvals.welcomed();
          ctx.flush();
          drain();
        });
  }

  private String checkFollow(FollowFilter filter, List<Position> positions) {
    if (filter.size() > config.maxFollowEntries()) {
      return "following "
          + filter.size()
          + " names and prefixes; the limit is "
          + config.maxFollowEntries();
    }
    if (positions.size() > config.storeLimits().maxDocumentsPerUser()) {
      return positions.size()
          + " positions; the limit is "
          + config.storeLimits().maxDocumentsPerUser();
    }
    for (String d : filter.documents()) {
      String p = validator.checkName("document name", d);
      if (p != null) {
        return p;
      }
    }
    for (Position p : positions) {
      String problem = validator.checkName("document name", p.getDocument());
      if (problem != null) {
        return problem;
      }
    }
    return null;
  }

  private void onWrite(long id, Write w) {
    WriteOutcome bad = validator.check(w);
    if (bad != null) {
      stats.writesRefused.increment();
      sendError(id, bad.error(), bad.message(), w.getDocument(), w.getClientSeq(), 0, 0, false);
      return;
    }
    long seq = w.getClientSeq();
    if (inFlight.containsKey(seq)) {
      return; // The same write is being applied; its ack will answer both copies.
    }
    if (config.writeRatePerSecond() > 0) {
      long now = System.nanoTime();
      if (writeBucket == null) {
        writeBucket = new TokenBucket(config.writeRatePerSecond(), config.writeBurst(), now);
      }
      if (!writeBucket.tryTake(now)) {
        stats.writesRateLimited.increment();
        sendError(
            id,
            ErrorCode.RATE_LIMITED,
            "more than "
                + (long) config.writeRatePerSecond()
                + " writes/s on this connection; retry in "
                + writeBucket.millisToNextToken()
                + " ms",
            w.getDocument(),
            seq,
            0,
            0,
            true);
        return;
      }
    }
    if (inFlight.size() >= config.maxInFlightWrites()) {
      sendError(
          id,
          ErrorCode.TOO_MANY_IN_FLIGHT,
          inFlight.size() + " writes are waiting for their acks; wait for some before sending more",
          w.getDocument(),
          seq,
          0,
          0,
          true);
      return;
    }
    InFlight p = new InFlight(w.getDocument(), id);
    inFlight.put(seq, p);
    onLoop(store.write(userId(), deviceId(), w), (out, err) -> writeDone(seq, p, out, err));
  }

  private void writeDone(long seq, InFlight p, WriteOutcome out, Throwable err) {
    if (inFlight.get(seq) != p) {
      return; // Already acked in the stream.
    }
    if (err != null) {
      inFlight.remove(seq);
      log.warn("write of {}/{} failed: {}", userId(), deviceId(), rootMessage(err));
      sendError(
          p.requestId,
          ErrorCode.UNAVAILABLE,
          "the store could not apply the write; nothing was changed, re-send it",
          p.document,
          seq,
          0,
          0,
          true);
    } else if (!out.isApplied()) {
      inFlight.remove(seq);
      stats.writesRefused.increment();
      sendError(
          p.requestId,
          out.error(),
          out.message(),
          p.document,
          seq,
          out.epoch(),
          out.version(),
          out.error() == ErrorCode.UNAVAILABLE);
    } else if (out.duplicate()) {
      inFlight.remove(seq);
      sendAck(p, seq, out.epoch(), out.version(), true);
    } else {
      stats.writesApplied.increment();
      p.epoch = out.epoch();
      p.version = out.version();
      Cursor c = cursors.get(p.document);
      if (!follow.follows(p.document)
          || (c != null && !c.syncing && c.epoch == p.epoch && c.version >= p.version)) {
        inFlight.remove(seq);
        sendAck(p, seq, p.epoch, p.version, false);
      }
      // Otherwise the ack goes out when the stream reaches this version.
    }
    ctx.flush();
    finishDrainIfDone();
  }

  private void onFollow(long id, Follow f) {
    FollowFilter added = FollowFilter.of(f.getSpec());
    FollowFilter merged = follow.copy();
    merged.add(f.getSpec());
    String problem = checkFollow(merged, f.getPositionsList());
    if (problem != null) {
      sendError(id, ErrorCode.LIMIT_EXCEEDED, problem, null, 0, 0, 0, false);
      return;
    }
    follow = merged;
    List<Position> positions = new ArrayList<>();
    for (Position p : f.getPositionsList()) {
      if (!cursors.containsKey(p.getDocument())) {
        positions.add(p);
      }
    }
    syncThenReport(id, store.sync(userId(), added, positions), null);
  }

  private void onUnfollow(long id, Unfollow u) {
    follow.remove(u.getSpec());
    cursors.keySet().removeIf(doc -> !follow.follows(doc));
    ctx.write(
        ServerFrame.newBuilder()
            .setRequestId(id)
            .setSyncReport(SyncReport.getDefaultInstance())
            .build());
  }

  private void onResync(long id, Resync r) {
    if (r.getPositionsCount() > config.storeLimits().maxDocumentsPerUser()) {
      sendError(id, ErrorCode.LIMIT_EXCEEDED, "too many positions", null, 0, 0, 0, false);
      return;
    }
    List<CompletableFuture<SyncResult>> reads = new ArrayList<>();
    Map<String, Cursor> claimed = new HashMap<>();
    for (Position p : r.getPositionsList()) {
      if (!follow.follows(p.getDocument()) || claimed.containsKey(p.getDocument())) {
        continue;
      }
      Cursor c = cursors.computeIfAbsent(p.getDocument(), k -> new Cursor());
      c.epoch = p.getEpoch();
      c.version = p.getVersion();
      c.syncing = true;
      c.generation++;
      claimed.put(p.getDocument(), c);
      reads.add(store.read(userId(), p.getDocument(), p.getEpoch(), p.getVersion()));
    }
    CompletableFuture<List<SyncResult>> all =
        CompletableFuture.allOf(reads.toArray(new CompletableFuture<?>[0]))
            .thenApply(v -> reads.stream().map(CompletableFuture::join).toList());
    syncThenReport(id, all, claimed);
  }

  /**
   * When {@code results} arrive: a SyncReport answering request {@code id}, then the frames it
   * announces. {@code claimed} are cursors this request reset (Resync); a cursor reset again since
   * is left to the newer request.
   */
  private void syncThenReport(
      long id, CompletableFuture<List<SyncResult>> results, Map<String, Cursor> claimed) {
    Map<String, Long> generations = new HashMap<>();
    if (claimed != null) {
      claimed.forEach((doc, c) -> generations.put(doc, c.generation));
    }
    onLoop(
        results,
        (list, err) -> {
          if (err != null) {
            log.warn("sync of {}/{} failed: {}", userId(), deviceId(), rootMessage(err));
            closeWith(CloseCode.UNAVAILABLE, "store unavailable during sync");
            return;
          }
          List<SyncResult> fresh = new ArrayList<>();
          for (SyncResult result : list) {
            Cursor c = cursors.get(result.document());
            if (claimed == null) {
              if (c != null || !follow.follows(result.document())) {
                continue; // Already synced through the stream.
              }
              c = new Cursor();
              cursors.put(result.document(), c);
            } else if (c == null || c.generation != generations.get(result.document())) {
              continue;
            }
            c.syncing = false;
            fresh.add(result);
          }
          ctx.write(ServerFrame.newBuilder().setRequestId(id).setSyncReport(report(fresh)).build());
          for (SyncResult result : fresh) {
            Cursor c = cursors.get(result.document());
            deliver(result.document(), c, result);
            catchUp(result.document(), c);
          }
          ctx.flush();
        });
  }

  // ---------------------------------------------------------------------------------------------
  // Pushes
  // ---------------------------------------------------------------------------------------------

  /**
   * Hands an event to this session. Called on the broker's thread; never blocks. A session whose
   * queue is over its bounds is closed with SLOW_CONSUMER.
   */
  void offer(DocumentEvent event) {
    if (dead) {
      return;
    }
    int size = cost(event);
    MpscChunkedArrayQueue<DocumentEvent> q = queue;
    if (q == null) {
      // Allocated on the first push, so an idle connection holds no queue at all.
      q = new MpscChunkedArrayQueue<>(8, Math.max(16, config.maxQueuedFrames()));
      if (!QUEUE.compareAndSet(this, null, q)) {
        q = queue;
      }
    }
    if (!q.offer(event)) {
      overflow();
      return;
    }
    long bytes = QUEUED_BYTES.addAndGet(this, size);
    stats.maxQueuedBytes.accumulate(bytes);
    if (bytes > config.maxQueuedBytes()) {
      overflow();
      return;
    }
    if (DRAIN_SCHEDULED.compareAndSet(this, 0, 1)) {
      try {
        loop.execute(drainTask);
      } catch (RejectedExecutionException stopped) {
        dead = true; // The node's event loops are gone (an aborted node): nothing to deliver to.
      }
    }
  }

  /** Bytes an event will cost this device: the delta, or just an ack for its own write. */
  private int cost(DocumentEvent e) {
    return e.originDevice().equals(principal.deviceId()) ? 64 : e.sizeBytes();
  }

  private void overflow() {
    dead = true;
    if (OVERFLOWED.compareAndSet(this, 0, 1)) {
      stats.slowConsumerCloses.increment();
      loop.execute(
          () -> {
            if (queue != null) {
              queue.clear();
              QUEUED_BYTES.set(this, 0);
            }
            closeWith(CloseCode.SLOW_CONSUMER, "outbound queue over its bound; resume later");
          });
    }
  }

  /**
   * The broker may have lost events: re-read every followed document from its cursor, and take
   * followed documents this session has not seen yet from a snapshot. Documents that did not move
   * answer UP_TO_DATE. Any thread.
   */
  void recheck() {
    if (dead) {
      return;
    }
    loop.execute(
        () -> {
          if (phase != Phase.LIVE || closing) {
            return;
          }
          for (Map.Entry<String, Cursor> e : new ArrayList<>(cursors.entrySet())) {
            Cursor c = e.getValue();
            if (c.syncing) {
              c.recheck = true; // The read under way may predate the loss: read again after it.
            } else {
              fetch(e.getKey(), c, c.version);
            }
          }
          // Documents this session has no cursor for yet: their first events may be among the lost.
          onLoop(
              store.documents(userId()),
              (names, err) -> {
                if (err != null) {
                  log.warn("recheck of {}/{} failed: {}", userId(), deviceId(), rootMessage(err));
                  return;
                }
                for (String doc : names) {
                  if (follow.follows(doc) && !cursors.containsKey(doc)) {
                    Cursor c = new Cursor();
                    cursors.put(doc, c);
                    fetch(doc, c, 0);
                  }
                }
              });
        });
  }

  /** Processes queued events while the channel is writable. Event loop only. */
  private void drain() {
    DRAIN_SCHEDULED.set(this, 0);
    if (phase != Phase.LIVE || closing) {
      return;
    }
    MpscChunkedArrayQueue<DocumentEvent> queue = this.queue;
    if (queue == null) {
      return;
    }
    int n = 0;
    DocumentEvent e;
    while (n < DRAIN_BATCH && ctx.channel().isWritable() && (e = queue.relaxedPoll()) != null) {
      QUEUED_BYTES.addAndGet(this, -cost(e));
      process(e);
      n++;
    }
    if (n > 0) {
      ctx.flush();
      finishDrainIfDone();
    }
    if (n == DRAIN_BATCH && !queue.isEmpty() && DRAIN_SCHEDULED.compareAndSet(this, 0, 1)) {
      loop.execute(drainTask); // Let other channels of this event loop run first.
    }
  }

  private void process(DocumentEvent e) {
    String doc = e.document();
    boolean acked = false;
    if (e.originDevice().equals(deviceId())) {
      InFlight p = inFlight.remove(e.originSeq());
      if (p != null) {
        sendAck(p, e.originSeq(), e.epoch(), e.version(), false);
        acked = true;
      }
    }
    if (!follow.follows(doc)) {
      return;
    }
    Cursor c = cursors.get(doc);
    if (c == null) {
      c = new Cursor();
      cursors.put(doc, c);
      if (e.version() == 1) {
        c.epoch = e.epoch();
        c.version = 1;
        if (!acked) {
          sendLiveDelta(e);
        }
      } else {
        fetch(doc, c, e.version());
      }
      return;
    }
    if (c.syncing) {
      c.maxSeen = Math.max(c.maxSeen, e.version());
      return;
    }
    if (e.epoch() != c.epoch) {
      c.epoch = 0; // A new history: start over from a snapshot.
      c.version = 0;
      fetch(doc, c, e.version());
      return;
    }
    if (e.version() <= c.version) {
      return;
    }
    if (e.version() == c.version + 1) {
      c.version++;
      if (!acked) {
        sendLiveDelta(e);
      }
      return;
    }
    fetch(doc, c, e.version());
  }

  /** Reads what the device misses of {@code doc} after its cursor. */
  private void fetch(String doc, Cursor c, long seen) {
    c.syncing = true;
    c.maxSeen = Math.max(c.maxSeen, seen);
    long generation = ++c.generation;
    onLoop(
        store.read(userId(), doc, c.epoch, c.version),
        (result, err) -> {
          if (cursors.get(doc) != c || c.generation != generation) {
            return;
          }
          if (err != null) {
            log.warn("history read of {}/{} failed: {}", userId(), doc, rootMessage(err));
            closeWith(CloseCode.UNAVAILABLE, "store unavailable while catching up");
            return;
          }
          c.syncing = false;
          if (result.mode() == DocumentSync.Mode.GONE) {
            cursors.remove(doc);
            ctx.write(
                ServerFrame.newBuilder()
                    .setSyncReport(SyncReport.newBuilder().addDocuments(result.toProto()))
                    .build());
          } else {
            deliver(doc, c, result);
            catchUp(doc, c);
          }
          ctx.flush();
          finishDrainIfDone();
        });
  }

  private void catchUp(String doc, Cursor c) {
    if (!c.syncing && (c.maxSeen > c.version || c.recheck) && cursors.get(doc) == c) {
      c.recheck = false;
      fetch(doc, c, c.maxSeen);
    }
  }

  /** Sends the frames of one sync result and moves the cursor to its end. */
  private void deliver(String doc, Cursor c, SyncResult r) {
    switch (r.mode()) {
      case DELTAS -> {
        stats.resumesWithDeltas.increment();
        c.epoch = r.epoch();
        for (DocumentEvent e : r.deltas()) {
          if (e.version() <= c.version) {
            continue;
          }
          InFlight p = e.originDevice().equals(deviceId()) ? inFlight.remove(e.originSeq()) : null;
          // As on the live path, the writer gets its ack in the delta's place.
          if (p != null) {
            sendAck(p, e.originSeq(), e.epoch(), e.version(), false);
          } else {
            sendDelta(e);
          }
          c.version = e.version();
        }
      }
      case SNAPSHOT -> {
        stats.resumesWithSnapshot.increment();
        stats.snapshotsOut.increment();
        c.epoch = r.epoch();
        c.version = r.toVersion();
        ctx.write(
            ServerFrame.newBuilder()
                .setSnapshot(
                    Snapshot.newBuilder()
                        .setDocument(doc)
                        .setEpoch(r.epoch())
                        .setVersion(r.toVersion())
                        .putAllFields(r.fields()))
                .build());
        ackCovered(doc, c);
      }
      case UP_TO_DATE -> {
        c.epoch = r.epoch();
        c.version = r.toVersion();
      }
      case GONE -> cursors.remove(doc);
      default -> throw new IllegalStateException("unknown sync mode " + r.mode());
    }
  }

  /** Acks writes whose versions a snapshot just covered. */
  private void ackCovered(String doc, Cursor c) {
    Iterator<Map.Entry<Long, InFlight>> it = inFlight.entrySet().iterator();
    while (it.hasNext()) {
      Map.Entry<Long, InFlight> en = it.next();
      InFlight p = en.getValue();
      if (p.version > 0 && p.document.equals(doc) && p.epoch == c.epoch && p.version <= c.version) {
        it.remove();
        sendAck(p, en.getKey(), p.epoch, p.version, false);
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Writing frames
  // ---------------------------------------------------------------------------------------------

  private void sendLiveDelta(DocumentEvent e) {
    stats.recordSyncLag(e.delta().getTimestampMs());
    sendDelta(e);
  }

  private void sendDelta(DocumentEvent e) {
    stats.deltasOut.increment();
    ctx.write(new BinaryWebSocketFrame(Unpooled.wrappedBuffer(e.frame())));
  }

  private void sendAck(InFlight p, long seq, long epoch, long version, boolean duplicate) {
    ctx.write(
        ServerFrame.newBuilder()
            .setRequestId(p.requestId)
            .setAck(
                Ack.newBuilder()
                    .setDocument(p.document)
                    .setClientSeq(seq)
                    .setEpoch(epoch)
                    .setVersion(version)
                    .setDuplicate(duplicate))
            .build());
  }

  public void sendError(
      long id,
      ErrorCode code,
      String message,
      String document,
      long seq,
      long epoch,
      long version,
      boolean retryable) {
    Error.Builder e =
        Error.newBuilder()
            .setCode(code)
            .setMessage(message)
            .setClientSeq(seq)
            .setEpoch(epoch)
            .setCurrentVersion(version)
            .setRetryable(retryable);
    if (document != null) {
      e.setDocument(document);
    }
    ctx.write(ServerFrame.newBuilder().setRequestId(id).setError(e).build());
  }

  public HandoffSession handoff() {
    return handoff;
  }

  /** A device-approval signal of this user. Any thread. */
  void onApprovalSignal(io.handoff.protocol.bus.v1.UserSignal signal) {
    ApprovalPrompts a = approvals;
    if (a != null) {
      a.onSignal(signal);
    }
  }

  /** The connection's principal, as renewed on the socket. Event loop. */
  Principal principal() {
    return tokens != null ? tokens.principal() : principal;
  }

  String address() {
    return ctx.channel().remoteAddress() instanceof java.net.InetSocketAddress a
        ? a.getAddress().getHostAddress()
        : "unknown";
  }

  public EventLoop loop() {
    return loop;
  }

  /** True until the session starts closing. Event loop. */
  public boolean active() {
    return phase != Phase.CLOSED && !closing;
  }

  /** Writes without flushing. Event loop. */
  public void write(ServerFrame frame) {
    ctx.write(frame);
  }

  public void flush() {
    ctx.flush();
  }

  private static SyncReport report(List<SyncResult> results) {
    SyncReport.Builder b = SyncReport.newBuilder();
    for (SyncResult r : results) {
      b.addDocuments(r.toProto());
    }
    return b.build();
  }

  /** Runs {@code action} on this channel's event loop when {@code f} completes, unless closed. */
  public <T> void onLoop(CompletableFuture<T> f, BiConsumer<T, Throwable> action) {
    f.whenComplete(
        (value, err) -> {
          if (loop.inEventLoop()) {
            if (phase != Phase.CLOSED && !closing) {
              action.accept(value, err);
            }
          } else {
            loop.execute(
                () -> {
                  if (phase != Phase.CLOSED && !closing) {
                    action.accept(value, err);
                  }
                });
          }
        });
  }

  private CompletableFuture<Void> stillAlive() {
    return deviceSessions
        .check(principal)
        .thenApply(
            problem -> {
              if (problem != null) {
                throw new SessionGone(problem);
              }
              return null;
            });
  }

  /** The connection's device session is gone (revoked, erased or expired). */
  private static final class SessionGone extends RuntimeException {
    SessionGone(String message) {
      super(message, null, false, false);
    }
  }

  private static Throwable rootCause(Throwable t) {
    while (t.getCause() != null) {
      t = t.getCause();
    }
    return t;
  }

  private static String rootMessage(Throwable t) {
    while (t.getCause() != null) {
      t = t.getCause();
    }
    return t.toString();
  }

  /** Where this device is in one document. */
  private static final class Cursor {
    long epoch;
    long version;
    boolean syncing;
    long maxSeen;
    long generation;
    // Set when events may have been lost while a read was under way.
    boolean recheck;
  }

  /** A write sent to the store and not yet acked. */
  private static final class InFlight {
    final String document;
    final long requestId;
    long epoch;
    long version;

    InFlight(String document, long requestId) {
      this.document = document;
      this.requestId = requestId;
    }
  }
}
