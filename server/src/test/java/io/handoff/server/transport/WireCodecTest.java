package io.handoff.server.transport;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnknownFieldSet;
import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.FieldOp;
import io.handoff.protocol.v1.Ping;
import io.handoff.protocol.v1.Pong;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.protocol.v1.Write;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOutboundHandlerAdapter;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.websocketx.BinaryWebSocketFrame;
import io.netty.handler.codec.http.websocketx.CloseWebSocketFrame;
import io.netty.handler.codec.http.websocketx.ContinuationWebSocketFrame;
import io.netty.handler.codec.http.websocketx.PingWebSocketFrame;
import io.netty.handler.codec.http.websocketx.TextWebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocket13FrameDecoder;
import io.netty.handler.codec.http.websocketx.WebSocket13FrameEncoder;
import io.netty.handler.codec.http.websocketx.WebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocketFrameAggregator;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The framing and codec of a plain (no extension) connection, against exact wire bytes. */
class WireCodecTest {
  private static final int MAX = 1024;
  // RFC 6455 5.7: a masked ping carrying "Hello", mask 37 fa 21 3d.
  private static final byte[] RFC_MASKED_PING = {
    (byte) 0x89, (byte) 0x85, 0x37, (byte) 0xfa, 0x21, 0x3d, 0x7f, (byte) 0x9f, 0x4d, 0x51, 0x58
  };

  @Test
  void unmaskRestoresEveryPayloadLengthInHeapDirectAndCompositeBuffers() {
    int mask = 0x37fa213d;
    byte[] key = {0x37, (byte) 0xfa, 0x21, 0x3d};
    for (int size : new int[] {0, 1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 4099}) {
      byte[] plain = new byte[size];
      for (int i = 0; i < size; i++) {
        plain[i] = (byte) (i * 31 + 7);
      }
      // Three bytes before and after the payload, which unmasking must leave alone.
      byte[] wire = new byte[size + 6];
      for (int i = 0; i < size; i++) {
        wire[3 + i] = (byte) (plain[i] ^ key[i & 3]);
      }
      int half = wire.length / 2;
      ByteBuf[] bufs = {
        Unpooled.wrappedBuffer(wire.clone()),
        Unpooled.directBuffer(wire.length).writeBytes(wire),
        Unpooled.compositeBuffer()
            .addComponent(true, Unpooled.wrappedBuffer(wire, 0, half).copy())
            .addComponent(true, Unpooled.wrappedBuffer(wire, half, wire.length - half).copy())
      };
      for (ByteBuf buf : bufs) {
        WireCodec.unmask(buf, mask, 3, size);
        byte[] expected = wire.clone();
        System.arraycopy(plain, 0, expected, 3, size);
        assertArrayEquals(expected, ByteBufUtil.getBytes(buf), "size " + size + " in " + buf);
        buf.release();
      }
    }
  }

  @Test
  void answersTheRfcsMaskedPingWithAnUnmaskedPong() {
    EmbeddedChannel ch = new EmbeddedChannel(WireCodec.of(MAX));
    ch.writeInbound(Unpooled.wrappedBuffer(RFC_MASKED_PING));
    ByteBuf pong = ch.readOutbound();
    assertArrayEquals(
        new byte[] {(byte) 0x8a, 0x05, 'H', 'e', 'l', 'l', 'o'}, ByteBufUtil.getBytes(pong));
    pong.release();
    assertNull(ch.readInbound());
    assertFalse(ch.finishAndReleaseAll());
  }

  @Test
  void pingsThatArriveInOneReadAreAnsweredWithOneFlush() {
    AtomicInteger flushes = new AtomicInteger();
    EmbeddedChannel ch =
        new EmbeddedChannel(
            new ChannelOutboundHandlerAdapter() {
              @Override
              public void flush(ChannelHandlerContext ctx) {
                flushes.incrementAndGet();
                ctx.flush();
              }
            },
            WireCodec.of(MAX));
    byte[] burst = new byte[0];
    for (int i = 0; i < 100; i++) {
      burst = concat(burst, RFC_MASKED_PING);
    }
    ch.writeInbound(Unpooled.wrappedBuffer(burst));
    assertEquals(1, flushes.get(), "one flush for the read's hundred pongs");
    for (int i = 0; i < 100; i++) {
      ByteBuf pong = ch.readOutbound();
      assertEquals(0x8a, pong.getUnsignedByte(0), "pong " + i);
      pong.release();
    }
    assertNull(ch.readOutbound());
    assertFalse(ch.finishAndReleaseAll());
  }

