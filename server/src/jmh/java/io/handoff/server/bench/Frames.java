package io.handoff.server.bench;

import com.google.protobuf.ByteString;
import io.handoff.protocol.v1.Delta;
import io.handoff.protocol.v1.FieldOp;
import io.handoff.server.sync.DocumentEvent;

/** Frames of the standard load: one field of {@code payload} bytes in one document. */
final class Frames {
  private Frames() {}

  static FieldOp op(int payload) {
    return FieldOp.newBuilder()
        .setField("position")
        .setSet(ByteString.copyFrom(new byte[payload]))
        .build();
  }

  static DocumentEvent delta(int payload) {
    return new DocumentEvent(
        "user",
        Delta.newBuilder()
            .setDocument("player")
            .addOps(op(payload))
            .setOriginDevice("phone")
            .setOriginSeq(1234)
            .setTimestampMs(1_700_000_000_000L)
            .setEpoch(0x1234_5678_9abc_def0L)
            .setVersion(5678)
            .setFingerprint(0x0fed_cba9_8765_4321L)
            .setPreviousFingerprint(0x1111_2222_3333_4444L)
            .build());
  }
}
