package io.handoff.server.sync;

import com.google.protobuf.CodedOutputStream;
import io.handoff.protocol.v1.Delta;
import io.handoff.protocol.v1.FieldOp;
import io.handoff.protocol.v1.ServerFrame;
import java.io.IOException;
import java.util.List;

/**
 * The encoded {@code ServerFrame{delta}} of a write the store just accepted, written field by field
 * as protobuf's generated code writes it (same fields, same order, defaults left out) straight from
 * the write's parts: no {@link Delta} and builder per write, no second encoding for the push, and
 * the {@link Fingerprint} hashed over the frame's own bytes (the delta's body is the frame without
 * its header, epoch, version and fingerprints, in two runs: the document name, then ops to
 * timestamp). {@code DeltaFrameTest} holds it byte for byte to the generated encoding and to {@link
 * Fingerprint#body}.
 */
final class DeltaFrame {
  private static final int DELTA_TAG_SIZE =
      CodedOutputStream.computeTagSize(ServerFrame.DELTA_FIELD_NUMBER);

  private DeltaFrame() {}

  /**
   * The event of version {@code version} of {@code document}, written by {@code originDevice} with
   * {@code ops}, whose previous version's fingerprint is {@code previousFingerprint}.
   */
  static DocumentEvent encode(
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
}
