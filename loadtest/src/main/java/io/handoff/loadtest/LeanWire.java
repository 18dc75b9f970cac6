package io.handoff.loadtest;

import io.handoff.client.internal.ClientWire;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import java.nio.charset.StandardCharsets;

/**
 * The protobuf wire format of the two frames the {@code fanout} devices handle thousands of times a
 * second, by hand: a {@code ClientFrame} holding one {@code Write} (encoded straight into a pooled
 * buffer, the payload filler copied from one shared array) and the fields of a {@code
 * ServerFrame}'s {@code Ack} or {@code Delta} that the checks need (read in place, nothing copied,
 * no message objects). Every other frame, rare by comparison, goes through the generated classes.
 * The field numbers are those of {@code protocol/src/main/proto/handoff/v1/handoff.proto}; {@code
 * LeanWireTest} holds both directions to the generated code.
 *
 * <p>Stateless apart from the reader objects, which are reused by one thread each.
 */
final class LeanWire {
  /** {@code ServerFrame} body field numbers. */
  static final int WELCOME = 10;

  static final int ACK = 11;
  static final int DELTA = 12;
  static final int SNAPSHOT = 13;
  static final int SYNC_REPORT = 14;
  static final int ERROR = 16;
  static final int DISCONNECT = 17;
  static final int OFFER_PROMPT = 42;

  private static final int VARINT = 0;
  private static final int FIXED64 = 1;
  private static final int LEN = 2;

  private static final byte[] FIELD = Payload.FIELD.getBytes(StandardCharsets.US_ASCII);

  private LeanWire() {}

