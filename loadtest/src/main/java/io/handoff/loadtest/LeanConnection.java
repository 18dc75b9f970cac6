package io.handoff.loadtest;

import io.handoff.client.internal.ClosedBy;
import io.handoff.client.internal.UpgradeRefusal;
import io.handoff.client.internal.WebSocketConnector;
import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.websocketx.BinaryWebSocketFrame;
import io.netty.handler.codec.http.websocketx.CloseWebSocketFrame;
import io.netty.handler.codec.http.websocketx.CorruptedWebSocketFrameException;
import io.netty.handler.codec.http.websocketx.PingWebSocketFrame;
import io.netty.handler.codec.http.websocketx.PongWebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocketClientProtocolConfig;
import io.netty.handler.codec.http.websocketx.WebSocketClientProtocolHandler;
import io.netty.handler.codec.http.websocketx.WebSocketClientProtocolHandler.ClientHandshakeStateEvent;
import io.netty.handler.codec.http.websocketx.WebSocketCloseStatus;
import io.netty.handler.codec.http.websocketx.WebSocketFrameDecoder;
import io.netty.util.ReferenceCountUtil;
import java.net.InetSocketAddress;
import java.net.URI;
import java.time.Duration;
import java.util.List;

/**
 * One connection attempt of a {@link LeanLink}: TCP, the WebSocket upgrade with the token as {@code
 * Authorization: Bearer}, then binary frames handed over as they are (Netty's WebSocket codec
 * answers pings and masks what is sent). Remembers the first close code it learns (close frame,
 * refused upgrade, undecodable data, a cut) and reports the end once, when the channel goes
 * inactive or the TCP connect fails. Pipeline: HTTP codec, HTTP aggregator (the upgrade response
 * only, up to 64 KiB), the Java client's {@link UpgradeRefusal}, the WebSocket protocol handler
 * with the client's settings ({@link WebSocketConnector#protocolConfig}), this handler; failures
 * map to close codes as in the client ({@link ClosedBy}).
 *
 * <p>Threading: every method runs on the link's event loop; the fields are the link's to read
 * there.
 */
final class LeanConnection extends ChannelInboundHandlerAdapter {
  private static final int MAX_UPGRADE_RESPONSE_BYTES = 64 * 1024;

  /** What a connection reports; called on its event loop. */
  interface Listener {
    /** The upgrade succeeded: the Hello goes out now. */
    void opened(LeanConnection c);

    /**
     * One binary message in {@code [from, to)} of {@code buffer}, {@code receivedNanos} when it was
     * read; the bytes are only valid during the call.
     */
    void frame(LeanConnection c, ByteBuf buffer, int from, int to, long receivedNanos);

    /** The connection ended, or never began ({@link #closeCode} and friends say why). Once. */
    void closed(LeanConnection c);
  }

  private final Listener listener;
  Channel channel;
  boolean welcomed;
  boolean synced;
  boolean durableAcks;
  private boolean reported;
  int closeCode;
  String closeReason;
  int disconnectCode;
  String disconnectReason;

  private LeanConnection(Listener listener) {
    this.listener = listener;
  }

