package io.handoff.server.sync;

import com.google.protobuf.CodedOutputStream;
import io.handoff.protocol.v1.Ack;
import io.handoff.protocol.v1.ServerFrame;
import java.io.IOException;

/**
 * The encoded {@code ServerFrame{request_id, ack}}, written field by field as protobuf's generated
 * code writes it (same fields, same order, defaults left out), without building an {@link Ack} and
 * a {@link ServerFrame} and their builders for every write. The codec copies it behind its
 * WebSocket header like a delta. {@code AckFrameTest} holds it byte for byte to the generated
 * encoding.
 */
final class AckFrame {
  private AckFrame() {}

  static byte[] encode(
      long requestId,
      String document,
      long clientSeq,
      long epoch,
      long version,
      long fingerprint,
      boolean duplicate) {
    int ack = ackSize(document, clientSeq, epoch, version, fingerprint, duplicate);
    int size =
        (requestId != 0
                ? CodedOutputStream.computeUInt64Size(
                    ServerFrame.REQUEST_ID_FIELD_NUMBER, requestId)
                : 0)
            + CodedOutputStream.computeTagSize(ServerFrame.ACK_FIELD_NUMBER)
            + CodedOutputStream.computeUInt32SizeNoTag(ack)
            + ack;
    byte[] out = new byte[size];
    CodedOutputStream o = CodedOutputStream.newInstance(out);
    try {
      if (requestId != 0) {
        o.writeUInt64(ServerFrame.REQUEST_ID_FIELD_NUMBER, requestId);
      }
      o.writeTag(ServerFrame.ACK_FIELD_NUMBER, 2); // length-delimited
      o.writeUInt32NoTag(ack);
      if (!document.isEmpty()) {
        o.writeString(Ack.DOCUMENT_FIELD_NUMBER, document);
      }
      if (clientSeq != 0) {
        o.writeUInt64(Ack.CLIENT_SEQ_FIELD_NUMBER, clientSeq);
      }
      if (epoch != 0) {
        o.writeFixed64(Ack.EPOCH_FIELD_NUMBER, epoch);
      }
      if (version != 0) {
        o.writeUInt64(Ack.VERSION_FIELD_NUMBER, version);
      }
      if (duplicate) {
        o.writeBool(Ack.DUPLICATE_FIELD_NUMBER, true);
      }
      if (fingerprint != 0) {
        o.writeFixed64(Ack.FINGERPRINT_FIELD_NUMBER, fingerprint);
      }
      o.checkNoSpaceLeft();
    } catch (IOException e) {
      throw new IllegalStateException("an ack of " + size + " bytes did not fit its array", e);
    }
    return out;
  }

  private static int ackSize(
      String document,
      long clientSeq,
      long epoch,
      long version,
      long fingerprint,
      boolean duplicate) {
    int n = 0;
    if (!document.isEmpty()) {
      n += CodedOutputStream.computeStringSize(Ack.DOCUMENT_FIELD_NUMBER, document);
    }
    if (clientSeq != 0) {
      n += CodedOutputStream.computeUInt64Size(Ack.CLIENT_SEQ_FIELD_NUMBER, clientSeq);
    }
    if (epoch != 0) {
      n += CodedOutputStream.computeFixed64Size(Ack.EPOCH_FIELD_NUMBER, epoch);
    }
    if (version != 0) {
      n += CodedOutputStream.computeUInt64Size(Ack.VERSION_FIELD_NUMBER, version);
    }
    if (duplicate) {
      n += CodedOutputStream.computeBoolSize(Ack.DUPLICATE_FIELD_NUMBER, true);
    }
    if (fingerprint != 0) {
      n += CodedOutputStream.computeFixed64Size(Ack.FINGERPRINT_FIELD_NUMBER, fingerprint);
    }
    return n;
  }
}
