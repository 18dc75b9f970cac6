package io.handoff.server.transport;

import com.google.protobuf.CodedInputStream;
import com.google.protobuf.InvalidProtocolBufferException;
import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.ClientFrame;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.netty.handler.codec.http.websocketx.BinaryWebSocketFrame;
import io.netty.handler.codec.http.websocketx.CloseWebSocketFrame;
import io.netty.handler.codec.http.websocketx.PingWebSocketFrame;
import io.netty.handler.codec.http.websocketx.PongWebSocketFrame;
import io.netty.handler.codec.http.websocketx.TextWebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocketCloseStatus;
import io.netty.handler.codec.http.websocketx.WebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocketFrameDecoder;
import io.netty.handler.codec.http.websocketx.WebSocketFrameEncoder;
import io.netty.util.concurrent.FastThreadLocal;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * A connection's WebSocket framing (RFC 6455, server side, no extension) and protobuf codec, in the
 * connection's own handler: {@link ConnectionHandler} extends this class, so after a plain upgrade
 * the five handlers that did it (Netty's frame decoder and encoder, the control-frame handler, the
 * frame aggregator and {@link FrameCodec}) leave the pipeline and no other takes their place. Each
 * would cost an idle connection a pipeline context and an object; this costs the connection handler
 * three fields.
 *
 * <p>In: masked frames from the device become {@link ClientFrame}s (a fragmented binary message is
 * joined first), handed to {@link #received}; a ping is answered with a pong, a pong dropped (any
 * read counts as the device alive), a close echoed before the connection closes. Frames and
 * messages over {@code maxFrameBytes} are refused before their payload is buffered. A broken frame
 * raises a {@link ProtocolViolation} that the connection handler turns into its close code; input
 * after it, or after a close, is discarded (a message that is no ClientFrame breaks no framing: see
 * {@link #deliver}). Out: {@link io.handoff.protocol.v1.ServerFrame}s and encoded ones ({@code
 * byte[]}) as one unmasked binary frame each (see {@link FrameCodec#framed}), and the connection
 * handler's pings and close frame. Until {@link #install} (a connection handler before the upgrade,
 * or after one that negotiated compression) it frames nothing: messages pass in and out untouched.
 *
 * <p>A codec of its own ({@link #of}: frames from the start, hands each ClientFrame to the next
 * handler) is what the codec tests drive.
 *
 * <p>State: only an incomplete frame's bytes and an incomplete message's fragments, both null
 * between messages, so an idle connection holds no buffer. Event loop only.
 */
abstract class WireCodec extends ChannelDuplexHandler {
  private static final int FIN = 0x80;
  private static final int RSV = 0x70;
  private static final int MASKED = 0x80;
  private static final int CONTINUATION = 0x0;
  private static final int TEXT = 0x1;
  private static final int BINARY = 0x2;
  private static final int CLOSE = 0x8;
  private static final int PING = 0x9;
  private static final int PONG = 0xA;
  private static final int MAX_CONTROL_PAYLOAD = 125;

  // Each event loop's array for the ClientFrame being parsed, up to MAX_SCRATCH bytes (larger
  // frames, rare, get one of their own).
  private static final int MAX_SCRATCH = 64 * 1024;
  private static final FastThreadLocal<byte[]> SCRATCH =
      new FastThreadLocal<>() {
        @Override
        protected byte[] initialValue() {
          return new byte[1024];
        }
      };

  // Bytes of a frame not complete yet; null when the last read ended on a frame's end.
  private ByteBuf cumulation;
  // Payload of a fragmented binary message so far; null outside one.
  private ByteBuf fragments;
  // After a close frame or a broken frame: the rest of the input is dropped.
  private boolean discarding;
  // Whether this handler does the framing (see install).
  private boolean framing;

  /** A codec of its own: frames from the start and hands each ClientFrame to the next handler. */
  static WireCodec of(int maxFrameBytes) {
    return of(maxFrameBytes, true);
  }

  /** A codec of its own that frames from the start, or from {@link #install}. */
  static WireCodec of(int maxFrameBytes, boolean framing) {
    return new WireCodec(framing) {
      @Override
      int maxFrameBytes() {
        return maxFrameBytes;
      }
    };
  }

  WireCodec(boolean framing) {
    this.framing = framing;
  }

  /** The largest message accepted, in bytes (the connection handler's is its node's: no copy). */
  abstract int maxFrameBytes();

  /** The node's bound on large messages still arriving; null: none (a codec on its own). */
  InboundBudget inboundBudget() {
    return null;
  }

  /** What this connection's buffers count against the node's {@link InboundBudget}. */
  private long held() {
    return InboundBudget.counted(cumulation) + InboundBudget.counted(fragments);
  }

  /**
   * From now on this handler (whose context is {@code connection}) does the framing, in place of
   * the WebSocket handlers and the frame codec, which leave the pipeline: after an upgrade that
   * negotiated no extension. Event loop.
   */
  final void install(ChannelHandlerContext connection) {
    framing = true;
    ChannelPipeline p = connection.pipeline();
    for (String name :
        new String[] {
          HandoffChannelInitializer.WS_HANDLER,
          HandoffChannelInitializer.WS_AGGREGATOR,
          HandoffChannelInitializer.CODEC
        }) {
      if (p.get(name) != null) {
        p.remove(name);
      }
    }
    if (p.get(WebSocketFrameEncoder.class) != null) {
      p.remove(p.get(WebSocketFrameEncoder.class));
    }
    // The decoder last: whatever it had buffered is handed on to this codec.
    if (p.get(WebSocketFrameDecoder.class) != null) {
      p.remove(p.get(WebSocketFrameDecoder.class));
    }
    connection.channel().attr(ControlFrameHandler.HANDSHAKER).getAndRemove();
  }

  /**
   * A ClientFrame decoded here, or a message this handler does not decode (it is not framing yet,
   * or it is no bytes). A codec of its own passes it on; the connection handler takes it.
   */
  void received(ChannelHandlerContext ctx, Object msg) {
    ctx.fireChannelRead(msg);
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    ctx.fireExceptionCaught(cause);
  }

  /** Flushes what the read wrote (pongs, echoed closes), once per read. */
  @Override
  public void channelReadComplete(ChannelHandlerContext ctx) {
    ctx.flush();
    ctx.fireChannelReadComplete();
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (!framing || !(msg instanceof ByteBuf in)) {
      received(ctx, msg);
      return;
    }
    if (discarding) {
      in.release();
      return;
    }
    InboundBudget budget = inboundBudget();
    long before = held();
    boolean within = true;
    ByteBuf buf =
        cumulation == null
            ? in
            : ByteToMessageDecoder.MERGE_CUMULATOR.cumulate(ctx.alloc(), cumulation, in);
    cumulation = null;
    boolean keep = false;
    try {
      decode(ctx, buf);
      keep = !discarding && buf.isReadable();
    } finally {
      if (keep) {
        buf.discardSomeReadBytes();
        cumulation = buf;
      } else {
        buf.release();
      }
      long after = held();
      if (budget != null && after != before) {
        within = budget.add(after - before);
      }
    }
    if (!within) {
      budget.add(-held());
      releaseFragments();
      if (cumulation != null) {
        cumulation.release();
        cumulation = null;
      }
      throw violation(
          CloseCode.UNAVAILABLE,
          "this node holds too much of large messages still arriving; reconnect and send it again");
    }
  }

  /** Decodes every whole frame in {@code buf}, leaving an incomplete one unread. */
  private void decode(ChannelHandlerContext ctx, ByteBuf buf) {
    while (!discarding && buf.readableBytes() >= 2) {
      int r = buf.readerIndex();
      int b0 = buf.getUnsignedByte(r);
      int b1 = buf.getUnsignedByte(r + 1);
      int opcode = b0 & 0x0f;
      boolean fin = (b0 & FIN) != 0;
      if ((b0 & RSV) != 0) {
        throw violation(CloseCode.PROTOCOL_ERROR, "RSV bits set, but no extension was negotiated");
      }
      if ((b1 & MASKED) == 0) {
        throw violation(CloseCode.PROTOCOL_ERROR, "a device's frames must be masked");
      }
      int length7 = b1 & 0x7f;
      int header = 2 + (length7 == 126 ? 2 : length7 == 127 ? 8 : 0) + 4;
      if (buf.readableBytes() < header) {
        return;
      }
      long length =
          length7 < 126
              ? length7
              : length7 == 126 ? buf.getUnsignedShort(r + 2) : buf.getLong(r + 2);
      if ((length7 == 126 && length < 126) || (length7 == 127 && length <= 0xffff)) {
        throw violation(CloseCode.PROTOCOL_ERROR, "frame length not in its shortest form");
      }
      checkFrame(opcode, fin, length);
      if (buf.readableBytes() < header + length) {
        return;
      }
      int start = r + header;
      int size = (int) length;
      unmask(buf, buf.getInt(start - 4), start, size);
      buf.readerIndex(start + size);
      frame(ctx, opcode, fin, buf, start, size);
    }
  }

  /** Refuses a frame by its header alone, before its payload is read. */
  private void checkFrame(int opcode, boolean fin, long length) {
    if (opcode >= CLOSE) {
      if (opcode > PONG) {
        throw violation(CloseCode.PROTOCOL_ERROR, "unknown control opcode " + opcode);
      }
      if (!fin || length > MAX_CONTROL_PAYLOAD) {
        throw violation(CloseCode.PROTOCOL_ERROR, "control frames are whole and at most 125 bytes");
      }
      return;
    }
    if (opcode > BINARY) {
      throw violation(CloseCode.PROTOCOL_ERROR, "unknown data opcode " + opcode);
    }
    if (opcode == TEXT) {
      throw violation(
          CloseCode.PROTOCOL_ERROR,
          "text frames are not accepted; send binary protobuf ClientFrames");
    }
    if (opcode == CONTINUATION && fragments == null) {
      throw violation(CloseCode.PROTOCOL_ERROR, "continuation frame outside a fragmented message");
    }
    if (opcode == BINARY && fragments != null) {
      throw violation(CloseCode.PROTOCOL_ERROR, "new message inside a fragmented message");
    }
    long total = length + (fragments == null ? 0 : fragments.readableBytes());
    if (total > maxFrameBytes()) {
      throw violation(CloseCode.FRAME_TOO_LARGE, "frame larger than " + maxFrameBytes() + " bytes");
    }
  }

  private void frame(
      ChannelHandlerContext ctx, int opcode, boolean fin, ByteBuf buf, int start, int size) {
    switch (opcode) {
      case BINARY, CONTINUATION -> {
        if (fin && fragments == null) {
          deliver(ctx, buf, start, size);
          return;
        }
        if (fragments == null) {
          fragments = ctx.alloc().buffer(size);
        }
        fragments.writeBytes(buf, start, size);
        if (fin) {
          ByteBuf whole = fragments;
          fragments = null;
          try {
            deliver(ctx, whole, whole.readerIndex(), whole.readableBytes());
          } finally {
            whole.release();
          }
        }
      }
      // Flushed at the end of the read (channelReadComplete): a device sending pings in a burst
      // costs one write to the socket, not one per ping.
      case PING -> ctx.write(control(ctx, PONG, buf, start, size), ctx.voidPromise());
      case PONG -> {}
      case CLOSE -> {
        if (size == 1
            || (size >= 2
                && !WebSocketCloseStatus.isValidStatusCode(buf.getUnsignedShort(start)))) {
          throw violation(CloseCode.PROTOCOL_ERROR, "invalid close frame");
        }
        discarding = true;
        // Echo the device's close (RFC 6455 5.5.1); if ours went first, the echo fails harmlessly.
        ctx.writeAndFlush(control(ctx, CLOSE, buf, start, size))
            .addListener(ChannelFutureListener.CLOSE);
      }
      default -> throw violation(CloseCode.PROTOCOL_ERROR, "unexpected opcode " + opcode);
    }
  }

  /**
   * Hands the message on as a ClientFrame. A message that is no ClientFrame is reported as a
   * violation, but the framing around it is intact: the frames after it are still read (the
   * connection handler is closing the connection by then and ignores them).
   */
  private void deliver(ChannelHandlerContext ctx, ByteBuf buf, int start, int size) {
    ClientFrame frame;
    try {
      CodedInputStream in;
      if (buf.hasArray()) {
        in = CodedInputStream.newInstance(buf.array(), buf.arrayOffset() + start, size);
      } else {
        // Protobuf would copy a direct buffer's bytes into a new array of its own for each frame:
        // copied into this thread's array instead (the parse copies what it keeps).
        byte[] bytes = size <= MAX_SCRATCH ? SCRATCH.get() : new byte[size];
        if (bytes.length < size) {
          bytes = new byte[Math.max(size, Math.min(MAX_SCRATCH, bytes.length * 2))];
          SCRATCH.set(bytes);
        }
        buf.getBytes(start, bytes, 0, size);
        in = CodedInputStream.newInstance(bytes, 0, size);
      }
      frame = ClientFrame.parser().parseFrom(in);
      in.checkLastTagWas(0); // as protobuf's own parseFrom(ByteBuffer) checks
    } catch (InvalidProtocolBufferException e) {
      exceptionCaught(
          ctx,
          new ProtocolViolation(
              CloseCode.PROTOCOL_ERROR, "malformed frame, not a ClientFrame: " + e.getMessage()));
      return;
    }
    received(ctx, frame);
  }

  /**
   * XORs the payload at {@code start} with the frame's masking key (RFC 6455 5.3), in place: eight
   * bytes at a time through one NIO view of the payload, so a frame costs the buffer one access (a
   * leak-tracking buffer records a stack trace per access: per four bytes, that made a 4 KiB write
   * cost two thousand of them), and through the buffer itself only where it has no single view.
   */
  static void unmask(ByteBuf buf, int mask, int start, int size) {
    long longMask = ((long) mask << 32) | (mask & 0xffffffffL);
    if (buf.nioBufferCount() == 1) {
      // One component: the view shares the buffer's memory, so the writes land in it.
      ByteBuffer view = buf.nioBuffer(start, size).order(ByteOrder.BIG_ENDIAN);
      int i = 0;
      for (; i + 8 <= size; i += 8) {
        view.putLong(i, view.getLong(i) ^ longMask);
      }
      for (; i < size; i++) {
        view.put(i, (byte) (view.get(i) ^ (mask >>> (24 - 8 * (i & 3)))));
      }
      return;
    }
    int i = start;
    int end = start + size;
    for (; i + 8 <= end; i += 8) {
      buf.setLong(i, buf.getLong(i) ^ longMask);
    }
    for (; i < end; i++) {
      buf.setByte(i, buf.getByte(i) ^ (mask >>> (24 - 8 * ((i - start) & 3))));
    }
  }

  /** An unmasked control frame carrying {@code size} bytes of {@code buf} from {@code start}. */
  private static ByteBuf control(
      ChannelHandlerContext ctx, int opcode, ByteBuf buf, int start, int size) {
    ByteBuf out = ctx.alloc().ioBuffer(2 + size);
    out.writeByte(FIN | opcode).writeByte(size).writeBytes(buf, start, size);
    return out;
  }

  /** Marks the input broken (the rest is dropped) and frees what was buffered. */
  private ProtocolViolation violation(CloseCode code, String message) {
    discarding = true;
    releaseFragments();
    return new ProtocolViolation(code, message);
  }

  private void releaseFragments() {
    if (fragments != null) {
      fragments.release();
      fragments = null;
    }
  }

  @Override
  public void handlerRemoved(ChannelHandlerContext ctx) {
    InboundBudget budget = inboundBudget();
    if (budget != null) {
      budget.add(-held());
    }
    releaseFragments();
    if (cumulation != null) {
      cumulation.release();
      cumulation = null;
    }
  }

  @Override
  public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
    if (framing && msg instanceof WebSocketFrame f) {
      ByteBuf out;
      try {
        ByteBuf content = f.content();
        int size = content.readableBytes();
        out = ctx.alloc().ioBuffer(FrameCodec.headerBytes(size) + size);
        FrameCodec.writeHeader(out, (f.isFinalFragment() ? FIN : 0) | opcode(f), size);
        out.writeBytes(content, content.readerIndex(), size);
      } finally {
        f.release();
      }
      ctx.write(out, promise);
    } else if (framing && FrameCodec.frames(msg)) {
      ctx.write(FrameCodec.framed(ctx.alloc(), msg), promise);
    } else {
      ctx.write(msg, promise);
    }
  }

  private static int opcode(WebSocketFrame f) {
    if (f instanceof BinaryWebSocketFrame) {
      return BINARY;
    } else if (f instanceof TextWebSocketFrame) {
      return TEXT;
    } else if (f instanceof CloseWebSocketFrame) {
      return CLOSE;
    } else if (f instanceof PingWebSocketFrame) {
      return PING;
    } else if (f instanceof PongWebSocketFrame) {
      return PONG;
    }
    return CONTINUATION;
  }
}
