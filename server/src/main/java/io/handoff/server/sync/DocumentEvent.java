package io.handoff.server.sync;

import com.google.protobuf.CodedInputStream;
import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.WireFormat;
import io.handoff.protocol.v1.Delta;
import io.handoff.protocol.v1.FieldOp;
import io.handoff.protocol.v1.ServerFrame;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.List;

/**
 * One accepted write of one user's document, as the stores keep it in history and the brokers fan
 * it out. Immutable and shared by every connection that receives it: the encoded push frame is made
 * once and reused for every recipient. What the delivery path reads (document, versions,
 * fingerprints, origin, timestamp) are plain fields; the {@link Delta} message is parsed from the
 * frame only when something asks for it.
 */
public final class DocumentEvent {
  private static final int DELTA_TAG_SIZE =
      CodedOutputStream.computeTagSize(ServerFrame.DELTA_FIELD_NUMBER);
  // Tags as the wire has them (field number and wire type), constants for the switch below.
  private static final int DELTA_TAG =
      (ServerFrame.DELTA_FIELD_NUMBER << 3) | WireFormat.WIRETYPE_LENGTH_DELIMITED;
  private static final int DOCUMENT_TAG =
      (Delta.DOCUMENT_FIELD_NUMBER << 3) | WireFormat.WIRETYPE_LENGTH_DELIMITED;
  private static final int OPS_TAG =
      (Delta.OPS_FIELD_NUMBER << 3) | WireFormat.WIRETYPE_LENGTH_DELIMITED;
  private static final int EPOCH_TAG =
      (Delta.EPOCH_FIELD_NUMBER << 3) | WireFormat.WIRETYPE_FIXED64;
  private static final int VERSION_TAG =
      (Delta.VERSION_FIELD_NUMBER << 3) | WireFormat.WIRETYPE_VARINT;
  private static final int ORIGIN_DEVICE_TAG =
      (Delta.ORIGIN_DEVICE_FIELD_NUMBER << 3) | WireFormat.WIRETYPE_LENGTH_DELIMITED;
  private static final int ORIGIN_SEQ_TAG =
      (Delta.ORIGIN_SEQ_FIELD_NUMBER << 3) | WireFormat.WIRETYPE_VARINT;
  private static final int TIMESTAMP_TAG =
      (Delta.TIMESTAMP_MS_FIELD_NUMBER << 3) | WireFormat.WIRETYPE_VARINT;
  private static final int FINGERPRINT_TAG =
      (Delta.FINGERPRINT_FIELD_NUMBER << 3) | WireFormat.WIRETYPE_FIXED64;
  private static final int PREVIOUS_FINGERPRINT_TAG =
      (Delta.PREVIOUS_FINGERPRINT_FIELD_NUMBER << 3) | WireFormat.WIRETYPE_FIXED64;
  private final String userId;
  private final String document;
  private final long epoch;
  private final long version;
  private final String originDevice;
  private final long originSeq;
  private final long timestampMs;
  private final long fingerprint;
  private final long previousFingerprint;
  // The delta's encoded size, for queue accounting.
  private final int deltaBytes;
  // Where the delta starts in frame, when the frame was made first (0: frame made from the delta).
  private final int deltaOffset;
  private volatile byte[] frame;
  private volatile Delta delta;

  public DocumentEvent(String userId, Delta delta) {
    this.userId = userId;
    this.document = delta.getDocument();
    this.epoch = delta.getEpoch();
    this.version = delta.getVersion();
    this.originDevice = delta.getOriginDevice();
    this.originSeq = delta.getOriginSeq();
    this.timestampMs = delta.getTimestampMs();
    this.fingerprint = delta.getFingerprint();
    this.previousFingerprint = delta.getPreviousFingerprint();
    this.deltaBytes = delta.getSerializedSize();
    this.deltaOffset = 0;
    this.delta = delta;
  }