  /** Starts a connection attempt to {@code url} on {@code loop}. Event loop. */
  static LeanConnection open(
      URI url,
      String token,
      EventLoop loop,
      InetSocketAddress localAddress,
      Duration connectTimeout,
      Listener listener) {
    LeanConnection c = new LeanConnection(listener);
    int timeoutMillis = (int) Math.min(Integer.MAX_VALUE, connectTimeout.toMillis());
    // The Java client's settings, but Netty's UTF-8 check is left out: only binary frames come.
    WebSocketClientProtocolConfig config =
        WebSocketConnector.protocolConfig(url, token, timeoutMillis)
            .withUTF8Validator(false)
            .build();
    Bootstrap b =
        new Bootstrap()
            .group(loop)
            .channel(
                WebSocketConnector.isEpoll(loop)
                    ? EpollSocketChannel.class
                    : NioSocketChannel.class)
            .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, timeoutMillis)
            .option(ChannelOption.TCP_NODELAY, true)
            .handler(
                new ChannelInitializer<SocketChannel>() {
                  @Override
                  protected void initChannel(SocketChannel ch) {
                    ch.pipeline()
                        .addLast(new HttpClientCodec())
                        .addLast(new HttpObjectAggregator(MAX_UPGRADE_RESPONSE_BYTES))
                        .addLast(UpgradeRefusal.INSTANCE)
                        .addLast(new WebSocketClientProtocolHandler(config))
                        .addLast(c);
                  }
                });
    InetSocketAddress remote = InetSocketAddress.createUnresolved(url.getHost(), url.getPort());
    ChannelFuture f = localAddress == null ? b.connect(remote) : b.connect(remote, localAddress);
    c.channel = f.channel();
    f.addListener(
        done -> {
          if (!done.isSuccess()) {
            c.remember(Device.ABNORMAL_CLOSURE, "could not connect: " + done.cause().getMessage());
            // From a new task: the caller may still be inside open().
            loop.execute(c::report);
          }
        });
    return c;
  }

  /** Cuts the connection without a close frame, as a network failure would. */
  void abort() {
    if (!channel.isOpen()) {
      return;
    }
    remember(Device.ABNORMAL_CLOSURE, "connection dropped by the client");
    ClosedBy.cut(channel);
  }

  /** Keeps the first close code and reason learnt. */
  void remember(int code, String reason) {
    if (closeCode == 0) {
      closeCode = code;
      closeReason = reason;
    }
  }

  private void report() {
    if (!reported) {
      reported = true;
      listener.closed(this);
    }
  }

  @Override
  public boolean isSharable() {
    return false;
  }

  @Override
  public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
    if (evt == ClientHandshakeStateEvent.HANDSHAKE_COMPLETE) {
      // Binary frames are read in place from here on; control frames still go through Netty's
      // protocol handler (pongs to pings, close frames to this handler).
      ChannelHandlerContext decoder = ctx.pipeline().context(WebSocketFrameDecoder.class);
      if (decoder != null) {
        ctx.pipeline().replace(decoder.name(), decoder.name(), new Frames());
      }
      listener.opened(this);
    } else if (evt == ClientHandshakeStateEvent.HANDSHAKE_TIMEOUT) {
      remember(Device.ABNORMAL_CLOSURE, "WebSocket handshake timed out");
    }
    ctx.fireUserEventTriggered(evt);
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    try {
      if (msg instanceof BinaryWebSocketFrame f) {
        if (!reported) {
          ByteBuf b = f.content();
          listener.frame(this, b, b.readerIndex(), b.writerIndex(), System.nanoTime());
        }
      } else if (msg instanceof CloseWebSocketFrame close) {
        remember(close.statusCode() < 0 ? 1005 : close.statusCode(), close.reasonText());
        // Answers with a close frame of its own (the protocol handler adds it) and closes TCP.
        ctx.close();
      }
    } finally {
      ReferenceCountUtil.release(msg);
    }
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable t) {
    ClosedBy close = ClosedBy.failure(ctx.channel(), t);
    remember(close.code(), close.reason());
    ctx.close();
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    report();
    ctx.fireChannelInactive();
  }

  /**
   * Reads the server's WebSocket frames where they arrived: a binary message goes to the listener
   * as a range of the read buffer (no copy, no frame object); ping, pong and close frames become
   * Netty's frame objects for the protocol handler and this handler. The server never masks,
   * fragments or sends text; any of those is a protocol error, as is a frame over 16 MiB.
   */
  private final class Frames extends ByteToMessageDecoder {
    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
      while (in.readableBytes() >= 2 && !reported) {
        int at = in.readerIndex();
        int b0 = in.getUnsignedByte(at);
        int b1 = in.getUnsignedByte(at + 1);
        int opcode = b0 & 0x0f;
        int header = 2;
        long length = b1 & 0x7f;
        if (length == 126) {
          if (in.readableBytes() < 4) {
            return;
          }
          length = in.getUnsignedShort(at + 2);
          header = 4;
        } else if (length == 127) {
          if (in.readableBytes() < 10) {
            return;
          }
          length = in.getLong(at + 2);
          header = 10;
        }
        if ((b0 & 0x80) == 0 || (b0 & 0x70) != 0 || (b1 & 0x80) != 0 || opcode == 0) {
          throw new CorruptedWebSocketFrameException(
              WebSocketCloseStatus.PROTOCOL_ERROR,
              "a fragmented, masked or extended frame from the server");
        }
        if (length < 0 || length > WebSocketConnector.MAX_FRAME_BYTES) {
          throw new CorruptedWebSocketFrameException(
              WebSocketCloseStatus.MESSAGE_TOO_BIG, "a frame of " + length + " bytes");
        }
        if (in.readableBytes() < header + length) {
          return;
        }
        int from = at + header;
        int to = from + (int) length;
        switch (opcode) {
          case 0x2 -> listener.frame(LeanConnection.this, in, from, to, System.nanoTime());
          case 0x8 -> out.add(new CloseWebSocketFrame(true, 0, in.retainedSlice(from, to - from)));
          case 0x9 -> out.add(new PingWebSocketFrame(in.retainedSlice(from, to - from)));
          case 0xA -> out.add(new PongWebSocketFrame(in.retainedSlice(from, to - from)));
          default ->
              throw new CorruptedWebSocketFrameException(
                  WebSocketCloseStatus.PROTOCOL_ERROR,
                  "expected a binary frame, got opcode " + opcode);
        }
        in.readerIndex(to);
      }
    }
  }
}