  @Test
  void largeMessagesStillArrivingAreBoundedPerNodeAndOnlyTheConnectionOverTheBoundIsClosed() {
    InboundBudget budget = new InboundBudget(300 * 1024);
    EmbeddedChannel a = new EmbeddedChannel(codec(1 << 20, budget));
    EmbeddedChannel b = new EmbeddedChannel(codec(1 << 20, budget));
    ClientFrame large =
        ClientFrame.newBuilder()
            .setWrite(
                Write.newBuilder()
                    .setDocument("d")
                    .setClientSeq(1)
                    .addOps(
                        FieldOp.newBuilder()
                            .setField("f")
                            .setSet(ByteString.copyFrom(new byte[200 * 1024]))))
            .build();
    byte[] wire = clientFrames(large);
    int chunk = 16 * 1024;
    int sent = 0;
    while (sent < wire.length - 1) {
      int n = Math.min(chunk, wire.length - 1 - sent);
      a.writeInbound(Unpooled.wrappedBuffer(wire, sent, n));
      sent += n;
    }
    assertTrue(budget.held() > InboundBudget.COUNTED_ABOVE, "a's message is counted");
    ProtocolViolation over =
        assertThrows(
            ProtocolViolation.class,
            () -> {
              for (int i = 0; i < wire.length; i += chunk) {
                b.writeInbound(Unpooled.wrappedBuffer(wire, i, Math.min(chunk, wire.length - i)));
              }
            });
    assertEquals(CloseCode.UNAVAILABLE, over.code());
    a.writeInbound(Unpooled.wrappedBuffer(wire, wire.length - 1, 1));
    assertEquals(large, a.readInbound(), "the connection within the bound gets its message");
    assertEquals(0, budget.held(), "both gave back what they held");
    a.writeInbound(Unpooled.wrappedBuffer(wire, 0, wire.length - 1));
    assertTrue(budget.held() > 0);
    a.finishAndReleaseAll();
    assertEquals(0, budget.held(), "a connection that goes gives back what it held");
    b.finishAndReleaseAll();
  }

  private static WireCodec codec(int maxFrameBytes, InboundBudget budget) {
    return new WireCodec(true) {
      @Override
      int maxFrameBytes() {
        return maxFrameBytes;
      }

      @Override
      InboundBudget inboundBudget() {
        return budget;
      }
    };
  }

  @Test
  void decodesMaskedBinaryFramesEvenWhenTheyArriveOneByteAtATime() {
    EmbeddedChannel ch = new EmbeddedChannel(WireCodec.of(MAX));
    byte[] wire = concat(clientFrames(ping(1)), clientFrames(ping(2)));
    for (byte b : wire) {
      ch.writeInbound(Unpooled.wrappedBuffer(new byte[] {b}));
    }
    assertEquals(1, ((ClientFrame) ch.readInbound()).getPing().getNonce());
    assertEquals(2, ((ClientFrame) ch.readInbound()).getPing().getNonce());
    assertNull(ch.readInbound());
    ch.finishAndReleaseAll();
  }

