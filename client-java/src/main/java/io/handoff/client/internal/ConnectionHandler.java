package io.handoff.client.internal;

import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.ServerFrame;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.EventLoop;
import io.netty.handler.codec.http.websocketx.CloseWebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocketClientProtocolHandler.ClientHandshakeStateEvent;
import io.netty.handler.timeout.IdleState;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.handler.timeout.IdleStateHandler;
import io.netty.util.ReferenceCountUtil;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * The last handler of a client connection: turns handshake, frame, idle and close events into
 * {@link FrameListener} calls, and is the connection's {@link FrameChannel}. It remembers the first
 * close code it learns (from the server's close frame, an upgrade refusal, an idle timeout or a
 * local close) and reports it once, when the channel goes inactive.
 */
final class ConnectionHandler extends ChannelInboundHandlerAdapter implements FrameChannel {
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

  ConnectionHandler(FrameListener listener, EventLoop eventLoop) {
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
  public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
    if (evt == ClientHandshakeStateEvent.HANDSHAKE_COMPLETE) {
      listener.onOpen(this);
    } else if (evt == ClientHandshakeStateEvent.HANDSHAKE_TIMEOUT) {
      remember(ABNORMAL_CLOSURE, "WebSocket handshake timed out", null);
    } else if (evt instanceof IdleStateEvent idle && idle.state() == IdleState.READER_IDLE) {
      IdleStateHandler handler = ctx.pipeline().get(IdleStateHandler.class);
      long millis = handler == null ? 0 : handler.getReaderIdleTimeInMillis();
      remember(
          CloseCode.IDLE_TIMEOUT.code(),
          "nothing received from the server for " + millis + " ms",
          null);
      ctx.close();
    }
    ctx.fireUserEventTriggered(evt);
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (msg instanceof ServerFrame frame) {
      listener.onFrame(frame);
    } else if (msg instanceof CloseWebSocketFrame close) {
      try {
        int code = close.statusCode() < 0 ? NO_STATUS : close.statusCode();
        remember(code, close.reasonText(), null);
      } finally {
        close.release();
      }
      // Answers with a close frame of its own (the protocol handler adds it) and closes TCP.
      ctx.close();
    } else {
      ReferenceCountUtil.release(msg);
    }
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable t) {
    ClosedBy close = ClosedBy.failure(ctx.channel(), t);
    remember(close.code(), close.reason(), t);
    ctx.close();
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) throws Exception {
    report();
    super.channelInactive(ctx);
  }

  @Override
  public void write(ClientFrame frame) {
    ctx.write(frame, ctx.voidPromise());
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