  /** Thrown for bytes that are not a well-formed frame of the expected shape. */
  static final class Malformed extends io.netty.handler.codec.CorruptedFrameException {
    Malformed(String message) {
      super(message);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Writes

  /**
   * Encodes {@code ClientFrame{write: Write{document, client_seq, ops: [FieldOp{field: "p", set:
   * payload}]}}} as one masked binary WebSocket frame, ready for the socket: the payload is {@link
   * Payload#encode}'s bytes for {@code intendedNanos} and {@code writer}, its filler copied from
   * {@code filler} (a {@link Payload#encode} of the same size). Puts the {@link #contentHash} of
   * the payload into {@code payloadHash[0]}.
   */
  static ByteBuf encodeWrite(
      ByteBufAllocator alloc,
      byte[] documentName,
      long seq,
      long intendedNanos,
      int writer,
      byte[] filler,
      int maskKey,
      long[] payloadHash) {
    int payload = filler.length;
    int op = 1 + 1 + FIELD.length + 1 + varintSize(payload) + payload;
    int write =
        1
            + varintSize(documentName.length)
            + documentName.length
            + 1
            + varintSize(seq)
            + 1
            + varintSize(op)
            + op;
    int frame = 1 + varintSize(write) + write;
    int header = frame < 126 ? 2 : frame < 65_536 ? 4 : 10;
    ByteBuf b = alloc.buffer(header + 4 + frame);
    b.writeByte(0x82); // FIN, binary
    if (frame < 126) {
      b.writeByte(0x80 | frame);
    } else if (frame < 65_536) {
      b.writeByte(0x80 | 126);
      b.writeShort(frame);
    } else {
      b.writeByte(0x80 | 127);
      b.writeLong(frame);
    }
    b.writeInt(maskKey);
    int start = b.writerIndex();
    b.writeByte(tag(11, LEN));
    writeVarint(b, write);
    b.writeByte(tag(1, LEN));
    writeVarint(b, documentName.length);
    b.writeBytes(documentName);
    b.writeByte(tag(2, VARINT));
    writeVarint(b, seq);
    b.writeByte(tag(4, LEN));
    writeVarint(b, op);
    b.writeByte(tag(1, LEN));
    writeVarint(b, FIELD.length);
    b.writeBytes(FIELD);
    b.writeByte(tag(2, LEN));
    writeVarint(b, payload);
    int value = b.writerIndex();
    b.writeLong(intendedNanos);
    b.writeInt(writer);
    b.writeBytes(filler, Payload.HEADER_BYTES, payload - Payload.HEADER_BYTES);
    payloadHash[0] = contentHash(b, value, payload);
    ClientWire.mask(b, start, frame, maskKey);
    return b;
  }

  /**
   * A 64-bit fingerprint of a field value, to compare replicas at the end of a run without keeping
   * their bytes: FNV-1a over 8-byte words, then the remaining bytes.
   */
  static long contentHash(ByteBuf b, int from, int length) {
    long h = 0xcbf29ce484222325L ^ length;
    int i = from;
    int end = from + length;
    for (; i + 8 <= end; i += 8) {
      h = (h ^ b.getLong(i)) * 0x100000001b3L;
    }
    for (; i < end; i++) {
      h = (h ^ (b.getByte(i) & 0xff)) * 0x100000001b3L;
    }
    return h;
  }

  /** {@link #contentHash} of a byte array. */
  static long contentHash(byte[] value) {
    return contentHash(io.netty.buffer.Unpooled.wrappedBuffer(value), 0, value.length);
  }

  /** The index K of a document named {@code doc<K>} as the run names them, or -1. */
  static int documentIndex(String name) {
    byte[] b = name.getBytes(StandardCharsets.UTF_8);
    return name.startsWith("doc")
        ? number(io.netty.buffer.Unpooled.wrappedBuffer(b), 3, b.length)
        : -1;
  }

  /**
   * The decimal number in {@code [from, to)} of {@code b} as {@link Integer#toString} writes it (no
   * sign, no leading zero), or -1: another spelling names another document or device.
   */
  private static int number(ByteBuf b, int from, int to) {
    if (to <= from || to - from > 9 || (b.getByte(from) == '0' && to - from > 1)) {
      return -1;
    }
    int n = 0;
    for (int i = from; i < to; i++) {
      int d = b.getByte(i) - '0';
      if (d < 0 || d > 9) {
        return -1;
      }
      n = n * 10 + d;
    }
    return n;
  }

  // ---------------------------------------------------------------------------------------------
  // Server frames

  /**
   * Reads the top level of a {@code ServerFrame}: which body it holds and where. Reusable: {@link
   * #read} overwrites every field.
   */
  static final class Frame {
    int body;
    int start;
    int end;

    /** Reads the frame in {@code b} from its reader index to its writer index. */
    Frame read(ByteBuf b) {
      return read(b, b.readerIndex(), b.writerIndex());
    }

    /** Reads the frame in {@code [from, to)} of {@code b}. */
    Frame read(ByteBuf b, int from, int to) {
      body = 0;
      Cursor c = new Cursor(b, from, to);
      while (c.more()) {
        int t = c.tag();
        int field = t >>> 3;
        if (field >= WELCOME && (t & 7) == LEN) {
          int len = c.length();
          body = field;
          start = c.pos();
          this.end = start + len;
          c.skipBytes(len);
        } else {
          c.skip(t);
        }
      }
      return this;
    }
  }

  /** The fields of an {@code Ack} the checks need. Reusable. */
  static final class Ack {
    int document;
    long seq;
    long epoch;
    long version;
    long fingerprint;

    Ack read(ByteBuf b, int from, int to) {
      document = -1;
      seq = 0;
      epoch = 0;
      version = 0;
      fingerprint = 0;
      Cursor c = new Cursor(b, from, to);
      while (c.more()) {
        int t = c.tag();
        switch (t) {
          case (1 << 3) | LEN -> document = c.documentIndex();
          case (2 << 3) | VARINT -> seq = c.varint();
          case (3 << 3) | FIXED64 -> epoch = c.fixed64();
          case (4 << 3) | VARINT -> version = c.varint();
          case (20 << 3) | FIXED64 -> fingerprint = c.fixed64();
          default -> c.skip(t);
        }
      }
      return this;
    }
  }

  /**
   * The fields of a {@code Delta} the checks need, the value of its one operation left in the
   * buffer ({@link #valueStart}, {@link #valueLength}). Reusable.
   */
  static final class Delta {
    int document;
    long epoch;
    long version;
    int originSlot;
    long originSeq;
    long fingerprint;
    long previousFingerprint;
    int ops;

    /** Operations other than a set of {@link Payload#FIELD}; the load tester never makes one. */
    int foreignOps;

    int valueStart;
    int valueLength;

    Delta read(ByteBuf b, int from, int to) {
      document = -1;
      epoch = 0;
      version = 0;
      originSlot = -1;
      originSeq = 0;
      fingerprint = 0;
      previousFingerprint = 0;
      ops = 0;
      foreignOps = 0;
      valueStart = -1;
      valueLength = 0;
      Cursor c = new Cursor(b, from, to);
      while (c.more()) {
        int t = c.tag();
        switch (t) {
          case (1 << 3) | LEN -> document = c.documentIndex();
          case (2 << 3) | FIXED64 -> epoch = c.fixed64();
          case (3 << 3) | VARINT -> version = c.varint();
          case (4 << 3) | LEN -> op(c);
          case (5 << 3) | LEN -> originSlot = c.deviceSlot();
          case (6 << 3) | VARINT -> originSeq = c.varint();
          case (20 << 3) | FIXED64 -> fingerprint = c.fixed64();
          case (21 << 3) | FIXED64 -> previousFingerprint = c.fixed64();
          default -> c.skip(t);
        }
      }
      return this;
    }

    private void op(Cursor c) {
      int limit = c.enter(c.length());
      ops++;
      boolean ours = false;
      int start = -1;
      int length = 0;
      boolean set = false;
      while (c.more()) {
        int t = c.tag();
        if (t == ((1 << 3) | LEN)) {
          ours = c.isField();
        } else if (t == ((2 << 3) | LEN)) {
          length = c.length();
          start = c.pos();
          c.skipBytes(length);
          set = true;
        } else {
          c.skip(t);
        }
      }
      c.leave(limit);
      if (ours && set) {
        valueStart = start;
        valueLength = length;
      } else {
        foreignOps++;
      }
    }
  }

  /**
   * A protobuf reader over a range of a buffer, read in place (no NIO view, no {@code
   * CodedInputStream}: creating one per frame was 5% of the tester's CPU), with the positions and
   * the string checks the readers above need. Any malformed input becomes {@link Malformed}.
   */
  private static final class Cursor {
    private final ByteBuf b;
    private final int end;
    private int pos;
    // Where the current message (the frame, or the one entered last) ends.
    private int limit;

    Cursor(ByteBuf b, int from, int to) {
      this.b = b;
      this.end = to;
      this.pos = from;
      this.limit = to;
    }

    /** The buffer index of the next byte to read. */
    int pos() {
      return pos;
    }

    boolean more() {
      return pos < limit;
    }

    int tag() {
      long t = varint();
      if (t == 0 || t > 0xffff_ffffL) {
        throw new Malformed("bad field tag " + t);
      }
      return (int) t;
    }

    long varint() {
      long v = 0;
      for (int shift = 0; shift < 64; shift += 7) {
        if (pos >= limit) {
          throw new Malformed("a varint runs past the end");
        }
        byte x = b.getByte(pos++);
        v |= (long) (x & 0x7f) << shift;
        if (x >= 0) {
          return v;
        }
      }
      throw new Malformed("a varint longer than 10 bytes");
    }

    long fixed64() {
      if (limit - pos < 8) {
        throw new Malformed("a fixed64 runs past the end");
      }
      long v = b.getLongLE(pos);
      pos += 8;
      return v;
    }

    /** A length prefix; the bytes it announces must all be there. */
    int length() {
      long len = varint();
      if (len < 0 || len > limit - pos || len > end - pos) {
        throw new Malformed("length " + len + " runs past the end");
      }
      return (int) len;
    }

    void skipBytes(int n) {
      if (n < 0 || n > limit - pos) {
        throw new Malformed("skipping " + n + " bytes runs past the end");
      }
      pos += n;
    }

    void skip(int tag) {
      switch (tag & 7) {
        case 0 -> varint();
        case 1 -> skipBytes(8);
        case 2 -> skipBytes(length());
        case 5 -> skipBytes(4);
        default -> throw new Malformed("unsupported wire type " + (tag & 7) + " in tag " + tag);
      }
    }

    /** Reads only the next {@code length} bytes until {@link #leave}. */
    int enter(int length) {
      if (length < 0 || length > limit - pos) {
        throw new Malformed("a message of " + length + " bytes runs past the end");
      }
      int outer = limit;
      limit = pos + length;
      return outer;
    }

    void leave(int outer) {
      limit = outer;
    }

    /** A string field that should read {@code doc<K>}: K, or -1 for any other string. */
    int documentIndex() {
      int len = length();
      int from = pos();
      skipBytes(len);
      if (len < 4
          || b.getByte(from) != 'd'
          || b.getByte(from + 1) != 'o'
          || b.getByte(from + 2) != 'c') {
        return -1;
      }
      return number(b, from + 3, from + len);
    }

    /** A string field that should read {@code d<slot>}: the slot, or -1 for any other string. */
    int deviceSlot() {
      int len = length();
      int from = pos();
      skipBytes(len);
      if (len < 2 || b.getByte(from) != 'd') {
        return -1;
      }
      return number(b, from + 1, from + len);
    }

    /** Whether a string field reads {@link Payload#FIELD}. */
    boolean isField() {
      int len = length();
      int from = pos();
      skipBytes(len);
      if (len != FIELD.length) {
        return false;
      }
      for (int i = 0; i < len; i++) {
        if (b.getByte(from + i) != FIELD[i]) {
          return false;
        }
      }
      return true;
    }
  }

  private static int tag(int field, int type) {
    return (field << 3) | type;
  }

  static int varintSize(long v) {
    int n = 1;
    while ((v & ~0x7fL) != 0) {
      v >>>= 7;
      n++;
    }
    return n;
  }

  private static void writeVarint(ByteBuf b, long v) {
    while ((v & ~0x7fL) != 0) {
      b.writeByte((int) ((v & 0x7f) | 0x80));
      v >>>= 7;
    }
    b.writeByte((int) v);
  }
}