  /**
   * An event whose push frame was encoded first ({@link #accepted}); the delta starts at {@code
   * deltaOffset}.
   */
  DocumentEvent(
      String userId,
      String document,
      long epoch,
      long version,
      String originDevice,
      long originSeq,
      long timestampMs,
      long fingerprint,
      long previousFingerprint,
      byte[] frame,
      int deltaOffset) {
    this.userId = userId;
    this.document = document;
    this.epoch = epoch;
    this.version = version;
    this.originDevice = originDevice;
    this.originSeq = originSeq;
    this.timestampMs = timestampMs;
    this.fingerprint = fingerprint;
    this.previousFingerprint = previousFingerprint;
    this.deltaBytes = frame.length - deltaOffset;
    this.deltaOffset = deltaOffset;
    this.frame = frame;
  }

  /**
   * The event of a write a store accepted as version {@code version} of {@code document}, written
   * by {@code originDevice} with {@code ops}, after a version whose fingerprint is {@code
   * previousFingerprint}. Its push frame ({@code ServerFrame{delta}}) is encoded once, straight
   * from the write's parts, field by field as protobuf's generated code writes it (same fields,
   * same order, defaults left out): no {@link Delta} and builders per write, no second encoding for
   * the push. Its {@link Fingerprint} is hashed over the frame's own bytes: the delta's body is the
   * frame without its header, epoch, version and fingerprints, in two runs (the document name, then
   * ops to timestamp). {@code DocumentEventEncodingTest} holds both to the generated encoding and
   * to {@link Fingerprint#body}.
   */
  public static DocumentEvent accepted(
      String userId,
      String document,
      List<FieldOp> ops,
      String originDevice,
      long originSeq,
      long timestampMs,
      long epoch,
      long version,
      long previousFingerprint) {
    int docSize =
        document.isEmpty()
            ? 0
            : CodedOutputStream.computeStringSize(Delta.DOCUMENT_FIELD_NUMBER, document);
    int tail = 0; // ops, origin device, origin seq, timestamp: the body after the document
    for (int i = 0, n = ops.size(); i < n; i++) {
      tail += CodedOutputStream.computeMessageSize(Delta.OPS_FIELD_NUMBER, ops.get(i));
    }
    if (!originDevice.isEmpty()) {
      tail += CodedOutputStream.computeStringSize(Delta.ORIGIN_DEVICE_FIELD_NUMBER, originDevice);
    }
    if (originSeq != 0) {
      tail += CodedOutputStream.computeUInt64Size(Delta.ORIGIN_SEQ_FIELD_NUMBER, originSeq);
    }
    if (timestampMs != 0) {
      tail += CodedOutputStream.computeUInt64Size(Delta.TIMESTAMP_MS_FIELD_NUMBER, timestampMs);
    }
    int delta =
        docSize
            + (epoch != 0 ? CodedOutputStream.computeFixed64Size(Delta.EPOCH_FIELD_NUMBER, 0) : 0)
            + (version != 0
                ? CodedOutputStream.computeUInt64Size(Delta.VERSION_FIELD_NUMBER, version)
                : 0)
            + tail
            // A computed fingerprint is never 0 (Fingerprint.next), so it is always written.
            + CodedOutputStream.computeFixed64Size(Delta.FINGERPRINT_FIELD_NUMBER, 0)
            + (previousFingerprint != 0
                ? CodedOutputStream.computeFixed64Size(Delta.PREVIOUS_FINGERPRINT_FIELD_NUMBER, 0)
                : 0);
    int header = DELTA_TAG_SIZE + CodedOutputStream.computeUInt32SizeNoTag(delta);
    byte[] frame = new byte[header + delta];
    CodedOutputStream o = CodedOutputStream.newInstance(frame);
    long fingerprint;
    try {
      o.writeTag(ServerFrame.DELTA_FIELD_NUMBER, 2); // length-delimited
      o.writeUInt32NoTag(delta);
      if (!document.isEmpty()) {
        o.writeString(Delta.DOCUMENT_FIELD_NUMBER, document);
      }
      if (epoch != 0) {
        o.writeFixed64(Delta.EPOCH_FIELD_NUMBER, epoch);
      }
      if (version != 0) {
        o.writeUInt64(Delta.VERSION_FIELD_NUMBER, version);
      }
      int tailStart = o.getTotalBytesWritten();
      for (int i = 0, n = ops.size(); i < n; i++) {
        o.writeMessage(Delta.OPS_FIELD_NUMBER, ops.get(i));
      }
      if (!originDevice.isEmpty()) {
        o.writeString(Delta.ORIGIN_DEVICE_FIELD_NUMBER, originDevice);
      }
      if (originSeq != 0) {
        o.writeUInt64(Delta.ORIGIN_SEQ_FIELD_NUMBER, originSeq);
      }
      if (timestampMs != 0) {
        o.writeUInt64(Delta.TIMESTAMP_MS_FIELD_NUMBER, timestampMs);
      }
      fingerprint = Fingerprint.next(previousFingerprint, frame, header, docSize, tailStart, tail);
      o.writeFixed64(Delta.FINGERPRINT_FIELD_NUMBER, fingerprint);
      if (previousFingerprint != 0) {
        o.writeFixed64(Delta.PREVIOUS_FINGERPRINT_FIELD_NUMBER, previousFingerprint);
      }
      o.checkNoSpaceLeft();
    } catch (IOException e) {
      throw new IllegalStateException("a delta of " + delta + " bytes did not fit its array", e);
    }
    return new DocumentEvent(
        userId,
        document,
        epoch,
        version,
        originDevice,
        originSeq,
        timestampMs,
        fingerprint,
        previousFingerprint,
        frame,
        header);
  }

