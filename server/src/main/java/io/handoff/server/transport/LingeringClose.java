package io.handoff.server.transport;

import io.handoff.server.Scheduler;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.ReferenceCountUtil;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * Ends a connection whose last answer was written while the device may still be sending (a 413 for
 * a body over the limit): the answer is followed by the end of the node's side (FIN), then what the
 * device still sends is read and dropped until it closes its side, {@link #MAX_BYTES} have come or
 * {@link #MAX_NANOS} have passed, and only then is the socket closed. A socket closed with unread
 * bytes in it, or that has bytes arriving after, is answered with a TCP reset, and a reset can make
 * the device's TCP throw away the answer before the device has read it.
 *
 * <p>Added first in the pipeline (in front of TLS: the bytes dropped are never decrypted), so
 * nothing behind it sees the rest of the request. Over TLS the node's side ends with a close_notify
 * before the FIN.
 */
final class LingeringClose extends ChannelInboundHandlerAdapter {
  static final String NAME = "lingeringClose";

  /** The most the node reads and drops after the answer before it closes anyway. */
  static final long MAX_BYTES = 1024 * 1024;

  /** The longest the node waits for the device to stop sending before it closes anyway. */
  static final long MAX_NANOS = TimeUnit.SECONDS.toNanos(5);

  private long dropped;
  private Future<?> timer;

  private LingeringClose() {}

  /**
   * Starts lingering on {@code ch}, whose last answer has been written; on its event loop, with
   * {@code time}'s timer for the bound in time.
   */
  static void start(Channel ch, Scheduler time) {
    if (!ch.isActive() || ch.pipeline().get(NAME) != null) {
      ch.close();
      return;
    }
    LingeringClose linger = new LingeringClose();
    ch.pipeline().addFirst(NAME, linger);
    linger.timer = time.schedule(ch.eventLoop(), ch::close, MAX_NANOS, TimeUnit.NANOSECONDS);
    ch.closeFuture().addListener(f -> linger.timer.cancel(false));
    ch.config().setAutoRead(true);
    SslHandler tls = ch.pipeline().get(SslHandler.class);
    if (tls == null) {
      endOutput(ch);
    } else {
      // TLS ends with its close_notify, then the socket's end.
      tls.closeOutbound().addListener(f -> endOutput(ch));
    }
  }

  private static void endOutput(Channel ch) {
    if (ch instanceof SocketChannel s && s.isActive()) {
      s.shutdownOutput()
          .addListener(
              f -> {
                if (!f.isSuccess()) {
                  ch.close();
                }
              });
    } else {
      ch.close();
    }
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (msg instanceof ByteBuf b) {
      dropped += b.readableBytes();
    }
    ReferenceCountUtil.release(msg);
    if (dropped > MAX_BYTES) {
      ctx.close();
    }
  }

  @Override
  public void channelReadComplete(ChannelHandlerContext ctx) {
    // Nothing behind this handler reads any more.
  }

  @Override
  public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
    ReferenceCountUtil.release(evt);
    if (evt instanceof ChannelInputShutdownEvent) {
      ctx.close();
    }
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    ctx.close();
  }
}
