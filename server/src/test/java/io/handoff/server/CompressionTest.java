package io.handoff.server;

import static io.handoff.server.TestServer.token;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.Hello;
import io.handoff.protocol.v1.Ping;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.server.transport.TransportConfig;
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
import java.io.DataInputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/**
 * permessage-deflate: off by default; when on, negotiated when asked for, without context takeover
 * where the device offers to go without; a decompression bomb, bad deflate data and a message that
 * inflates to nothing close only their sender with a protocol code.
 */
class CompressionTest {
  private static final String BROWSER_OFFER = "permessage-deflate; client_max_window_bits";

  private static void compressing(ServerConfig.Builder b) {
    b.transport(TransportConfig.builder().compression(true).build());
  }

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
    try (TestServer server = TestServer.start(CompressionTest::compressing);
        TestDevice plain = TestDevice.connect(server.port(), token("z1", "plain"))) {
      plain.hello();
      DeflateDevice d = new DeflateDevice(server.port(), token("z1", "deflate"));
      assertTrue(d.deflateNegotiated(), "permessage-deflate was negotiated");
      d.send(ClientFrame.newBuilder().setRequestId(1).setHello(Hello.getDefaultInstance()).build());
      assertTrue(d.next().hasWelcome());
      String big = "position-".repeat(1000);
      d.send(Writes.frame("player", 1, "p", big).setRequestId(2).build());
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
    try (TestServer server = TestServer.start(CompressionTest::compressing)) {
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
      devices.get(0).send(Writes.frame("player", 1, "p", big).setRequestId(2).build());
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
    try (TestServer server = TestServer.start(b -> compressing(b.maxFrameBytes(64 * 1024)));
        TestDevice bystander = TestDevice.connect(server.port(), token("z2", "tv"))) {
      bystander.hello();
      DeflateDevice bomb = new DeflateDevice(server.port(), token("z2", "bomb"));
      bomb.send(
          ClientFrame.newBuilder().setRequestId(1).setHello(Hello.getDefaultInstance()).build());
      assertTrue(bomb.next().hasWelcome());
      // 16 MiB of zeros deflate to about 16 KiB on the wire, far under the frame limit.
      bomb.sendRaw(new byte[16 << 20]);
      assertEquals(CloseCode.FRAME_TOO_LARGE.code(), bomb.closeCode.get(10, TimeUnit.SECONDS));
      bystander.send(ClientFrame.newBuilder().setPing(Ping.newBuilder().setNonce(5)));
      assertEquals(5, bystander.next(ServerFrame::hasPong).getPong().getNonce());
    }
  }

  @Test
  void byDefaultABrowsersOfferIsNotTakenUp() throws Exception {
    try (TestServer server = TestServer.start();
        RawDevice d = new RawDevice(server.port(), token("z4", "browser"), BROWSER_OFFER)) {
      assertTrue(d.head.startsWith("HTTP/1.1 101"), d.head);
      assertFalse(d.head.toLowerCase(Locale.ROOT).contains("sec-websocket-extensions"), d.head);
    }
  }

  @Test
  void offersToGoWithoutContextTakeoverAreTakenUpSoNoContextIsKept() throws Exception {
    try (TestServer server = TestServer.start(CompressionTest::compressing)) {
      String offer =
          "permessage-deflate; server_no_context_takeover; client_no_context_takeover;"
              + " client_max_window_bits";
      try (RawDevice d = new RawDevice(server.port(), token("z5", "careful"), offer)) {
        String extensions = d.header("sec-websocket-extensions");
        assertTrue(extensions.contains("server_no_context_takeover"), d.head);
        assertTrue(extensions.contains("client_no_context_takeover"), d.head);
      }
      try (RawDevice d = new RawDevice(server.port(), token("z5", "browser"), BROWSER_OFFER)) {
        assertTrue(d.header("sec-websocket-extensions").startsWith("permessage-deflate"), d.head);
      }
    }
  }

  @Test
  void badDeflateDataAndAMessageThatInflatesToNothingCloseWithProtocolError() throws Exception {
    try (TestServer server = TestServer.start(CompressionTest::compressing);
        TestDevice bystander = TestDevice.connect(server.port(), token("z6", "tv"))) {
      bystander.hello();
      byte[][] bad = {
        {(byte) 0xff, (byte) 0xff, (byte) 0xff, 0x00}, // block type 3: not deflate
        {0x03, 0x00} // a final empty block: inflates to nothing
      };
      String[] reasons = {"not valid deflate data", "bad compressed frame"};
      for (int i = 0; i < bad.length; i++) {
        try (RawDevice d = new RawDevice(server.port(), token("z6", "d" + i), BROWSER_OFFER)) {
          d.sendCompressed(bad[i]);
          RawDevice.Close close = d.awaitClose();
          assertEquals(CloseCode.PROTOCOL_ERROR.code(), close.code(), close.toString());
          assertTrue(close.reason().contains(reasons[i]), close.toString());
        }
      }
      bystander.send(ClientFrame.newBuilder().setPing(Ping.newBuilder().setNonce(6)));
      assertEquals(6, bystander.next(ServerFrame::hasPong).getPong().getNonce());
    }
  }

  @Test
  void aDeviceThatDropsOrBreaksFramingInsideAFragmentedMessageLogsNoWarning() throws Exception {
    Logger serverLogger = (Logger) LoggerFactory.getLogger("io.handoff.server");
    ListAppender<ILoggingEvent> logged = new ListAppender<>();
    logged.start();
    serverLogger.addAppender(logged);
    try (TestServer server = TestServer.start(CompressionTest::compressing);
        TestDevice bystander = TestDevice.connect(server.port(), token("z7", "tv"))) {
      bystander.hello();
      logged.list.clear(); // The node's start warns of its ephemeral signing key.
      // A mobile network that drops mid-message: the first fragment, then the connection is gone.
      try (RawDevice d = new RawDevice(server.port(), token("z7", "dropped"), BROWSER_OFFER)) {
        d.sendFrame(0x82, HELLO);
        d.sendFrame(0x02, new byte[] {0x0a});
      }
      // A device that breaks the framing inside a message: a text frame where its rest belongs.
      try (RawDevice d = new RawDevice(server.port(), token("z7", "broken"), BROWSER_OFFER)) {
        d.sendFrame(0x82, HELLO);
        d.sendFrame(0x02, new byte[] {0x0a});
        d.sendFrame(0x81, new byte[] {0x61});
        assertEquals(CloseCode.PROTOCOL_ERROR.code(), d.awaitClose().code());
      }
      Conditions.await(
          "both connections closed",
          () -> server.server.stats().connectionsClosed.sum() == 2,
          java.time.Duration.ofSeconds(10));
      List<ILoggingEvent> warnings =
          logged.list.stream().filter(e -> e.getLevel().isGreaterOrEqual(Level.WARN)).toList();
      assertEquals(List.of(), warnings, "a device's unfinished message is no server fault");
      bystander.send(ClientFrame.newBuilder().setPing(Ping.newBuilder().setNonce(7)));
      assertEquals(7, bystander.next(ServerFrame::hasPong).getPong().getNonce());
    } finally {
      serverLogger.detachAppender(logged);
    }
  }

  @Test
  void aFragmentedBombIsRefusedOnceItsInflatedFragmentsPassTheFrameLimit() throws Exception {
    try (TestServer server = TestServer.start(b -> compressing(b.maxFrameBytes(64 * 1024)));
        RawDevice d = new RawDevice(server.port(), token("z10", "bomb"), BROWSER_OFFER)) {
      d.sendFrame(0x82, HELLO);
      byte[] fragment = deflatedZeros(48 * 1024); // each under the limit, two over it
      d.sendFrame(0x40 | 0x02, fragment);
      d.sendFrame(0x00, fragment);
      assertEquals(CloseCode.FRAME_TOO_LARGE.code(), d.awaitClose().code());
    }
  }

  /**
   * The node's bound on large messages still arriving covers compressed connections: a few KiB of
   * deflate data that inflate to a message's first 15 MiB hold as much of the node's memory as 15
   * MiB sent plain, and the device that would pass the bound is closed with UNAVAILABLE while the
   * devices within it keep their messages and are still read.
   */
  @Test
  void inflatedMessagesStillArrivingCountAgainstTheNodesBound() throws Exception {
    int inflated = 15 << 20;
    byte[] fragment = deflatedZeros(inflated);
    int devices = (int) (nodeInboundBound() / inflated) + 2;
    try (TestServer server = TestServer.start(b -> compressing(b.maxFrameBytes(16 << 20)));
        TestDevice bystander = TestDevice.connect(server.port(), token("z8", "tv"));
        RawDevices open = new RawDevices()) {
      bystander.hello();
      int refused = -1;
      for (int i = 0; i < devices && refused < 0; i++) {
        RawDevice d = new RawDevice(server.port(), token("z8-" + i, "d"), BROWSER_OFFER);
        open.add(d);
        d.sendFrame(0x82, HELLO);
        d.sendFrame(0x40 | 0x02, fragment); // compressed (RSV1), a first fragment (no FIN)
        d.sendFrame(0x89, new byte[] {(byte) i}); // a ping, answered once the fragment is read
        RawDevice.Control reply = d.nextControl();
        if (reply.opcode() == 0x8) {
          assertEquals(CloseCode.UNAVAILABLE.code(), reply.closeCode(), "device " + i);
          refused = i;
        } else {
          assertEquals(0xA, reply.opcode(), "device " + i + " was answered a pong");
        }
      }
      assertTrue(
          refused > 0,
          devices
              + " devices each hold "
              + inflated
              + " inflated bytes of a message, past the"
              + " node's bound of "
              + nodeInboundBound()
              + " bytes, and none was refused");
      RawDevice first = open.get(0);
      first.sendFrame(0x89, new byte[] {42});
      assertEquals(0xA, first.nextControl().opcode(), "a device within the bound is still read");
      bystander.send(ClientFrame.newBuilder().setPing(Ping.newBuilder().setNonce(8)));
      assertEquals(8, bystander.next(ServerFrame::hasPong).getPong().getNonce());
    }
  }

  /**
   * A compressed connection's frame still arriving (its payload held whole before it is inflated)
   * counts against the node's bound on large messages still arriving, as a plain connection's does.
   */
  @Test
  void compressedFramesStillArrivingCountAgainstTheNodesBound() throws Exception {
    int partial = 15 << 20;
    byte[] payload = new byte[partial];
    int devices = (int) (nodeInboundBound() / partial) + 2;
    // No heartbeat ping while the devices wait: what a device hears is the node's answer.
    try (TestServer server =
            TestServer.start(
                b ->
                    compressing(
                        b.maxFrameBytes(16 << 20)
                            .heartbeatInterval(java.time.Duration.ofHours(1))));
        TestDevice bystander = TestDevice.connect(server.port(), token("z9", "tv"));
        RawDevices open = new RawDevices()) {
      bystander.hello();
      for (int i = 0; i < devices; i++) {
        RawDevice d = new RawDevice(server.port(), token("z9-" + i, "d"), BROWSER_OFFER);
        open.add(d);
        d.sendFrame(0x82, HELLO);
        d.sendFrame(0x89, new byte[] {(byte) i});
        assertEquals(0xA, d.nextControl().opcode(), "device " + i + " was welcomed and read");
        d.sendHeader(0x80 | 0x40 | 0x02, (16 << 20) - 1); // a compressed frame under the limit
        d.sendPayload(payload, partial); // most of it
      }
      Conditions.await(
          "a device past the node's bound of " + nodeInboundBound() + " bytes is told",
          () -> open.stream().anyMatch(RawDevice::heard),
          java.time.Duration.ofSeconds(20));
      for (RawDevice d : open) {
        if (d.heard()) {
          assertEquals(CloseCode.UNAVAILABLE.code(), d.awaitClose().code());
        }
      }
      bystander.send(ClientFrame.newBuilder().setPing(Ping.newBuilder().setNonce(9)));
      assertEquals(9, bystander.next(ServerFrame::hasPong).getPong().getNonce());
    }
  }

  /** Closed before the node: a device that answers no close frame holds its stop a second. */
  private static final class RawDevices extends java.util.ArrayList<RawDevice>
      implements AutoCloseable {
    @Override
    public void close() throws IOException {
      for (RawDevice d : this) {
        d.close();
      }
    }
  }

  private static final byte[] HELLO =
      ClientFrame.newBuilder().setHello(Hello.getDefaultInstance()).build().toByteArray();

  /** The node's bound on large messages still arriving, as it computes it for this JVM. */
  private static long nodeInboundBound() {
    return Math.min(
            Runtime.getRuntime().maxMemory(),
            io.netty.util.internal.PlatformDependent.maxDirectMemory())
        / 8;
  }

  /** {@code size} zeros as raw deflate data, flushed (a fragment's payload), about size/1000. */
  private static byte[] deflatedZeros(int size) {
    java.util.zip.Deflater deflater = new java.util.zip.Deflater(9, true);
    deflater.setInput(new byte[size]);
    java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
    byte[] chunk = new byte[64 * 1024];
    int n;
    do {
      n = deflater.deflate(chunk, 0, chunk.length, java.util.zip.Deflater.SYNC_FLUSH);
      out.write(chunk, 0, n);
    } while (n == chunk.length);
    deflater.end();
    return out.toByteArray();
  }

  /** A device on a raw socket: its own upgrade request, masked frames, reads until a close. */
  private static final class RawDevice implements AutoCloseable {
    record Close(int code, String reason) {}

    record Control(int opcode, byte[] payload) {
      int closeCode() {
        return opcode == 0x8 ? ((payload[0] & 0xff) << 8) | (payload[1] & 0xff) : -1;
      }
    }

    private final Socket socket;
    private final DataInputStream in;
    final String head;

    RawDevice(int port, String token, String extensions) throws IOException {
      socket = new Socket();
      socket.connect(new InetSocketAddress("127.0.0.1", port), 10_000);
      socket.setSoTimeout(10_000);
      in = new DataInputStream(socket.getInputStream());
      String request =
          "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
              + "Sec-WebSocket-Extensions: "
              + extensions
              + "\r\nAuthorization: Bearer "
              + token
              + "\r\n\r\n";
      socket.getOutputStream().write(request.getBytes(StandardCharsets.US_ASCII));
      StringBuilder h = new StringBuilder();
      while (!h.toString().endsWith("\r\n\r\n")) {
        int c = in.read();
        if (c < 0) {
          throw new IOException("closed during the upgrade: " + h);
        }
        h.append((char) c);
      }
      head = h.toString();
    }

    String header(String name) {
      for (String line : head.split("\r\n")) {
        int colon = line.indexOf(':');
        if (colon > 0 && line.substring(0, colon).trim().equalsIgnoreCase(name)) {
          return line.substring(colon + 1).trim();
        }
      }
      throw new AssertionError("no " + name + " in " + head);
    }

    /** A binary message with RSV1 set (compressed), of these deflate bytes, masked. */
    void sendCompressed(byte[] deflated) throws IOException {
      byte[] mask = {1, 2, 3, 4};
      byte[] frame = new byte[2 + 4 + deflated.length];
      frame[0] = (byte) (0x80 | 0x40 | 0x2);
      frame[1] = (byte) (0x80 | deflated.length);
      System.arraycopy(mask, 0, frame, 2, 4);
      for (int i = 0; i < deflated.length; i++) {
        frame[6 + i] = (byte) (deflated[i] ^ mask[i & 3]);
      }
      socket.getOutputStream().write(frame);
    }

    /** One masked frame: {@code first} is its first byte (FIN, RSV and opcode). */
    void sendFrame(int first, byte[] payload) throws IOException {
      sendHeader(first, payload.length);
      sendPayload(payload, payload.length);
    }

    /**
     * A masked frame's header, for a payload of {@code length} bytes, its masking key all zeros
     * (RFC 6455 allows any key), so that its payload is sent as it is.
     */
    void sendHeader(int first, long length) throws IOException {
      java.io.DataOutputStream out = new java.io.DataOutputStream(socket.getOutputStream());
      out.writeByte(first);
      if (length < 126) {
        out.writeByte(0x80 | (int) length);
      } else if (length <= 0xffff) {
        out.writeByte(0x80 | 126);
        out.writeShort((int) length);
      } else {
        out.writeByte(0x80 | 127);
        out.writeLong(length);
      }
      out.writeInt(0);
      out.flush();
    }

    /** The first {@code length} bytes of a payload after {@link #sendHeader}. */
    void sendPayload(byte[] payload, int length) throws IOException {
      socket.getOutputStream().write(payload, 0, length);
    }

    /** Skips data frames until a control frame, and returns its opcode and payload. */
    Control nextControl() throws IOException {
      while (true) {
        int first = in.readUnsignedByte();
        int length = in.readUnsignedByte() & 0x7f;
        if (length == 126) {
          length = in.readUnsignedShort();
        } else if (length == 127) {
          length = (int) in.readLong();
        }
        byte[] payload = in.readNBytes(length);
        if ((first & 0x08) != 0) {
          return new Control(first & 0x0f, payload);
        }
      }
    }

    /** Whether the node has sent anything this device has not read yet, or reset it. */
    boolean heard() {
      try {
        return in.available() > 0;
      } catch (IOException e) {
        return true;
      }
    }

    /** Skips frames until the server's close frame, and returns its code and reason. */
    Close awaitClose() throws IOException {
      while (true) {
        int first = in.readUnsignedByte();
        int length = in.readUnsignedByte() & 0x7f;
        if (length == 126) {
          length = in.readUnsignedShort();
        } else if (length == 127) {
          length = (int) in.readLong();
        }
        byte[] payload = in.readNBytes(length);
        if ((first & 0x0f) == 0x8) {
          int code = ((payload[0] & 0xff) << 8) | (payload[1] & 0xff);
          return new Close(
              code, new String(payload, 2, payload.length - 2, StandardCharsets.UTF_8));
        }
      }
    }

    @Override
    public void close() throws IOException {
      socket.close();
    }
  }
}