  /**
   * The event whose push frame is {@code frame}, a {@code ServerFrame{delta}} of {@code document}
   * as {@link #frame} gives it (a store keeps history as these frames): its fields are read from
   * the frame's delta, which is not parsed into a {@link Delta} unless asked for, and its frame is
   * {@code frame} itself.
   */
  public static DocumentEvent ofFrame(String userId, String document, byte[] frame) {
    return scan(userId, document, frame);
  }

  /**
   * The event whose delta arrived encoded as {@code delta}: any encoding of a {@link Delta} that
   * protobuf's parser accepts, such as a store's message with fields appended to it (for a field
   * that appears twice, the last one wins, as when parsing). Its push frame wraps those bytes as
   * they are; what the delivery path reads is read from them without parsing the ops, and the
   * {@link Delta} is parsed only if something asks for it.
   *
   * <p>The ops are checked for their wire structure only (tags, lengths, nesting), not their
   * contents (an op's field name is not checked for UTF-8 here): the bytes are what a node wrote
   * after validating the write, read back from the store, not a device's input.
   *
   * @throws IllegalArgumentException if {@code delta}'s structure is not a delta's
   */
  public static DocumentEvent ofDelta(String userId, byte[] delta) {
    return scan(userId, null, wrap(delta));
  }

  /**
   * Reads the fields of {@code frame}'s delta; the document name too when {@code document} is null,
   * else it is skipped. Ops and fields of a newer node are skipped, checked only for their wire
   * structure (an op must be a well-formed message; an end-group tag outside a group is refused).
   */
  private static DocumentEvent scan(String userId, String document, byte[] frame) {
    CodedInputStream in = CodedInputStream.newInstance(frame);
    String name = document;
    long epoch = 0;
    long version = 0;
    String originDevice = "";
    long originSeq = 0;
    long timestampMs = 0;
    long fingerprint = 0;
    long previousFingerprint = 0;
    int offset;
    try {
      if (in.readTag() != DELTA_TAG) {
        throw new IllegalArgumentException("not a ServerFrame holding a delta");
      }
      int length = in.readRawVarint32();
      offset = in.getTotalBytesRead();
      if (offset + length != frame.length) {
        throw new IllegalArgumentException("a delta frame of the wrong length");
      }
      for (int tag = in.readTag(); tag != 0; tag = in.readTag()) {
        switch (tag) {
          case EPOCH_TAG -> epoch = in.readFixed64();
          case VERSION_TAG -> version = in.readUInt64();
          case ORIGIN_DEVICE_TAG -> originDevice = in.readStringRequireUtf8();
          case ORIGIN_SEQ_TAG -> originSeq = in.readUInt64();
          case TIMESTAMP_TAG -> timestampMs = in.readUInt64();
          case FINGERPRINT_TAG -> fingerprint = in.readFixed64();
          case PREVIOUS_FINGERPRINT_TAG -> previousFingerprint = in.readFixed64();
          case DOCUMENT_TAG -> {
            if (document == null) {
              name = in.readStringRequireUtf8();
            } else {
              in.skipField(tag);
            }
          }
          case OPS_TAG -> skipMessage(in);
          default -> {
            if (!in.skipField(tag)) { // Fields of a newer node are skipped; an end-group is wrong.
              throw new InvalidProtocolBufferException("an end-group tag outside a group");
            }
          }
        }
      }
    } catch (IOException e) {
      throw new IllegalArgumentException("a delta that does not parse: " + e.getMessage(), e);
    }
    return new DocumentEvent(
        userId,
        name == null ? "" : name,
        epoch,
        version,
        originDevice,
        originSeq,
        timestampMs,
        fingerprint,
        previousFingerprint,
        frame,
        offset);
  }

