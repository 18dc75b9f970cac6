package io.handoff.server.transport;

import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.Disconnect;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.server.Scheduler;
import io.handoff.server.ServerConfig;
import io.handoff.server.ServerStats;
import io.handoff.server.auth.Principal;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.channel.ChannelPromise;
import io.netty.channel.EventLoop;
import io.netty.channel.socket.DuplexChannel;
import io.netty.handler.codec.http.websocketx.CloseWebSocketFrame;
import io.netty.handler.codec.http.websocketx.PingWebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocket08FrameDecoder;
import io.netty.handler.codec.http.websocketx.WebSocketFrameDecoder;
import io.netty.handler.codec.http.websocketx.WebSocketServerProtocolHandler;
import io.netty.handler.codec.http.websocketx.extensions.WebSocketExtensionEncoder;
import io.netty.util.AttributeKey;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * One connection's life at the transport: the handshake limit (from accept until the device's
 * Hello), heartbeats, the mapping of errors to close codes (by exception type), flow control, and
 * the close sequence. What the frames mean is the {@link Endpoint}'s business; this handler only
 * passes them on. After a plain upgrade it also does the WebSocket framing and the protobuf codec
 * itself (see {@link WireCodec}, which it extends: one handler and one pipeline context per idle
 * connection instead of two). Event loop only, except where a method says otherwise.
 */
public final class ConnectionHandler extends WireCodec implements Link {
  // A close frame's payload is at most 125 bytes, two of them the code.
  static final int MAX_CLOSE_REASON_BYTES = 123;

  private static final AttributeKey<Boolean> LINGERING =
      AttributeKey.valueOf("handoff.http.drainLingering");

  /**
   * Whether {@code ch} is a plain-HTTP connection with nothing under way that a drain keeps only
   * for a request on its way: the node does not wait for it to close. Any thread.
   */
  public static boolean lingering(Channel ch) {
    return ch.hasAttr(LINGERING);
  }

  /** What every connection's handler of a node shares. */
  public record Shared(
      ServerConfig config,
      ServerStats stats,
      Scheduler time,
      InboundBudget inbound,
      ConnectionErrors errors) {
    public Shared(ServerConfig config, ServerStats stats, Scheduler time) {
      this(
          config,
          stats,
          time,
          InboundBudget.fromJvm(),
          new ConnectionErrors(
              config.maxFrameBytes(), time, new UpgradeRefusals(stats.upgradesRefused)));
    }
  }

  private final Shared node;
  private final Endpoint endpoint;

  private ChannelHandlerContext ctx;
  // Set at the upgrade: non-null from then on means upgraded (no flag of its own: 64 bytes).
  private Principal principal;
  private boolean established;
  private boolean reading = true;
  // From close() or the channel going inactive, whichever came first: the connection is done (one
  // flag for both, so that the handler fits 64 bytes).
  private boolean closing;
  // Between leavingLoop and joinedLoop (Upgrades): a drain leaves the connection to the move, which
  // answers the upgrade 503 on the new loop (a field: an attribute stays in the channel's map).
  private volatile boolean moving;
  // Heartbeats: when the device was last heard, whether it was pinged since, and the place in this
  // loop's array of connections (see Heartbeats; in it from the upgrade until inactive, else -1).
  private long lastReadNanos;
  private boolean pinged;
  // The handshake limit's timer, cancelled at Hello so that an idle connection holds no timer.
  private Future<?> handshakeTimer;
  int hbIndex = -1;
  // The upgrade's Hello once answered, until the next frame or ping (EarlyHello.repeats; 0: none):
  // an int, which fits the handler's 64 bytes; a channel attribute would cost about 50 more.
  private int upgradeHello;

  public ConnectionHandler(
      ServerConfig config, ServerStats stats, Scheduler time, Endpoint endpoint) {
    this(new Shared(config, stats, time), endpoint);
  }

  /**
   * A connection's handler with the node's {@code shared} parts, passing frames to {@code
   * endpoint}.
   */
  public ConnectionHandler(Shared shared, Endpoint endpoint) {
    super(false);
    this.node = shared;
    this.endpoint = endpoint;
  }

  @Override
  int maxFrameBytes() {
    return node.config().maxFrameBytes();
  }

  @Override
  InboundBudget inboundBudget() {
    return node.inbound();
  }

  @Override
  public void handlerAdded(ChannelHandlerContext ctx) {
    this.ctx = ctx;
  }