  @Test
  void aParsedFrameSharesNoBytesWithTheArrayTheNextFrameIsParsedFrom() {
    // Frames in direct buffers are parsed from the event loop's one array: what a frame carries
    // (a value's bytes, an unknown field) must be copied out of it, not aliased to it.
    EmbeddedChannel ch = new EmbeddedChannel(WireCodec.of(1 << 20));
    List<ClientFrame> sent = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      byte[] value = new byte[2100 - 1000 * i]; // largest first: the later ones overwrite its array
      java.util.Arrays.fill(value, (byte) (i + 1));
      ClientFrame f =
          ClientFrame.newBuilder()
              .setRequestId(i + 1)
              .setWrite(
                  Write.newBuilder()
                      .setDocument("doc")
                      .setClientSeq(i + 1)
                      .addOps(
                          FieldOp.newBuilder().setField("f").setSet(ByteString.copyFrom(value))))
              .setUnknownFields(
                  UnknownFieldSet.newBuilder()
                      .addField(
                          999,
                          UnknownFieldSet.Field.newBuilder()
                              .addLengthDelimited(ByteString.copyFrom(value))
                              .build())
                      .build())
              .build();
      sent.add(f);
    }
    List<ClientFrame> read = new ArrayList<>();
    for (ClientFrame f : sent) {
      byte[] wire = clientFrames(f);
      ch.writeInbound(Unpooled.directBuffer(wire.length).writeBytes(wire));
      read.add(ch.readInbound());
    }
    assertEquals(sent, read);
    ch.finishAndReleaseAll();
  }

  @Test
  void joinsAFragmentedMessageAndAnswersAPingBetweenItsFragments() {
    byte[] message = ping(77).toByteArray();
    int half = message.length / 2;
    byte[] wire =
        clientFrames(
            new BinaryWebSocketFrame(false, 0, Unpooled.copiedBuffer(message, 0, half)),
            new PingWebSocketFrame(Unpooled.wrappedBuffer(new byte[] {9})),
            new ContinuationWebSocketFrame(
                true, 0, Unpooled.copiedBuffer(message, half, message.length - half)));
    EmbeddedChannel ch = new EmbeddedChannel(WireCodec.of(MAX));
    ch.writeInbound(Unpooled.wrappedBuffer(wire));
    assertEquals(77, ((ClientFrame) ch.readInbound()).getPing().getNonce());
    ByteBuf pong = ch.readOutbound();
    assertArrayEquals(new byte[] {(byte) 0x8a, 0x01, 9}, ByteBufUtil.getBytes(pong));
    pong.release();
    ch.finishAndReleaseAll();
  }

  @Test
  void echoesACloseFrameThenClosesAndIgnoresWhatFollows() {
    EmbeddedChannel ch = new EmbeddedChannel(WireCodec.of(MAX));
    byte[] wire = concat(clientFrames(new CloseWebSocketFrame(1000, "bye")), clientFrames(ping(1)));
    ch.writeInbound(Unpooled.wrappedBuffer(wire));
    ByteBuf close = ch.readOutbound();
    assertArrayEquals(
        new byte[] {(byte) 0x88, 0x05, 0x03, (byte) 0xe8, 'b', 'y', 'e'},
        ByteBufUtil.getBytes(close));
    close.release();
    assertNull(ch.readInbound(), "nothing is read after a close");
    assertFalse(ch.isOpen());
    ch.finishAndReleaseAll();
  }

  @Test
  void refusesBrokenFramesWithTheirCloseCodes() {
    assertRefused(
        CloseCode.PROTOCOL_ERROR,
        "masked",
        new byte[] {(byte) 0x82, 0x02, 0x08, 0x01}); // Unmasked binary frame.
    assertRefused(
        CloseCode.PROTOCOL_ERROR, "text frames", clientFrames(new TextWebSocketFrame("hi")));
    assertRefused(
        CloseCode.PROTOCOL_ERROR,
        "RSV",
        clientFrames(new BinaryWebSocketFrame(true, 4, Unpooled.wrappedBuffer(new byte[] {1}))));
    assertRefused(
        CloseCode.PROTOCOL_ERROR,
        "continuation",
        clientFrames(new ContinuationWebSocketFrame(Unpooled.wrappedBuffer(new byte[] {1}))));
    assertRefused(
        CloseCode.PROTOCOL_ERROR,
        "125",
        clientFrames(new PingWebSocketFrame(false, 0, Unpooled.wrappedBuffer(new byte[] {1}))));
  }

  @Test
  void reportsAMessageThatIsNoClientFrameAndStillReadsTheFramesAfterIt() {
    EmbeddedChannel ch = new EmbeddedChannel(WireCodec.of(MAX));
    byte[] wire =
        concat(
            clientFrames(
                new BinaryWebSocketFrame(Unpooled.wrappedBuffer(new byte[] {(byte) 0xff}))),
            clientFrames(ping(6)));
    ProtocolViolation v =
        assertThrows(ProtocolViolation.class, () -> ch.writeInbound(Unpooled.wrappedBuffer(wire)));
    assertEquals(CloseCode.PROTOCOL_ERROR, v.code());
    assertTrue(v.getMessage().contains("not a ClientFrame"), v.getMessage());
    assertEquals(6, ((ClientFrame) ch.readInbound()).getPing().getNonce());
    ch.finishAndReleaseAll();
  }

  @Test
  void refusesAnOversizedFrameFromItsHeaderAndAnOversizedMessageFromItsFragments() {
    // Only the header of a frame of MAX + 1 bytes: refused before its payload arrives.
    byte[] header = {(byte) 0x82, (byte) (0x80 | 126), 0x04, 0x01, 1, 2, 3, 4};
    assertRefused(CloseCode.FRAME_TOO_LARGE, "larger than " + MAX, header);
    byte[] fragments =
        clientFrames(
            new BinaryWebSocketFrame(false, 0, Unpooled.wrappedBuffer(new byte[MAX - 10])),
            new ContinuationWebSocketFrame(true, 0, Unpooled.wrappedBuffer(new byte[11])));
    assertRefused(CloseCode.FRAME_TOO_LARGE, "larger than " + MAX, fragments);
  }

  @Test
  void writesServerFramesPingsAndClosesUnmasked() {
    EmbeddedChannel ch = new EmbeddedChannel(WireCodec.of(MAX));
    ch.writeOutbound(
        ServerFrame.newBuilder().setRequestId(1).setPong(Pong.newBuilder().setNonce(7)).build());
    ch.writeOutbound(new PingWebSocketFrame(Unpooled.EMPTY_BUFFER));
    ch.writeOutbound(new CloseWebSocketFrame(4000, "x"));
    assertWire(ch, 0x82, 0x06, 0x08, 0x01, 0x7a, 0x02, 0x08, 0x07);
    assertWire(ch, 0x89, 0x00);
    assertWire(ch, 0x88, 0x03, 0x0f, 0xa0, 'x');
    assertFalse(ch.finishAndReleaseAll());
  }

  @Test
  void framesMatchWhatNettysOwnDecoderReads() {
    EmbeddedChannel ch = new EmbeddedChannel(WireCodec.of(1 << 20));
    EmbeddedChannel netty =
        new EmbeddedChannel(new WebSocket13FrameDecoder(false, false, 1 << 20), agg());
    for (int size : new int[] {0, 125, 126, 65_535, 65_536, 200_000}) {
      byte[] payload = new byte[size];
      java.util.Arrays.fill(payload, (byte) 0x5a);
      ch.writeOutbound((Object) payload);
      ByteBuf out = ch.readOutbound();
      netty.writeInbound(out);
      BinaryWebSocketFrame f = netty.readInbound();
      assertArrayEquals(payload, ByteBufUtil.getBytes(f.content()), "payload of " + size);
      f.release();
    }
    ch.finishAndReleaseAll();
    netty.finishAndReleaseAll();
  }

  @Test
  void installTakesThePlaceOfTheWebSocketHandlersAndTheCodec() {
    EmbeddedChannel ch = new EmbeddedChannel();
    WireCodec connection = WireCodec.of(MAX, false);
    ch.pipeline()
        .addLast("wsencoder", new WebSocket13FrameEncoder(false))
        .addLast("wsdecoder", new WebSocket13FrameDecoder(true, false, MAX))
        .addLast(HandoffChannelInitializer.WS_HANDLER, new ChannelInboundHandlerAdapter())
        .addLast(HandoffChannelInitializer.WS_AGGREGATOR, agg())
        .addLast(HandoffChannelInitializer.CODEC, FrameCodec.INSTANCE)
        .addLast("connection", connection);
    connection.install(ch.pipeline().context("connection"));
    assertEquals(
        List.of("connection"),
        ch.pipeline().names().stream()
            .filter(n -> !n.startsWith("DefaultChannelPipeline"))
            .toList());
    ch.writeInbound(Unpooled.wrappedBuffer(clientFrames(ping(5))));
    assertEquals(5, ((ClientFrame) ch.readInbound()).getPing().getNonce());
    ch.finishAndReleaseAll();
  }

  @Test
  void beforeInstallNothingIsFramedEitherWay() {
    EmbeddedChannel ch = new EmbeddedChannel(WireCodec.of(MAX, false));
    ClientFrame frame = ClientFrame.newBuilder().setRequestId(3).build();
    ch.writeInbound(frame);
    assertEquals(frame, ch.readInbound());
    ServerFrame out = ServerFrame.newBuilder().setRequestId(4).build();
    ch.writeOutbound(out);
    assertEquals(out, ch.readOutbound());
    ch.finishAndReleaseAll();
  }

  @Test
  void mangledWireBytesEndInAViolationOrFramesAndLeakNothing() {
    java.util.SplittableRandom random = new java.util.SplittableRandom(11);
    for (int round = 0; round < 600; round++) {
      byte[] wire =
          concat(
              clientFrames(ping(round)),
              clientFrames(
                  new BinaryWebSocketFrame(false, 0, Unpooled.wrappedBuffer(new byte[] {8})),
                  new PingWebSocketFrame(Unpooled.wrappedBuffer(new byte[] {1, 2})),
                  new ContinuationWebSocketFrame(true, 0, Unpooled.wrappedBuffer(new byte[] {1}))),
              clientFrames(new CloseWebSocketFrame(1000, "x")));
      switch (random.nextInt(4)) {
        case 0 -> wire[random.nextInt(wire.length)] ^= (byte) (1 << random.nextInt(8));
        case 1 -> wire[random.nextInt(wire.length)] = (byte) random.nextInt(256);
        case 2 -> wire = java.util.Arrays.copyOf(wire, random.nextInt(wire.length));
        default -> {
          for (int i = 0; i < 4; i++) {
            wire[random.nextInt(wire.length)] = (byte) random.nextInt(256);
          }
        }
      }
      EmbeddedChannel ch = new EmbeddedChannel(WireCodec.of(MAX));
      List<ByteBuf> chunks = new ArrayList<>();
      int at = 0;
      while (at < wire.length && ch.isOpen()) { // A close echoed closes the channel.
        int n = Math.min(wire.length - at, 1 + random.nextInt(12));
        ByteBuf chunk = Unpooled.buffer(n).writeBytes(wire, at, n);
        chunks.add(chunk);
        at += n;
        try {
          ch.writeInbound(chunk);
        } catch (ProtocolViolation expected) {
          // The only exception a device's bytes may cause.
        }
      }
      Object in;
      while ((in = ch.readInbound()) != null) {
        assertTrue(in instanceof ClientFrame, in.toString());
      }
      try {
        ch.finishAndReleaseAll();
      } catch (ProtocolViolation expected) {
        // Raised by the last chunk and reported again on close.
      }
      for (ByteBuf chunk : chunks) {
        assertEquals(0, chunk.refCnt(), "round " + round + ": every buffer read is released");
      }
    }
  }

  private static WebSocketFrameAggregator agg() {
    return new WebSocketFrameAggregator(1 << 20);
  }

  private static void assertRefused(CloseCode code, String reasonPart, byte[] wire) {
    EmbeddedChannel ch = new EmbeddedChannel(WireCodec.of(MAX));
    ProtocolViolation v =
        assertThrows(ProtocolViolation.class, () -> ch.writeInbound(Unpooled.wrappedBuffer(wire)));
    assertEquals(code, v.code(), v.getMessage());
    assertTrue(v.getMessage().contains(reasonPart), v.getMessage());
    // Whatever comes next is dropped, not parsed from the middle of a frame.
    ch.writeInbound(Unpooled.wrappedBuffer(clientFrames(ping(1))));
    assertNull(ch.readInbound());
    ch.finishAndReleaseAll();
  }

  private static void assertWire(EmbeddedChannel ch, int... expected) {
    ByteBuf out = ch.readOutbound();
    byte[] bytes = new byte[expected.length];
    for (int i = 0; i < bytes.length; i++) {
      bytes[i] = (byte) expected[i];
    }
    assertArrayEquals(bytes, ByteBufUtil.getBytes(out));
    out.release();
  }

  private static ClientFrame ping(long nonce) {
    return ClientFrame.newBuilder()
        .setRequestId(1)
        .setPing(Ping.newBuilder().setNonce(nonce))
        .build();
  }

  /** Masked wire bytes of {@code frames}, as a device sends them (Netty's client encoder). */
  private static byte[] clientFrames(Object... frames) {
    EmbeddedChannel client = new EmbeddedChannel(new WebSocket13FrameEncoder(true));
    List<byte[]> parts = new ArrayList<>();
    for (Object f : frames) {
      Object msg =
          f instanceof ClientFrame c
              ? new BinaryWebSocketFrame(Unpooled.wrappedBuffer(c.toByteArray()))
              : (WebSocketFrame) f;
      client.writeOutbound(msg);
      ByteBuf out;
      while ((out = client.readOutbound()) != null) {
        parts.add(ByteBufUtil.getBytes(out));
        out.release();
      }
    }
    client.finishAndReleaseAll();
    return concat(parts.toArray(new byte[0][]));
  }

  private static byte[] concat(byte[]... parts) {
    int n = 0;
    for (byte[] p : parts) {
      n += p.length;
    }
    byte[] all = new byte[n];
    int at = 0;
    for (byte[] p : parts) {
      System.arraycopy(p, 0, all, at, p.length);
      at += p.length;
    }
    return all;
  }
}
