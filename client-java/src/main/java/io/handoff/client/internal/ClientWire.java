package io.handoff.client.internal;

import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.MessageLite;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.http.websocketx.CorruptedWebSocketFrameException;
import io.netty.handler.codec.http.websocketx.WebSocketCloseStatus;
import io.netty.util.ReferenceCountUtil;
import java.io.IOException;
import java.nio.channels.ClosedChannelException;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

/**
 * A client connection's WebSocket handshake and framing (RFC 6455, client side, no extension), in
 * the connection's own handler: the client's {@code ConnectionHandler} and the load tester's lean
 * connection extend it, so a connection's pipeline is [TLS], a read-idle timer and that one
 * handler, from the TCP connect to the close.
 *
 * <p>On connect it sends the upgrade request ({@link Handshake}) and reads the response where it
 * arrives; a valid 101 calls {@link #opened}, and the bytes after it (frames the server sent at
 * once) are read as frames in the same pass. Anything else fails the connection with an {@link
 * UpgradeFailedException} (through {@link #exceptionCaught}), as does no complete answer within the
 * handshake timeout.
 *
 * <p>In: server frames (never masked) are read in place; a binary message goes to {@link #message}
 * as a range of the read buffer (a fragmented one is joined first), a ping is answered with a pong,
 * a pong dropped, a close frame handed to {@link #closeReceived} (and the input after it dropped).
 * A text frame, a masked or reserved-bit frame, or a message over the limit is a {@link
 * CorruptedWebSocketFrameException} (a decoder exception: {@link ClosedBy} makes it a protocol
 * error), answered with a close frame of its status (1002, 1009). Out: {@link MessageLite}s written
 * through the pipeline become one masked binary frame each (subclasses on their own context use
 * {@link #binaryFrame}); a {@link ByteBuf} passes as it is (already framed). A close from the
 * pipeline ({@code channel.close()}) sends a close frame (1000) first; {@link ClosedBy#cut} closes
 * from the head of the pipeline and sends none.
 *
 * <p>State: the key until the 101, an incomplete frame's bytes and an incomplete message's
 * fragments (null between messages). Event loop only.
 */
public abstract class ClientWire extends ChannelDuplexHandler {
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
  private static final int NO_STATUS = 1005;
  // How long a close waits for its close frame to be written when there is no handshake timeout.
  private static final long DEFAULT_CLOSE_MILLIS = 10_000;

  private final Handshake handshake;
  private final String token;
  private final long handshakeTimeoutMillis;
  private final int maxMessageBytes;
  // The key sent; null before the request and after the 101.
  private String key;
  // Whether the request carried a Hello.
  private boolean helloSent;
  private io.netty.util.concurrent.Future<?> handshakeTimer;
  private boolean framing;
  // Input after a close frame, a failure or our own close is dropped.
  private boolean discarding;
  // Done when our close frame was written (or the wait for it timed out); null until it is sent.
  private ChannelPromise closeSent;
  // Bytes of an incomplete response or frame; null when the last read ended on a boundary.
  private ByteBuf cumulation;
  // Payload of a fragmented message so far; null outside one.
  private ByteBuf fragments;

  /**
   * @param handshake the endpoint's request
   * @param token sent as {@code Authorization: Bearer}; none if null
   * @param handshakeTimeoutMillis how long the 101 may take from the TCP connect (0: no limit);
   *     also how long a close waits for its close frame to be written
   * @param maxMessageBytes the largest message accepted from the server
   */
  protected ClientWire(
      Handshake handshake, String token, long handshakeTimeoutMillis, int maxMessageBytes) {
    this.handshake = handshake;
    this.token = token;
    this.handshakeTimeoutMillis = handshakeTimeoutMillis;
    this.maxMessageBytes = maxMessageBytes;
  }

  /**
   * The Hello frame to send in the upgrade request, encoded, or null to send none (then, or when
   * the node does not read it, the subclass sends it as the first frame). Asked once per attempt,
   * when TCP is connected; one over {@link Handshake#MAX_EARLY_HELLO_BYTES} is not sent there.
   */
  protected byte[] earlyHello() {
    return null;
  }

