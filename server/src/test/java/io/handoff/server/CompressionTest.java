package io.handoff.server;

import static io.handoff.server.TestServer.token;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.Hello;
import io.handoff.protocol.v1.ServerFrame;
import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.websocketx.BinaryWebSocketFrame;
import io.netty.handler.codec.http.websocketx.CloseWebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocketClientProtocolConfig;
import io.netty.handler.codec.http.websocketx.WebSocketClientProtocolHandler;
import io.netty.handler.codec.http.websocketx.WebSocketFrame;
import io.netty.handler.codec.http.websocketx.extensions.compression.WebSocketClientCompressionHandler;
import java.net.URI;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * permessage-deflate: negotiated when asked for, and a decompression bomb closes only its sender.
 */
class CompressionTest {
  private final EventLoopGroup group =
      new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());

  @AfterEach
  void stop() {
    group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
  }

  /** A Netty WebSocket client that asks for permessage-deflate. */
  private final class DeflateDevice {
    final LinkedBlockingQueue<ServerFrame> frames = new LinkedBlockingQueue<>();
    final CompletableFuture<Integer> closeCode = new CompletableFuture<>();
    final CompletableFuture<Void> upgraded = new CompletableFuture<>();
    final Channel channel;

    DeflateDevice(int port, String token) throws Exception {
      DefaultHttpHeaders headers = new DefaultHttpHeaders();
      headers.set("Authorization", "Bearer " + token);
      WebSocketClientProtocolConfig config =
          WebSocketClientProtocolConfig.newBuilder()
              .webSocketUri(URI.create("ws://127.0.0.1:" + port + "/ws"))
              .customHeaders(headers)
              .allowExtensions(true)
              .handleCloseFrames(false)
              .maxFramePayloadLength(1 << 20)
              .build();
      channel =
          new Bootstrap()
              .group(group)
              .channel(NioSocketChannel.class)
              .handler(
                  new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                      ch.pipeline()
                          .addLast(new HttpClientCodec())
                          .addLast(new HttpObjectAggregator(8192))
                          .addLast(new WebSocketClientCompressionHandler(1 << 20))
                          .addLast(new WebSocketClientProtocolHandler(config))
                          .addLast(
                              new SimpleChannelInboundHandler<WebSocketFrame>() {
                                @Override
                                public void userEventTriggered(
                                    ChannelHandlerContext ctx, Object e) {
                                  if (e
                                      == WebSocketClientProtocolHandler.ClientHandshakeStateEvent
                                          .HANDSHAKE_COMPLETE) {
                                    upgraded.complete(null);
                                  }
                                  ctx.fireUserEventTriggered(e);
                                }

                                @Override
                                protected void channelRead0(
                                    ChannelHandlerContext ctx, WebSocketFrame f) throws Exception {
                                  if (f instanceof BinaryWebSocketFrame b) {
                                    frames.add(
                                        ServerFrame.parseFrom(ByteBufUtil.getBytes(b.content())));
                                  } else if (f instanceof CloseWebSocketFrame c) {
                                    closeCode.complete(c.statusCode());
                                  }
                                }

                                @Override
                                public void channelInactive(ChannelHandlerContext ctx) {
                                  closeCode.complete(1006);
                                }
                              });
                    }
                  })
              .connect("127.0.0.1", port)
              .sync()
              .channel();
      upgraded.get(10, TimeUnit.SECONDS);
    }

    boolean deflateNegotiated() {
      return channel.pipeline().toMap().values().stream()
          .anyMatch(h -> h.getClass().getSimpleName().startsWith("PerMessageDeflate"));
    }

    void send(ClientFrame frame) {
      sendRaw(frame.toByteArray());
    }

    void sendRaw(byte[] bytes) {
      channel
          .writeAndFlush(new BinaryWebSocketFrame(Unpooled.wrappedBuffer(bytes)))
          .syncUninterruptibly();
    }

    ServerFrame next() throws InterruptedException {
      ServerFrame f = frames.poll(10, TimeUnit.SECONDS);
      assertTrue(f != null, "no frame within 10 s");
      return f;
    }
  }

  @Test
  void deviceThatAsksForDeflateGetsItAndSyncsAsUsual() throws Exception {
    try (TestServer server = TestServer.start();
        TestDevice plain = TestDevice.connect(server.port(), token("z1", "plain"))) {
      plain.hello();
      DeflateDevice d = new DeflateDevice(server.port(), token("z1", "deflate"));
      assertTrue(d.deflateNegotiated(), "permessage-deflate was negotiated");
      d.send(ClientFrame.newBuilder().setRequestId(1).setHello(Hello.getDefaultInstance()).build());
      assertTrue(d.next().hasWelcome());
      String big = "position-".repeat(1000);
      d.send(SessionProtocolTest.write("player", 1, "p", big).setRequestId(2).build());
      assertTrue(d.next().hasAck());
      ServerFrame delta = plain.next(ServerFrame::hasDelta);
      assertEquals(big, delta.getDelta().getOps(0).getSet().toStringUtf8());
      d.channel.close().syncUninterruptibly();
    }
  }

  @Test
  void deflateDevicesMovedToTheirUsersLoopNegotiateAndSync() throws Exception {
    // One device per worker loop, all of one user: connections are accepted onto the loops in
    // turn, so all but one are moved to the user's loop before Netty's handshaker answers them.
    int loops = 2 * Runtime.getRuntime().availableProcessors();
    try (TestServer server = TestServer.start()) {
      java.util.List<DeflateDevice> devices = new java.util.ArrayList<>();
      for (int i = 0; i < loops; i++) {
        DeflateDevice d = new DeflateDevice(server.port(), token("z3", "deflate" + i));
        devices.add(d);
        assertTrue(d.deflateNegotiated(), "permessage-deflate was negotiated by device " + i);
        d.send(
            ClientFrame.newBuilder().setRequestId(1).setHello(Hello.getDefaultInstance()).build());
        assertTrue(d.next().hasWelcome(), "device " + i + " was welcomed");
      }
      java.util.List<io.netty.channel.EventLoop> used = server.server.hub().loopsOf("z3");
      assertEquals(loops, used.size());
      assertEquals(1, new java.util.HashSet<>(used).size(), "z3's sessions share one loop");
      String big = "position-".repeat(1000);
      devices.get(0).send(SessionProtocolTest.write("player", 1, "p", big).setRequestId(2).build());
      for (DeflateDevice d : devices.subList(1, loops)) {
        ServerFrame f = d.next();
        while (!f.hasDelta()) {
          f = d.next();
        }
        assertEquals(big, f.getDelta().getOps(0).getSet().toStringUtf8());
      }
      for (DeflateDevice d : devices) {
        d.channel.close().syncUninterruptibly();
      }
    }
  }

  @Test
  void decompressionBombClosesOnlyItsSenderWithFrameTooLarge() throws Exception {
    try (TestServer server = TestServer.start(b -> b.maxFrameBytes(64 * 1024));
        TestDevice bystander = TestDevice.connect(server.port(), token("z2", "tv"))) {
      bystander.hello();
      DeflateDevice bomb = new DeflateDevice(server.port(), token("z2", "bomb"));
      bomb.send(
          ClientFrame.newBuilder().setRequestId(1).setHello(Hello.getDefaultInstance()).build());
      assertTrue(bomb.next().hasWelcome());
      // 16 MiB of zeros deflate to about 16 KiB on the wire, far under the frame limit.
      bomb.sendRaw(new byte[16 << 20]);
      assertEquals(CloseCode.FRAME_TOO_LARGE.code(), bomb.closeCode.get(10, TimeUnit.SECONDS));
      bystander.send(
          ClientFrame.newBuilder().setPing(io.handoff.protocol.v1.Ping.newBuilder().setNonce(5)));
      assertEquals(5, bystander.next(ServerFrame::hasPong).getPong().getNonce());
    }
  }
}
