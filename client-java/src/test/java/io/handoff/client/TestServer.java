package io.handoff.client;

import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.ServerFrame;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBufInputStream;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.websocketx.BinaryWebSocketFrame;
import io.netty.handler.codec.http.websocketx.CloseWebSocketFrame;
import io.netty.handler.codec.http.websocketx.PongWebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocketServerProtocolConfig;
import io.netty.handler.codec.http.websocketx.WebSocketServerProtocolHandler;
import java.net.InetSocketAddress;
import java.net.URI;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A scripted WebSocket server on 127.0.0.1, port 0: it refuses upgrades without the expected bearer
 * token (HTTP 401), or every upgrade with {@link #refuseWith} when set, hands each accepted
 * connection to the test, and lets the test read the client's frames and send frames and close
 * codes back.
 */
final class TestServer implements AutoCloseable {
  static final long WAIT_SECONDS = 10;

  /** One accepted WebSocket connection. */
  static final class Connection {
    final Channel channel;
    final String authorization;
    final BlockingQueue<ClientFrame> frames = new LinkedBlockingQueue<>();

    /** The close code the client sent, if it sent a close frame. */
    final CompletableFuture<Integer> clientCloseCode = new CompletableFuture<>();

    /** WebSocket pongs from the client (its answers to the pings a test sends), not yet awaited. */
    private final Semaphore pongs = new Semaphore(0);

    Connection(Channel channel, String authorization) {
      this.channel = channel;
      this.authorization = authorization;
    }

    /** The next frame from the client; fails the test after 10 s. */
    ClientFrame next() throws InterruptedException {
      ClientFrame frame = frames.poll(WAIT_SECONDS, TimeUnit.SECONDS);
      assertNotNull(frame, "no frame from the client within " + WAIT_SECONDS + " s");
      return frame;
    }

    /**
     * Waits for the client's next WebSocket pong: the client's event loop has read a ping by then.
     * Fails the test after 10 s.
     */
    void awaitPong() throws InterruptedException {
      assertTrue(
          pongs.tryAcquire(WAIT_SECONDS, TimeUnit.SECONDS),
          "no pong from the client within " + WAIT_SECONDS + " s");
    }

    void send(ServerFrame frame) {
      channel.writeAndFlush(new BinaryWebSocketFrame(Unpooled.wrappedBuffer(frame.toByteArray())));
    }

    /** Sends a close frame without a status code (the client reads 1005), then closes TCP. */
    void closeWithoutStatus() {
      channel
          .writeAndFlush(new CloseWebSocketFrame(true, 0, Unpooled.EMPTY_BUFFER))
          .addListener(ChannelFutureListener.CLOSE);
    }

    /** Sends a close frame with this code, then closes TCP. */
    void close(int code, String reason) {
      channel
          .writeAndFlush(new CloseWebSocketFrame(code, reason))
          .addListener(ChannelFutureListener.CLOSE);
    }
  }

  private final EventLoopGroup group =
      new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
  private final BlockingQueue<Connection> accepted = new LinkedBlockingQueue<>();

  /** TCP connections accepted, upgraded or not. */
  final AtomicInteger tcpConnections = new AtomicInteger();

  /** When not 0, every upgrade is refused with this HTTP status (as a proxy in front would). */
  volatile int refuseWith;

  /** When not null, the {@code Retry-After} of each refusal with {@link #refuseWith}. */
  volatile String refuseRetryAfter;

  private final String expectedAuthorization;
  private final Channel server;

  TestServer(String token) throws InterruptedException {
    this.expectedAuthorization = "Bearer " + token;
    WebSocketServerProtocolConfig ws =
        WebSocketServerProtocolConfig.newBuilder()
            .websocketPath("/ws")
            .handleCloseFrames(false)
            .dropPongFrames(false)
            .maxFramePayloadLength(1 << 20)
            .build();
    server =
        new ServerBootstrap()
            .group(group)
            .channel(NioServerSocketChannel.class)
            .childHandler(
                new ChannelInitializer<SocketChannel>() {
                  @Override
                  protected void initChannel(SocketChannel ch) {
                    tcpConnections.incrementAndGet();
                    ch.pipeline()
                        .addLast(new HttpServerCodec())
                        .addLast(new HttpObjectAggregator(64 * 1024))
                        .addLast(new AuthCheck())
                        .addLast(new WebSocketServerProtocolHandler(ws))
                        .addLast(new FrameHandler());
                  }
                })
            .bind("127.0.0.1", 0)
            .sync()
            .channel();
  }

  URI url() {
    InetSocketAddress address = (InetSocketAddress) server.localAddress();
    return URI.create("ws://127.0.0.1:" + address.getPort() + "/ws");
  }

  /** The next accepted WebSocket connection; fails the test after 10 s. */
  Connection accept() throws InterruptedException {
    Connection c = accepted.poll(WAIT_SECONDS, TimeUnit.SECONDS);
    assertNotNull(c, "no WebSocket connection within " + WAIT_SECONDS + " s");
    return c;
  }

  /**
   * The next accepted WebSocket connection ({@link #accept}), checked to open with a Hello, which
   * it answers with a Welcome at version 0.
   */
  Connection acceptAndWelcome() throws InterruptedException {
    return acceptAndWelcome("the connection opens with a Hello");
  }

  /** {@link #acceptAndWelcome()}, with {@code message} if the first frame is no Hello. */
  Connection acceptAndWelcome(String message) throws InterruptedException {
    Connection c = accept();
    assertTrue(c.next().hasHello(), message);
    c.send(Frames.welcome(0));
    return c;
  }

  @Override
  public void close() {
    server.close().syncUninterruptibly();
    group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
  }

  /** Refuses the upgrade with 401 unless the Authorization header is the expected one. */
  private final class AuthCheck extends SimpleChannelInboundHandler<FullHttpRequest> {
    AuthCheck() {
      super(false);
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest request) {
      int refusal = refuseWith;
      if (refusal == 0
          && expectedAuthorization.equals(request.headers().get(HttpHeaderNames.AUTHORIZATION))) {
        ctx.fireChannelRead(request);
        return;
      }
      request.release();
      DefaultFullHttpResponse refused =
          new DefaultFullHttpResponse(
              HttpVersion.HTTP_1_1,
              refusal == 0 ? HttpResponseStatus.UNAUTHORIZED : HttpResponseStatus.valueOf(refusal));
      refused.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, 0);
      String retryAfter = refuseRetryAfter;
      if (refusal != 0 && retryAfter != null) {
        refused.headers().set(HttpHeaderNames.RETRY_AFTER, retryAfter);
      }
      ctx.writeAndFlush(refused).addListener(ChannelFutureListener.CLOSE);
    }
  }

  private final class FrameHandler extends SimpleChannelInboundHandler<WebSocketFrame> {
    private Connection connection;

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
      if (evt instanceof WebSocketServerProtocolHandler.HandshakeComplete handshake) {
        connection =
            new Connection(
                ctx.channel(), handshake.requestHeaders().get(HttpHeaderNames.AUTHORIZATION));
        accepted.add(connection);
      }
      super.userEventTriggered(ctx, evt);
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, WebSocketFrame frame) throws Exception {
      if (frame instanceof BinaryWebSocketFrame) {
        connection.frames.add(ClientFrame.parseFrom(new ByteBufInputStream(frame.content())));
      } else if (frame instanceof PongWebSocketFrame) {
        connection.pongs.release();
      } else if (frame instanceof CloseWebSocketFrame close) {
        connection.clientCloseCode.complete(close.statusCode());
        ctx.close();
      }
    }
  }
}