  /**
   * The 101 arrived: frames may be sent from now on. {@code helloRead}: the node read the Hello of
   * the request ({@link #earlyHello}) as the connection's first frame.
   */
  protected abstract void opened(ChannelHandlerContext ctx, boolean helloRead);

  /**
   * One binary message in {@code [from, to)} of {@code buffer}; the bytes are valid only during the
   * call. May throw: the connection then fails with that exception.
   */
  protected abstract void message(ChannelHandlerContext ctx, ByteBuf buffer, int from, int to)
      throws IOException;

  /**
   * The server's close frame ({@code code} 1005 when it held none). The subclass ends the
   * connection ({@link #closeConnection}); input after it is dropped.
   */
  protected abstract void closeReceived(ChannelHandlerContext ctx, int code, String reason);

  /** Whether the upgrade completed. */
  protected final boolean isOpen() {
    return framing;
  }

  @Override
  public void channelActive(ChannelHandlerContext ctx) throws Exception {
    ByteBuf request;
    try {
      key = Handshake.newKey();
      byte[] hello = earlyHello();
      helloSent = hello != null && hello.length <= Handshake.MAX_EARLY_HELLO_BYTES;
      request = handshake.request(ctx.alloc(), key, token, helloSent ? hello : null);
    } catch (IllegalArgumentException e) {
      fail(ctx, e);
      return;
    }
    ctx.writeAndFlush(request, ctx.voidPromise());
    if (handshakeTimeoutMillis > 0) {
      handshakeTimer =
          ctx.executor()
              .schedule(
                  () -> {
                    if (!framing && !discarding && ctx.channel().isActive()) {
                      fail(
                          ctx,
                          new UpgradeFailedException(
                              0,
                              "WebSocket handshake timed out after "
                                  + handshakeTimeoutMillis
                                  + " ms",
                              null));
                    }
                  },
                  handshakeTimeoutMillis,
                  TimeUnit.MILLISECONDS);
    }
    ctx.fireChannelActive();
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) throws Exception {
    if (!(msg instanceof ByteBuf in)) {
      ReferenceCountUtil.release(msg);
      return;
    }
    if (discarding) {
      in.release();
      return;
    }
    ByteBuf buf;
    if (cumulation == null) {
      buf = in;
    } else {
      cumulation.writeBytes(in);
      in.release();
      buf = cumulation;
    }
    try {
      if (!framing) {
        int read = Handshake.read(buf, key, helloSent);
        if (read == Handshake.INCOMPLETE) {
          keep(ctx, buf, in);
          return;
        }
        framing = true;
        key = null;
        if (handshakeTimer != null) {
          handshakeTimer.cancel(false);
          handshakeTimer = null;
        }
        opened(ctx, read == Handshake.OPEN_HELLO_READ);
      }
      readFrames(ctx, buf);
      keep(ctx, buf, in);
    } catch (Throwable e) {
      // An Error too (a listener's): the pipeline would hand it to exceptionCaught anyway, but
      // past this release.
      if (buf == in) {
        in.release();
      }
      fail(ctx, e);
    }
  }

  /**
   * After a read: keeps what is left of {@code buf} (an incomplete response or frame) for the next
   * read, and releases the read buffer {@code in} if it is {@code buf}.
   */
  private void keep(ChannelHandlerContext ctx, ByteBuf buf, ByteBuf in) {
    if (discarding) {
      releaseCumulation();
      if (buf == in) {
        in.release();
      }
      return;
    }
    if (buf == in) {
      if (in.isReadable()) {
        cumulation = ctx.alloc().buffer(Math.max(in.readableBytes(), 256));
        cumulation.writeBytes(in);
      }
      in.release();
    } else if (!cumulation.isReadable()) {
      releaseCumulation();
    } else {
      cumulation.discardSomeReadBytes();
    }
  }