  /** Skips one length-delimited message, checking its wire structure (tags, lengths). */
  private static void skipMessage(CodedInputStream in) throws IOException {
    int limit = in.pushLimit(in.readRawVarint32());
    in.skipMessage();
    in.checkLastTagWas(0);
    in.popLimit(limit);
  }

  public String userId() {
    return userId;
  }

  /** The delta message; parsed from the push frame on first use when the frame came first. */
  public Delta delta() {
    Delta d = delta;
    if (d == null) {
      byte[] f = frame;
      try {
        d = Delta.parser().parseFrom(f, deltaOffset, f.length - deltaOffset);
      } catch (InvalidProtocolBufferException e) {
        throw new IllegalStateException("a delta frame does not parse: " + e.getMessage(), e);
      }
      delta = d;
    }
    return d;
  }

  public String document() {
    return document;
  }

  public long epoch() {
    return epoch;
  }

  public long version() {
    return version;
  }

  public String originDevice() {
    return originDevice;
  }

  /**
   * True when {@code deviceId} wrote this event. Usually asked of another device's event, which
   * differs in its cached hash: the answer then reads no characters.
   */
  public boolean isFrom(String deviceId) {
    String o = originDevice;
    return o == deviceId || (o.hashCode() == deviceId.hashCode() && o.equals(deviceId));
  }

  public long originSeq() {
    return originSeq;
  }

  /** Server time the write was accepted, milliseconds since the epoch. */
  public long timestampMs() {
    return timestampMs;
  }

  /** The {@link Fingerprint} of this version (0: unknown). */
  public long fingerprint() {
    return fingerprint;
  }

  /** The {@link Fingerprint} of the version before (0: unknown). */
  public long previousFingerprint() {
    return previousFingerprint;
  }

  /**
   * The encoded {@code ServerFrame{delta}} push. Computed on first use; a race computes it twice,
   * which is harmless because both results are equal.
   */
  public byte[] frame() {
    byte[] f = frame;
    if (f == null) {
      f = ServerFrame.newBuilder().setDelta(delta).build().toByteArray();
      frame = f;
    }
    return f;
  }

  /** {@code ServerFrame{delta}} around an encoded delta: the field's tag, length and bytes. */
  private static byte[] wrap(byte[] encoded) {
    int field = ServerFrame.DELTA_FIELD_NUMBER;
    byte[] f =
        new byte
            [CodedOutputStream.computeTagSize(field)
                + CodedOutputStream.computeUInt32SizeNoTag(encoded.length)
                + encoded.length];
    CodedOutputStream out = CodedOutputStream.newInstance(f);
    try {
      out.writeTag(field, WireFormat.WIRETYPE_LENGTH_DELIMITED);
      out.writeUInt32NoTag(encoded.length);
      out.writeRawBytes(encoded);
      out.checkNoSpaceLeft();
    } catch (IOException e) {
      throw new UncheckedIOException("the frame was sized wrong", e);
    }
    return f;
  }

  /** Approximate bytes this event holds, for queue accounting. */
  public int sizeBytes() {
    return deltaBytes + 64;
  }

  @Override
  public String toString() {
    return "DocumentEvent{" + document + " v" + version + " from " + originDevice + "}";
  }
}
