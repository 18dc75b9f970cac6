package io.handoff.client.internal;

import com.google.protobuf.InvalidProtocolBufferException;
import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.ServerFrame;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufInputStream;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.EventLoop;
import io.netty.handler.codec.CorruptedFrameException;
import io.netty.handler.timeout.IdleState;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.handler.timeout.IdleStateHandler;
import java.io.IOException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * The last handler of a client connection: does the upgrade and the framing ({@link ClientWire}),
 * asks the {@link FrameListener} for the Hello the upgrade request carries, turns the 101 (and
 * whether the node read that Hello), each message (a {@link ServerFrame}), idle and close events
 * into {@link FrameListener} calls, and is the connection's {@link FrameChannel}. It remembers the
 * first close code it learns (from the server's close frame, an upgrade refusal, an idle timeout or
 * a local close) and reports it once, when the channel goes inactive.
 */
final class ConnectionHandler extends ClientWire implements FrameChannel {
  static final int ABNORMAL_CLOSURE = 1006;
  static final int NO_STATUS = 1005;
  static final int NORMAL_CLOSURE = 1000;

  private final FrameListener listener;
  private final EventLoop eventLoop;
  private Channel channel;
  private ChannelHandlerContext ctx;
  private int closeCode;
  private String closeReason;
  private Throwable cause;
  private boolean reported;

  /**
   * @param token sent on the upgrade as {@code Authorization: Bearer}; none if null
   * @param handshakeTimeoutMillis how long the upgrade may take from the TCP connect
   */
  ConnectionHandler(
      Handshake handshake,
      String token,
      long handshakeTimeoutMillis,
      FrameListener listener,
      EventLoop eventLoop) {
    super(handshake, token, handshakeTimeoutMillis, WebSocketConnector.MAX_FRAME_BYTES);
    this.listener = listener;
    this.eventLoop = eventLoop;
  }

  /** The channel this handler belongs to, known as soon as connect() returns. */
  void channel(Channel channel) {
    this.channel = channel;
  }

  /** The TCP connect (or the resolution before it) failed: the channel never became active. */
  void connectFailed(Throwable failure) {
    remember(ABNORMAL_CLOSURE, "could not connect: " + failure.getMessage(), failure);
    // Reported from a new task: connect() may still be on the stack, and the contract says never
    // from within it.
    eventLoop.execute(this::report);
  }

  @Override
  public void handlerAdded(ChannelHandlerContext ctx) {
    this.ctx = ctx;
  }

  @Override
  protected byte[] earlyHello() {
    ClientFrame hello = listener.hello();
    return hello == null ? null : hello.toByteArray();
  }

  @Override
  protected void opened(ChannelHandlerContext ctx, boolean helloRead) {
    listener.onOpen(this, helloRead);
  }

  @Override
  protected void message(ChannelHandlerContext ctx, ByteBuf buffer, int from, int to)
      throws IOException {
    ServerFrame frame;
    try {
      frame =
          buffer.nioBufferCount() == 1
              ? ServerFrame.parseFrom(buffer.nioBuffer(from, to - from))
              : ServerFrame.parseFrom(new ByteBufInputStream(buffer.slice(from, to - from)));
    } catch (InvalidProtocolBufferException e) {
      throw new CorruptedFrameException("not a ServerFrame: " + e.getMessage(), e);
    }
    listener.onFrame(frame);
  }

  @Override
  protected void closeReceived(ChannelHandlerContext ctx, int code, String reason) {
    remember(code, reason, null);
    // Answers with a close frame of its own and closes TCP.
    closeConnection(ctx, NORMAL_CLOSURE);
  }

  @Override
  public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
    if (evt instanceof IdleStateEvent idle && idle.state() == IdleState.READER_IDLE) {
      IdleStateHandler handler = ctx.pipeline().get(IdleStateHandler.class);
      long millis = handler == null ? 0 : handler.getReaderIdleTimeInMillis();
      remember(
          CloseCode.IDLE_TIMEOUT.code(),
          "nothing received from the server for " + millis + " ms",
          null);
      closeConnection(ctx, NORMAL_CLOSURE);
    }
    ctx.fireUserEventTriggered(evt);
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable t) {
    ClosedBy close = ClosedBy.failure(t);
    remember(close.code(), close.reason(), t);
    closeConnection(ctx, NORMAL_CLOSURE);
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) throws Exception {
    report();
    super.channelInactive(ctx);
  }

  @Override
  public void write(ClientFrame frame) {
    if (isClosing()) {
      return; // Nothing after the close frame (RFC 6455 5.5.1).
    }
    try {
      ctx.write(binaryFrame(ctx.alloc(), frame), ctx.voidPromise());
    } catch (IOException e) {
      exceptionCaught(ctx, e);
    }
  }

  @Override
  public void flush() {
    ctx.flush();
  }

  @Override
  public void readTimeout(long millis) {
    ChannelPipeline pipeline = channel.pipeline();
    if (pipeline.get(ClientChannelInitializer.IDLE) == null) {
      return;
    }
    if (millis > 0) {
      pipeline.replace(
          ClientChannelInitializer.IDLE,
          ClientChannelInitializer.IDLE,
          new IdleStateHandler(millis, 0, 0, TimeUnit.MILLISECONDS));
    } else {
      pipeline.remove(ClientChannelInitializer.IDLE);
    }
  }

  @Override
  public Future<?> close() {
    remember(NORMAL_CLOSURE, "closed by the client", null);
    return channel.close();
  }

  @Override
  public void abort() {
    if (!channel.isOpen()) {
      return;
    }
    remember(ABNORMAL_CLOSURE, "connection dropped by the client", null);
    ClosedBy.cut(channel);
  }

  private void remember(int code, String reason, Throwable t) {
    if (closeCode == 0) {
      closeCode = code;
      closeReason = reason;
    }
    if (cause == null) {
      cause = t;
    }
  }

  private void report() {
    if (reported) {
      return;
    }
    reported = true;
    listener.onClose(closeCode == 0 ? ABNORMAL_CLOSURE : closeCode, closeReason, cause);
  }
}
