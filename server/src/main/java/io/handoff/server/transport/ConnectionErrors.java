package io.handoff.server.transport;

import io.handoff.protocol.CloseCode;
import io.handoff.server.Scheduler;
import io.handoff.server.util.LogEvery;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.CodecException;
import io.netty.handler.codec.CorruptedFrameException;
import io.netty.handler.codec.DecoderException;
import io.netty.handler.codec.DecoderResult;
import io.netty.handler.codec.PrematureChannelClosureException;
import io.netty.handler.codec.TooLongFrameException;
import io.netty.handler.codec.compression.DecompressionException;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.websocketx.CorruptedWebSocketFrameException;
import io.netty.handler.codec.http.websocketx.WebSocketCloseStatus;
import io.netty.handler.codec.http.websocketx.WebSocketFrameEncoder;
import io.netty.handler.ssl.NotSslRecordException;
import java.io.IOException;
import java.time.Duration;
import java.util.zip.DataFormatException;
import javax.net.ssl.SSLException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What a connection does with an exception that reaches its connection handler, the end of its
 * pipeline, whichever handler raised it (the HTTP handler, the upgrade, Netty's handshaker and
 * extension handler, the aggregator, a service, the framing):
 *
 * <ul>
 *   <li>a TLS failure, a reset, a message cut by the connection's end: closed, a debug line;
 *   <li>while the connection still speaks HTTP (no 101 begun, see {@link #speaksHttp}): the request
 *       is answered in JSON like every other refusal, and the connection closes: 400 {@code
 *       bad_request} for a request the node could not read (a decoder's failure, or a value that
 *       Netty's HTTP or WebSocket code could not parse, such as a permessage-deflate parameter),
 *       500 {@code internal} for anything else;
 *   <li>after it: a broken frame's close code ({@link #closeCodeFor}), else {@code INTERNAL_ERROR}.
 * </ul>
 *
 * A request the node could not read is the device's mistake: a debug line. Anything else is the
 * node's, logged as a warning with its stack trace, but once per {@link #LOG_EVERY} for the node
 * with how many went unlogged since: a request a device can send at will must not write a stack
 * trace each time. Logged as the connection handler's, whose logger operators know. One per node;
 * thread-safe.
 */
final class ConnectionErrors {
  private static final Logger log = LoggerFactory.getLogger(ConnectionHandler.class);

  /** How often the node logs an unexpected error at most. */
  static final Duration LOG_EVERY = Duration.ofSeconds(10);

  private final int maxFrameBytes;
  private final Scheduler time;
  private final UpgradeRefusals upgrades;
  private final LogEvery unexpected = new LogEvery(LOG_EVERY);

  /** {@code upgrades} counts a 400 that refuses an upgrade under way. */
  ConnectionErrors(int maxFrameBytes, Scheduler time, UpgradeRefusals upgrades) {
    this.maxFrameBytes = maxFrameBytes;
    this.time = time;
    this.upgrades = upgrades;
  }

  /**
   * Closes the connection of {@code ctx} if {@code cause} is routine (a TLS failure, a reset, a
   * message whose rest never came) and returns true; false if it is not.
   */
  static boolean routine(ChannelHandlerContext ctx, Throwable cause) {
    for (Throwable t = cause; t != null; t = t.getCause()) {
      if (t instanceof SSLException || t instanceof NotSslRecordException) {
        log.debug("TLS failure on {}: {}", ctx.channel(), t.toString());
        ctx.close();
        return true;
      }
    }
    if (cause instanceof PrematureChannelClosureException) {
      // Netty's frame aggregator (on a compressed connection) reports a message whose rest never
      // came: the device dropped, or was closed for breaking the framing, mid-message.
      log.debug("connection ended inside a message on {}", ctx.channel());
      ctx.close();
      return true;
    }
    if (cause instanceof IOException) {
      // Resets are routine (a reconnect storm has thousands at once): no message built unless
      // it is logged.
      if (log.isDebugEnabled()) {
        log.debug("connection error on {}: {}", ctx.channel(), cause.toString());
      }
      ctx.close();
      return true;
    }
    return false;
  }

  /**
   * Whether the connection of {@code p} still speaks HTTP, with no answer under way that an answer
   * of ours would follow: its HTTP codec is there, no 101 has begun (Netty's handshaker puts its
   * WebSocket encoder in front of the codec before it writes the 101; the node's own removes the
   * codec), and no answer is lingering out ({@link LingeringClose}).
   */
  static boolean speaksHttp(ChannelPipeline p) {
    return p.get(HandoffChannelInitializer.HTTP_CODEC) != null
        && p.get(WebSocketFrameEncoder.class) == null
        && p.get(LingeringClose.NAME) == null;
  }

  /**
   * Answers {@code cause} on a connection that still speaks HTTP ({@link #speaksHttp}): 400 or 500
   * in JSON, then closes; returns true. False if the connection does not speak HTTP any more (the
   * close codes are for it).
   */
  boolean answeredInHttp(ChannelHandlerContext ctx, Throwable cause) {
    if (!speaksHttp(ctx.pipeline())) {
      return false;
    }
    String unreadable = unreadable(cause);
    FullHttpResponse res;
    if (unreadable != null) {
      if (UpgradeRefusals.upgrading(ctx.channel())) {
        upgrades.count();
      }
      log.debug("unreadable request from {}: {}", ctx.channel().remoteAddress(), cause.toString());
      res = HttpRequestHandler.response(HttpResponseStatus.BAD_REQUEST, "bad_request", unreadable);
    } else {
      unexpected(ctx.channel(), cause);
      res =
          HttpRequestHandler.response(
              HttpResponseStatus.INTERNAL_SERVER_ERROR,
              "internal",
              "the node failed on this request (an internal error, logged); try again later");
    }
    res.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
    ctx.writeAndFlush(res).addListener(ChannelFutureListener.CLOSE);
    return true;
  }

  /**
   * What a person should change in a request that raised {@code cause}, if the node could not read
   * the request; null if {@code cause} is not about the request.
   */
  static String unreadable(Throwable cause) {
    if (cause instanceof DecoderException) {
      return HttpRequestHandler.malformed(DecoderResult.failure(cause));
    }
    if (!(cause instanceof IllegalArgumentException)) {
      return null;
    }
    // Thrown where Netty's HTTP or WebSocket code parsed a value of the request (a number, say),
    // below any frame of the JDK's own (Integer.parseInt).
    for (StackTraceElement e : cause.getStackTrace()) {
      String type = e.getClassName();
      if (type.startsWith("java.")) {
        continue;
      }
      if (!type.startsWith("io.netty.handler.codec.http.")) {
        return null;
      }
      return (type.contains(".websocketx.extensions.")
              ? "Sec-WebSocket-Extensions has a value the node cannot read (RFC 7692 gives"
                  + " permessage-deflate's parameters): "
              : "the request has a header value the node cannot read: ")
          + cause.getMessage();
    }
    return null;
  }

  /**
   * Logs {@code cause}, an error of the node's, unexpected on {@code ch}: a warning with its stack
   * trace, at most once per {@link #LOG_EVERY} for the node, with how many went unlogged since.
   */
  void unexpected(Channel ch, Throwable cause) {
    String since = unexpected.admit(time.nanoTime());
    if (since != null) {
      log.warn("unexpected error on {}{}", ch, since, cause);
    }
  }

  /** The close code for a broken frame, by the exception's type; null if {@code t} is not one. */
  static CloseCode closeCodeFor(Throwable t) {
    if (t instanceof ProtocolViolation v) {
      return v.code();
    }
    if (t instanceof DecompressionException) {
      return notDeflate(t) ? CloseCode.PROTOCOL_ERROR : CloseCode.FRAME_TOO_LARGE;
    }
    if (t instanceof DecoderException && t.getCause() instanceof CodecException) {
      // Netty's permessage-deflate decoder: a compressed message that inflates to nothing.
      return CloseCode.PROTOCOL_ERROR;
    }
    if (t instanceof TooLongFrameException) {
      return CloseCode.FRAME_TOO_LARGE;
    }
    if (t instanceof CorruptedWebSocketFrameException w) {
      return w.closeStatus() == WebSocketCloseStatus.MESSAGE_TOO_BIG
          ? CloseCode.FRAME_TOO_LARGE
          : CloseCode.PROTOCOL_ERROR;
    }
    if (t instanceof CorruptedFrameException) {
      return CloseCode.PROTOCOL_ERROR;
    }
    return null;
  }

  /** Whether a decompression failure is bad deflate data, not a message over the size limit. */
  private static boolean notDeflate(Throwable t) {
    return t.getCause() instanceof DataFormatException;
  }

  /** The reason of the close with {@code code}, for the broken frame {@code t}. */
  String reasonFor(Throwable t, CloseCode code) {
    if (t instanceof ProtocolViolation) {
      return t.getMessage();
    }
    if (t instanceof DecompressionException) {
      return notDeflate(t)
          ? "compressed frame is not valid deflate data"
          : "compressed frame inflates past " + maxFrameBytes + " bytes";
    }
    if (code == CloseCode.PROTOCOL_ERROR && t.getCause() instanceof CodecException c) {
      return "bad compressed frame: " + c.getMessage();
    }
    if (code == CloseCode.FRAME_TOO_LARGE) {
      return "frame larger than " + maxFrameBytes + " bytes";
    }
    return "bad WebSocket frame: " + t.getMessage();
  }
}