  @Override
  public void channelActive(ChannelHandlerContext ctx) {
    // The handshake limit runs from accept to Hello: a socket that upgrades and then says nothing
    // holds no slot for longer than that.
    armHandshakeTimer();
    ctx.fireChannelActive();
  }

  private void armHandshakeTimer() {
    handshakeTimer =
        node.time()
            .schedule(
                ctx.channel().eventLoop(),
                this::handshakeDeadline,
                node.config().handshakeTimeout().toMillis(),
                TimeUnit.MILLISECONDS);
  }

  /**
   * Before the connection leaves its event loop for its user's ({@link UserLoops}): its handshake
   * timer is set on the loop it leaves, so it goes. On the loop it leaves.
   */
  void leavingLoop() {
    moving = true;
    cancelHandshakeTimer();
  }

  /**
   * Once the connection is registered with its user's loop: the handshake limit starts again there,
   * from the move (it was already authenticated; what remains is the 101 and its Hello). On the new
   * loop.
   */
  void joinedLoop() {
    moving = false;
    if (!established && !closing && ctx.channel().isActive()) {
      armHandshakeTimer();
    }
  }

  private void handshakeDeadline() {
    handshakeTimer = null;
    if (established || closing) {
      return;
    }
    if (!upgraded()) {
      Channel ch = ctx.channel();
      if (ch.hasAttr(HttpService.Answering.KEY)
          && ch.attr(HttpService.Answering.KEY).get() != null
          && ch.attr(HttpService.Answering.OVERTIME).setIfAbsent(Boolean.TRUE) == null) {
        // An API request is being answered, and the store may have acted on it already (a
        // session made, a refresh token rotated, a device code used up): its answer goes out and
        // closes the connection; another limit bounds the wait for it.
        armHandshakeTimer();
        return;
      }
      ctx.close();
      return;
    }
    // A reconnect code, not PROTOCOL_ERROR: in a reconnect storm the node's own backlog (or a slow
    // network) can hold a well-behaved device's Hello past the limit, and a terminal code would
    // end that device's sync for good. A socket that keeps doing it pays the client's backoff.
    node.stats().idleCloses.increment();
    close(
        CloseCode.IDLE_TIMEOUT,
        "no Hello within " + node.config().handshakeTimeout().toMillis() + " ms of connecting");
  }

  @Override
  public void channelReadComplete(ChannelHandlerContext ctx) {
    // Every read from the socket, pongs and control frames included, counts as the device alive.
    lastReadNanos = node.time().nanoTime();
    pinged = false;
    super.channelReadComplete(ctx);
  }

  /**
   * Called by this event loop's heartbeat timer: ping after one silent interval, close after two:
   * with IDLE_TIMEOUT, or with SLOW_CONSUMER when the device was not read because its socket is
   * full. Not while the node drains (it reads no more from its devices then).
   */
  void checkHeartbeat(long now) {
    if (closing || !reading) {
      // Not reading is a drain's doing: the device is not heard because the node stopped reading
      // it, and the drain's own timeout closes it.
      return;
    }
    long silent = now - lastReadNanos;
    long interval = node.config().heartbeatInterval().toNanos();
    if (silent >= 2 * interval && !ctx.channel().isWritable()) {
      // Not heard because not read: reading stops while the socket is full (see
      // channelWritabilityChanged), and a device that had read its way below the low water mark
      // would count as heard then. The device is the one that does not read.
      node.stats().slowConsumerStalledCloses.increment();
      close(
          CloseCode.SLOW_CONSUMER,
          "did not read what was sent for two heartbeat intervals; resume later");
    } else if (silent >= 2 * interval) {
      node.stats().idleCloses.increment();
      close(CloseCode.IDLE_TIMEOUT, "nothing received for two heartbeat intervals");
    } else if (silent >= interval && !pinged) {
      pinged = true;
      upgradeHello = 0;
      // The void promise, as every delivery's: a second promise type on the write path is a type
      // the compiled write code never saw, and sends it back to the interpreter.
      write(ctx, new PingWebSocketFrame(Unpooled.EMPTY_BUFFER), ctx.voidPromise());
      ctx.flush();
    }
  }

