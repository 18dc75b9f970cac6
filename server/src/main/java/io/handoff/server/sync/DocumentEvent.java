package io.handoff.server.sync;

import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.WireFormat;
import io.handoff.protocol.v1.Delta;
import io.handoff.protocol.v1.ServerFrame;
import java.io.IOException;
import java.io.UncheckedIOException;

/**
 * One accepted write of one user's document, as the stores keep it in history and the brokers fan
 * it out. Immutable and shared by every connection that receives it: the encoded push frame is made
 * once and reused for every recipient.
 */
public final class DocumentEvent {
  private final String userId;
  private final Delta delta;
  // The delta as it arrived encoded (a broker's message), or null.
  private final byte[] encoded;
  private volatile byte[] frame;

  public DocumentEvent(String userId, Delta delta) {
    this(userId, delta, null);
  }

  /**
   * An event whose delta arrived encoded as {@code encoded} (any encoding of {@code delta} a
   * protobuf parser accepts, such as a store's message with fields appended): its push frame wraps
   * those bytes as they are instead of encoding the delta again.
   */
  public DocumentEvent(String userId, Delta delta, byte[] encoded) {
    this.userId = userId;
    this.delta = delta;
    this.encoded = encoded;
  }

  public String userId() {
    return userId;
  }

  public Delta delta() {
    return delta;
  }

  public String document() {
    return delta.getDocument();
  }

  public long epoch() {
    return delta.getEpoch();
  }

  public long version() {
    return delta.getVersion();
  }

  public String originDevice() {
    return delta.getOriginDevice();
  }

  public long originSeq() {
    return delta.getOriginSeq();
  }

  /**
   * The encoded {@code ServerFrame{delta}} push. Computed on first use; a race computes it twice,
   * which is harmless because both results are equal.
   */
  public byte[] frame() {
    byte[] f = frame;
    if (f == null) {
      f = encoded == null ? ServerFrame.newBuilder().setDelta(delta).build().toByteArray() : wrap();
      frame = f;
    }
    return f;
  }

  /** {@code ServerFrame{delta}} around the encoded delta: the field's tag, length and bytes. */
  private byte[] wrap() {
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
    return (encoded == null ? delta.getSerializedSize() : encoded.length) + 64;
  }

  @Override
  public String toString() {
    return "DocumentEvent{" + document() + " v" + version() + " from " + originDevice() + "}";
  }
}
