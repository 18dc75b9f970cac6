package io.handoff.server.sync;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnknownFieldSet;
import io.handoff.protocol.v1.Delta;
import io.handoff.protocol.v1.FieldOp;
import io.handoff.protocol.v1.ServerFrame;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A write's delta frame encoded straight from its parts against protobuf's own encoding of the same
 * delta, byte for byte, and its fingerprint against {@link Fingerprint#next} over {@link
 * Fingerprint#body}: the memory store's deltas and fingerprints are exactly what they were when
 * built as messages (and what the Redis script computes).
 */
class DocumentEventEncodingTest {
  private static final long[] NUMBERS = {0, 1, 127, 128, 300, Long.MAX_VALUE, -1, Long.MIN_VALUE};
  private static final String[] NAMES = {"", "player", "ü-ünïcode-☃", "x".repeat(300)};
  private static final List<List<FieldOp>> OPS =
      List.of(
          List.of(),
          List.of(FieldOp.newBuilder().setField("a").setSet(ByteString.EMPTY).build()),
          List.of(
              FieldOp.newBuilder()
                  .setField("position")
                  .setSet(ByteString.copyFrom(new byte[300])) // a length of two varint bytes
                  .build(),
              FieldOp.newBuilder().setField("gone").setRemove(true).build(),
              FieldOp.newBuilder().setField("").setSet(ByteString.copyFromUtf8("v")).build(),
              FieldOp.newBuilder()
                  .setField("position")
                  .setSet(ByteString.copyFromUtf8("last wins"))
                  .setUnknownFields(
                      UnknownFieldSet.newBuilder()
                          .addField(99, UnknownFieldSet.Field.newBuilder().addVarint(7).build())
                          .build())
                  .build()));

  @Test
  void everyFieldAtEveryEdgeEncodesAndFingerprintsExactlyAsTheGeneratedCode() throws Exception {
    int cases = 0;
    for (long n : NUMBERS) {
      for (String name : NAMES) {
        for (List<FieldOp> ops : OPS) {
          // Each number in each field in turn, the others at a typical value.
          long[][] fields = {
            {n, 2, 3, 4, 5}, {1, n, 3, 4, 5}, {1, 2, n, 4, 5}, {1, 2, 3, n, 5}, {1, 2, 3, 4, n}
          };
          for (long[] f : fields) {
            String origin = name.isEmpty() ? "" : "phone-" + name;
            check(name, ops, origin, f[0], f[1], f[2], f[3], f[4]);
            cases++;
          }
        }
      }
    }
    assertEquals(NUMBERS.length * NAMES.length * OPS.size() * 5, cases);
  }

  private static void check(
      String doc,
      List<FieldOp> ops,
      String origin,
      long seq,
      long timestamp,
      long epoch,
      long version,
      long previous)
      throws Exception {
    Delta body =
        Delta.newBuilder()
            .setDocument(doc)
            .addAllOps(ops)
            .setOriginDevice(origin)
            .setOriginSeq(seq)
            .setTimestampMs(timestamp)
            .build();
    long fingerprint = Fingerprint.next(previous, body.toByteArray());
    Delta delta =
        body.toBuilder()
            .setEpoch(epoch)
            .setVersion(version)
            .setFingerprint(fingerprint)
            .setPreviousFingerprint(previous)
            .build();
    String what =
        doc
            + " "
            + ops.size()
            + " ops "
            + seq
            + "/"
            + timestamp
            + "/"
            + epoch
            + "/"
            + version
            + "/"
            + previous;

    DocumentEvent e =
        DocumentEvent.accepted("u", doc, ops, origin, seq, timestamp, epoch, version, previous);

    assertEquals(fingerprint, e.fingerprint(), what);
    assertEquals(Fingerprint.body(delta).length, body.getSerializedSize(), what);
    assertArrayEquals(
        ServerFrame.newBuilder().setDelta(delta).build().toByteArray(), e.frame(), what);
    assertEquals(delta, e.delta(), what);
    assertEquals(delta, ServerFrame.parseFrom(e.frame()).getDelta(), what);
    assertEquals(previous, e.previousFingerprint());
    assertEquals(doc, e.document());
    assertEquals(epoch, e.epoch());
    assertEquals(version, e.version());
    assertEquals(origin, e.originDevice());
    assertEquals(seq, e.originSeq());
    assertEquals(timestamp, e.timestampMs());
    assertEquals(delta.getSerializedSize() + 64, e.sizeBytes());

    // As a store reads it back from history: the same fields, the same frame.
    DocumentEvent back = DocumentEvent.ofFrame("u", doc, e.frame());
    assertEquals(epoch, back.epoch(), what);
    assertEquals(version, back.version(), what);
    assertEquals(origin, back.originDevice(), what);
    assertEquals(seq, back.originSeq(), what);
    assertEquals(timestamp, back.timestampMs(), what);
    assertEquals(fingerprint, back.fingerprint(), what);
    assertEquals(previous, back.previousFingerprint(), what);
    assertEquals(e.sizeBytes(), back.sizeBytes(), what);
    assertEquals(delta, back.delta(), what);
    assertArrayEquals(e.frame(), back.frame(), what);
  }

  @Test
  void theFingerprintOfAWriteChainsFromThePreviousOneAndIsNeverUnknown() {
    List<FieldOp> ops = OPS.get(1);
    DocumentEvent v1 = DocumentEvent.accepted("u", "d", ops, "p", 1, 10, 5, 1, 0);
    DocumentEvent v2 = DocumentEvent.accepted("u", "d", ops, "p", 2, 11, 5, 2, v1.fingerprint());
    DocumentEvent other = DocumentEvent.accepted("u", "d", ops, "p", 2, 11, 5, 2, 12345);
    assertFalse(v1.fingerprint() == Fingerprint.UNKNOWN);
    assertEquals(v1.fingerprint(), v2.previousFingerprint());
    assertFalse(v2.fingerprint() == other.fingerprint(), "another history, another fingerprint");
  }
}