  private void readFrames(ChannelHandlerContext ctx, ByteBuf in) throws IOException {
    while (!discarding && in.readableBytes() >= 2) {
      int at = in.readerIndex();
      int b0 = in.getUnsignedByte(at);
      int b1 = in.getUnsignedByte(at + 1);
      int opcode = b0 & 0x0f;
      boolean fin = (b0 & FIN) != 0;
      if ((b0 & RSV) != 0) {
        throw protocolError("a frame with reserved bits set: no extension was negotiated");
      }
      if ((b1 & MASKED) != 0) {
        throw protocolError("a masked frame from the server");
      }
      int length7 = b1 & 0x7f;
      long length = length7;
      int header = 2;
      if (length7 == 126) {
        if (in.readableBytes() < 4) {
          return;
        }
        length = in.getUnsignedShort(at + 2);
        header = 4;
      } else if (length7 == 127) {
        if (in.readableBytes() < 10) {
          return;
        }
        length = in.getLong(at + 2);
        header = 10;
      }
      // A 64-bit length with its top bit set reads as negative (5.2: that bit MUST be 0).
      if (length < 0 || (length7 == 126 && length < 126) || (length7 == 127 && length <= 0xffff)) {
        throw protocolError("a frame length over 2^63 or not in its shortest form");
      }
      checkHeader(opcode, fin, length);
      if (in.readableBytes() < header + length) {
        return;
      }
      int from = at + header;
      int to = from + (int) length;
      in.readerIndex(to);
      switch (opcode) {
        case BINARY -> {
          if (fin) {
            message(ctx, in, from, to);
          } else {
            fragments = ctx.alloc().buffer((int) length * 2).writeBytes(in, from, (int) length);
          }
        }
        case CONTINUATION -> {
          fragments.writeBytes(in, from, (int) length);
          if (fin) {
            ByteBuf whole = fragments;
            fragments = null;
            try {
              message(ctx, whole, whole.readerIndex(), whole.writerIndex());
            } finally {
              whole.release();
            }
          }
        }
        case CLOSE -> {
          if (length == 1) {
            throw protocolError("a close frame with a one-byte payload");
          }
          int code = length == 0 ? NO_STATUS : in.getUnsignedShort(from);
          if (length > 0 && !WebSocketCloseStatus.isValidStatusCode(code)) {
            throw protocolError("a close frame with the code " + code + ", which none may send");
          }
          String reason =
              length > 2 ? in.toString(from + 2, to - from - 2, StandardCharsets.UTF_8) : "";
          discarding = true;
          closeReceived(ctx, code, reason);
        }
        case PING -> {
          ByteBuf pong = controlFrame(ctx.alloc(), PONG, (int) length);
          pong.writeBytes(in, from, (int) length);
          mask(pong, pong.writerIndex() - (int) length, (int) length, pong.getInt(2));
          ctx.writeAndFlush(pong, ctx.voidPromise());
        }
        default -> {} // A pong; checkHeader let no other opcode through.
      }
    }
  }

  /**
   * Refuses a frame by its header alone, before its payload is waited for: a bad opcode, a control
   * frame that is fragmented or over 125 bytes, a continuation without a message to continue, a new
   * message inside a fragmented one, a message over the limit.
   */
  private void checkHeader(int opcode, boolean fin, long length) {
    if (opcode >= CLOSE) {
      if (opcode > PONG) {
        throw protocolError("a frame with the unknown control opcode " + opcode);
      }
      if (!fin || length > MAX_CONTROL_PAYLOAD) {
        throw protocolError("a fragmented or oversized control frame");
      }
      return;
    }
    if (opcode == TEXT) {
      throw protocolError("a text frame: the protocol is binary");
    }
    if (opcode > BINARY) {
      throw protocolError("a frame with the unknown opcode " + opcode);
    }
    if (opcode == CONTINUATION && fragments == null) {
      throw protocolError("a continuation frame outside a fragmented message");
    }
    if (opcode == BINARY && fragments != null) {
      throw protocolError("a new message inside a fragmented one");
    }
    if (length + (fragments == null ? 0 : fragments.readableBytes()) > maxMessageBytes) {
      throw new CorruptedWebSocketFrameException(
          WebSocketCloseStatus.MESSAGE_TOO_BIG,
          "a message over " + maxMessageBytes + " bytes from the server");
    }
  }