  @Override
  void received(ChannelHandlerContext ctx, Object msg) {
    if (!(msg instanceof ClientFrame frame)) {
      ctx.fireChannelRead(msg);
      return;
    }
    int hello = upgradeHello;
    upgradeHello = 0;
    if (!closing && upgraded() && !EarlyHello.repeats(hello, frame)) {
      try {
        endpoint.frame(frame);
      } catch (RuntimeException e) {
        // As the pipeline does for a handler of its own: the frames after it are still decoded.
        exceptionCaught(ctx, e);
      }
    }
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
      if (ctx.pipeline().get(HandoffChannelInitializer.CODEC) != null) {
        // Netty's handshaker did the upgrade (Upgrades answers the common case itself, has the
        // HTTP handler leave and this handler frame before it tells of the upgrade).
        HttpRequestHandler.leave(ctx.pipeline());
        installCodec(ctx);
      }
      node.stats().connectionsOpened.increment(); // At the upgrade: HTTP requests never count.
      lastReadNanos = node.time().nanoTime();
      Heartbeats.current()
          .add(this, eventLoop(), node.config().heartbeatInterval().toNanos(), node.time());
      endpoint.opened(this);
      if (HttpRequestHandler.draining(ctx.channel())) {
        // Upgraded by Netty's handshaker after the drain reached the connection: told at once.
        endpoint.drain();
      }
      ClientFrame hello = EarlyHello.take(ctx.channel());
      if (hello != null) {
        received(ctx, hello); // Its Welcome leaves with the 101 (Upgrades flushes after this).
        upgradeHello = EarlyHello.fingerprint(hello);
      }
      return;
    }
    if (evt == HandoffChannelInitializer.DRAIN) {
      if (moving) {
        return; // The move answers it once on the new loop (Upgrades).
      }
      if (upgraded() && !closing) {
        endpoint.drain();
      } else if (!upgraded() && !closing) {
        // Still in plain HTTP with nothing under way (HttpRequestHandler): a request already on
        // its way is read and answered 503 while the drain lasts anyway (the node closes lingering
        // connections once the others are gone: it never waits for them), at most the close
        // timeout; then it closes. On the loop's own clock, as the drain's other timers.
        ctx.channel().attr(LINGERING).set(Boolean.TRUE);
        cancelHandshakeTimer();
        handshakeTimer =
            ctx.channel()
                .eventLoop()
                .schedule(
                    this::handshakeDeadline,
                    node.config().closeTimeout().toMillis(),
                    TimeUnit.MILLISECONDS);
      }
      return;
    }
    ctx.fireUserEventTriggered(evt);
  }

  /** The codecs after an upgrade through Netty's handshaker. */
  private void installCodec(ChannelHandlerContext ctx) {
    boolean plain = ctx.pipeline().get(WebSocketExtensionEncoder.class) == null;
    if (plain && ctx.pipeline().get(WebSocketFrameDecoder.class) != null) {
      // No extension (compression) negotiated: one handler does the framing and the codec.
      install(ctx);
    } else {
      ControlFrameHandler.install(ctx, HandoffChannelInitializer.WS_HANDLER);
      ChannelHandlerContext decoder = ctx.pipeline().context(WebSocketFrameDecoder.class);
      if (decoder != null && decoder.handler() instanceof WebSocket08FrameDecoder) {
        // A frame still arriving counts against the node's inbound budget, as on a plain
        // connection; what Netty's decoder holds already is handed on to this one.
        ctx.pipeline()
            .replace(
                decoder.name(),
                decoder.name(),
                new BudgetedFrameDecoder(
                    HandoffChannelInitializer.decoderConfig(node.config()), node.inbound()));
      }
      if (plain) {
        // The codec may write the WebSocket framing itself.
        ctx.pipeline()
            .replace(
                HandoffChannelInitializer.CODEC,
                HandoffChannelInitializer.CODEC,
                FrameCodec.FRAMING);
      }
    }
  }

  @Override
  public void channelWritabilityChanged(ChannelHandlerContext ctx) {
    boolean writable = ctx.channel().isWritable();
    if (writable) {
      // The device read its way below the low-water mark: it is alive, although the node may not
      // read what it sent (the frames waiting for the socket are written now, and can fill it again
      // before the next read), which a long resume on a slow link would otherwise take for a
      // socket left full.
      lastReadNanos = node.time().nanoTime();
      pinged = false;
    }
    // A device that does not read our pushes does not get its requests read either, so answers to
    // them cannot pile up in the outbound buffer.
    ctx.channel().config().setAutoRead(writable && reading);
    if (upgraded() && !closing) {
      if (writable) {
        endpoint.writable();
      } else {
        endpoint.unwritable();
      }
    }
    ctx.fireChannelWritabilityChanged();
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    cancelHandshakeTimer();
    if (upgraded()) {
      Heartbeats.current().remove(this); // Inactive runs on the loop whose list holds it.
      node.stats().connectionsClosed.increment();
    }
    closing = true;
    endpoint.closed();
    ctx.fireChannelInactive();
  }

  /** See {@link ConnectionErrors}: before the 101 an answer in JSON, after it a close code. */
  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    if (ConnectionErrors.routine(ctx, cause)
        || !upgraded() && node.errors().answeredInHttp(ctx, cause)) {
      return;
    }
    for (Throwable t = cause; t != null; t = t.getCause()) {
      CloseCode code = ConnectionErrors.closeCodeFor(t);
      if (code != null) {
        node.stats().protocolErrorCloses.increment();
        close(code, node.errors().reasonFor(t, code));
        return;
      }
    }
    node.errors().unexpected(ctx.channel(), cause);
    close(CloseCode.INTERNAL_ERROR, "internal error");
  }

  // ---------------------------------------------------------------------------------------------
  // Link
  // ---------------------------------------------------------------------------------------------

  private boolean upgraded() {
    return principal != null;
  }

  @Override
  public Principal principal() {
    return principal;
  }

  @Override
  public String remoteAddress() {
    return ctx.channel().remoteAddress() instanceof java.net.InetSocketAddress a
        ? a.getAddress().getHostAddress()
        : "unknown";
  }

  @Override
  public EventLoop eventLoop() {
    return ctx.channel().eventLoop();
  }

  @Override
  public void write(Object frame) {
    if (closing) {
      return; // RFC 6455 5.5.1: no data frame after the close frame.
    }
    // No promise per frame: nothing waits on one, and a failed write reaches exceptionCaught.
    // Through this handler's own write, which frames it (a write from its context would skip it).
    write(ctx, frame, ctx.voidPromise());
  }

  @Override
  public void flush() {
    ctx.flush();
  }

  @Override
  public boolean isWritable() {
    return ctx.channel().isWritable();
  }

  @Override
  public long pendingOutboundBytes() {
    // Both reads are of volatile fields: safe from the budget's timer thread.
    ChannelOutboundBuffer buffer = ctx.channel().unsafe().outboundBuffer();
    return buffer == null ? 0 : buffer.totalPendingWriteBytes();
  }

  @Override
  public void established() {
    established = true;
    cancelHandshakeTimer();
  }

  private void cancelHandshakeTimer() {
    if (handshakeTimer != null) {
      handshakeTimer.cancel(false);
      handshakeTimer = null;
    }
  }

  @Override
  public void stopReading() {
    reading = false;
    ctx.channel().config().setAutoRead(false);
  }

  /**
   * {@code reason} cut to what a WebSocket close frame holds (125 bytes with the 2-byte code), at a
   * character boundary: a longer frame is a protocol error to the device. The Disconnect frame
   * before it carries the whole reason.
   */
  static String closeReason(String reason) {
    int bytes = 0;
    for (int i = 0; i < reason.length(); ) {
      int cp = reason.codePointAt(i);
      int size = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
      if (bytes + size > MAX_CLOSE_REASON_BYTES) {
        return reason.substring(0, i);
      }
      bytes += size;
      i += Character.charCount(cp);
    }
    return reason;
  }

  @Override
  public void close(CloseCode code, String reason, long replacedBy) {
    if (closing) {
      return;
    }
    closing = true;
    String shortReason = closeReason(reason);
    if (upgraded()) {
      endpoint.closing();
      write(
          ctx,
          ServerFrame.newBuilder()
              .setDisconnect(
                  Disconnect.newBuilder()
                      .setCode(code.code())
                      .setReason(reason)
                      .setReconnect(code.reconnect())
                      .setReplacedByInstance(replacedBy))
              .build(),
          ctx.voidPromise());
    }
    // Half-close after the close frame so that unread input does not turn our FIN into a reset
    // that could destroy the close frame before the device reads it; input is discarded until the
    // device closes too, or the close timeout cuts the channel.
    ChannelPromise closeSent = ctx.newPromise();
    write(ctx, new CloseWebSocketFrame(code.code(), shortReason), closeSent);
    ctx.flush();
    closeSent.addListener(
        f -> {
          if (f.isSuccess() && ctx.channel() instanceof DuplexChannel duplex) {
            duplex.shutdownOutput();
          } else {
            ctx.channel().close();
          }
        });
    eventLoop()
        .schedule(
            () -> {
              ctx.channel().close();
            },
            node.config().closeTimeout().toMillis(),
            TimeUnit.MILLISECONDS);
  }
}