  /** Whether our close frame went out: nothing may follow it (RFC 6455 5.5.1). */
  protected final boolean isClosing() {
    return closeSent != null;
  }

  @Override
  public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise)
      throws Exception {
    if (closeSent != null) {
      // As Netty's WebSocket handler: what is written after the close frame is dropped.
      ReferenceCountUtil.release(msg);
      promise.setFailure(new ClosedChannelException());
    } else if (msg instanceof MessageLite m) {
      ctx.write(binaryFrame(ctx.alloc(), m), promise);
    } else {
      ctx.write(msg, promise);
    }
  }

  /**
   * A close from the pipeline sends a close frame (1000) first, once, if the upgrade completed, and
   * closes TCP once it was written ({@link #closeConnection}).
   */
  @Override
  public void close(ChannelHandlerContext ctx, ChannelPromise promise) {
    sendClose(ctx, WebSocketCloseStatus.NORMAL_CLOSURE.code());
    closeAfterCloseFrame(ctx, promise);
  }

  /**
   * Ends the connection from this handler: a close frame with {@code code} (if the upgrade
   * completed and none was sent), then TCP's close once the close frame and everything written
   * before it left (a close at once would drop what still waits in the outbound buffer), or after
   * the handshake timeout if the peer does not read.
   */
  protected final void closeConnection(ChannelHandlerContext ctx, int code) {
    sendClose(ctx, code);
    closeAfterCloseFrame(ctx, ctx.newPromise());
  }

  private void sendClose(ChannelHandlerContext ctx, int code) {
    discarding = true;
    if (!framing || closeSent != null || !ctx.channel().isActive()) {
      return;
    }
    ByteBuf close = controlFrame(ctx.alloc(), CLOSE, 2);
    close.writeShort(code);
    mask(close, close.writerIndex() - 2, 2, close.getInt(2));
    ChannelPromise sent = ctx.newPromise();
    closeSent = sent;
    ctx.writeAndFlush(close)
        .addListener(
            f -> {
              sent.trySuccess();
              if (!f.isSuccess()) {
                ctx.pipeline().fireExceptionCaught(f.cause());
              }
            });
    if (!sent.isDone()) {
      long bound = handshakeTimeoutMillis > 0 ? handshakeTimeoutMillis : DEFAULT_CLOSE_MILLIS;
      io.netty.util.concurrent.Future<?> force =
          ctx.executor().schedule(() -> sent.trySuccess(), bound, TimeUnit.MILLISECONDS);
      sent.addListener(f -> force.cancel(false));
    }
  }

  private void closeAfterCloseFrame(ChannelHandlerContext ctx, ChannelPromise promise) {
    ChannelPromise sent = closeSent;
    if (sent == null || sent.isDone()) {
      ctx.close(promise);
    } else {
      sent.addListener(f -> ctx.close(promise));
    }
  }

  private void fail(ChannelHandlerContext ctx, Throwable t) {
    if (t instanceof CorruptedWebSocketFrameException bad) {
      // The close frame says why (1002, 1009); the subclass's close then sends none of its own.
      sendClose(ctx, bad.closeStatus().code());
    }
    discarding = true;
    releaseCumulation();
    try {
      exceptionCaught(ctx, t);
    } catch (Exception e) {
      ctx.fireExceptionCaught(e);
    }
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) throws Exception {
    discarding = true;
    releaseAll();
    ctx.fireChannelInactive();
  }

  @Override
  public void handlerRemoved(ChannelHandlerContext ctx) {
    releaseAll();
  }

  private void releaseAll() {
    releaseCumulation();
    if (fragments != null) {
      fragments.release();
      fragments = null;
    }
    if (handshakeTimer != null) {
      handshakeTimer.cancel(false);
      handshakeTimer = null;
    }
  }

  private void releaseCumulation() {
    if (cumulation != null) {
      cumulation.release();
      cumulation = null;
    }
  }

  private static CorruptedWebSocketFrameException protocolError(String message) {
    return new CorruptedWebSocketFrameException(
        WebSocketCloseStatus.PROTOCOL_ERROR, message + " (RFC 6455)");
  }

  /**
   * {@code message} as one masked binary frame, ready for the socket: the header, a random mask
   * key, and the message encoded and masked in place.
   */
  public static ByteBuf binaryFrame(ByteBufAllocator alloc, MessageLite message)
      throws IOException {
    int size = message.getSerializedSize();
    int header = size < 126 ? 2 : size < 65_536 ? 4 : 10;
    ByteBuf b = alloc.buffer(header + 4 + size);
    try {
      b.writeByte(FIN | BINARY);
      if (size < 126) {
        b.writeByte(MASKED | size);
      } else if (size < 65_536) {
        b.writeByte(MASKED | 126).writeShort(size);
      } else {
        b.writeByte(MASKED | 127).writeLong(size);
      }
      int maskKey = ThreadLocalRandom.current().nextInt();
      b.writeInt(maskKey);
      int start = b.writerIndex();
      CodedOutputStream out = CodedOutputStream.newInstance(b.nioBuffer(start, size));
      message.writeTo(out);
      out.checkNoSpaceLeft();
      b.writerIndex(start + size);
      mask(b, start, size, maskKey);
      return b;
    } catch (IOException | RuntimeException e) {
      b.release();
      throw e;
    }
  }

  /** A control frame's header and mask key, for a payload of {@code length} (at most 125). */
  private static ByteBuf controlFrame(ByteBufAllocator alloc, int opcode, int length) {
    ByteBuf b = alloc.buffer(6 + length);
    b.writeByte(FIN | opcode).writeByte(MASKED | length);
    b.writeInt(ThreadLocalRandom.current().nextInt());
    return b;
  }

  /**
   * XORs {@code length} bytes from {@code start} with the 4-byte key, as RFC 6455 masks; in place,
   * eight bytes at a time. A buffer of one memory region is masked through one NIO view of it
   * rather than call by call on the buffer: each call on a buffer Netty's leak detector tracks at
   * its paranoid level records a stack trace, which made a megabyte's masking take seconds there.
   */
  public static void mask(ByteBuf b, int start, int length, int maskKey) {
    if (b.nioBufferCount() == 1) {
      // One component: the view shares the buffer's memory, so the writes land in it (as the
      // server's WireCodec.unmask).
      mask(b.nioBuffer(start, length).order(java.nio.ByteOrder.BIG_ENDIAN), maskKey);
      return;
    }
    int i = start;
    int end = start + length;
    long key = ((long) maskKey << 32) | (maskKey & 0xffffffffL);
    for (; i + 8 <= end; i += 8) {
      b.setLong(i, b.getLong(i) ^ key);
    }
    for (int k = 0; i < end; i++, k++) {
      b.setByte(i, b.getByte(i) ^ (maskKey >>> (24 - 8 * (k & 3))));
    }
  }

  /** As above, on {@code view} from its position to its limit (shared memory, big-endian). */
  private static void mask(java.nio.ByteBuffer view, int maskKey) {
    int i = view.position();
    int end = view.limit();
    long key = ((long) maskKey << 32) | (maskKey & 0xffffffffL);
    for (; i + 8 <= end; i += 8) {
      view.putLong(i, view.getLong(i) ^ key);
    }
    for (int k = 0; i < end; i++, k++) {
      view.put(i, (byte) (view.get(i) ^ (maskKey >>> (24 - 8 * (k & 3)))));
    }
  }
}
