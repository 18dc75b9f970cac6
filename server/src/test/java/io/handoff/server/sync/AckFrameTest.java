package io.handoff.server.sync;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.handoff.protocol.v1.Ack;
import io.handoff.protocol.v1.ServerFrame;
import org.junit.jupiter.api.Test;

/** The hand-written ack encoding against protobuf's own, byte for byte. */
class AckFrameTest {
  private static final long[] NUMBERS = {0, 1, 127, 128, 300, Long.MAX_VALUE, -1, Long.MIN_VALUE};
  private static final String[] DOCUMENTS = {"", "player", "ü-ünïcode-☃", "x".repeat(300)};

  @Test
  void everyFieldAtEveryEdgeEncodesExactlyAsTheGeneratedCode() throws Exception {
    int cases = 0;
    for (long n : NUMBERS) {
      for (String doc : DOCUMENTS) {
        for (boolean duplicate : new boolean[] {false, true}) {
          // Each number in each field in turn, the others at a typical value.
          long[][] fields = {
            {n, 2, 3, 4, 5}, {1, n, 3, 4, 5}, {1, 2, n, 4, 5}, {1, 2, 3, n, 5}, {1, 2, 3, 4, n}
          };
          for (long[] f : fields) {
            byte[] expected =
                ServerFrame.newBuilder()
                    .setRequestId(f[0])
                    .setAck(
                        Ack.newBuilder()
                            .setDocument(doc)
                            .setClientSeq(f[1])
                            .setEpoch(f[2])
                            .setVersion(f[3])
                            .setFingerprint(f[4])
                            .setDuplicate(duplicate))
                    .build()
                    .toByteArray();
            byte[] actual = AckFrame.encode(f[0], doc, f[1], f[2], f[3], f[4], duplicate);
            assertArrayEquals(expected, actual, "ack " + java.util.Arrays.toString(f) + " " + doc);
            ServerFrame parsed = ServerFrame.parseFrom(actual);
            assertEquals(ServerFrame.BodyCase.ACK, parsed.getBodyCase());
            assertEquals(f[3], parsed.getAck().getVersion());
            cases++;
          }
        }
      }
    }
    assertEquals(NUMBERS.length * DOCUMENTS.length * 2 * 5, cases);
  }

  @Test
  void aNewFieldInAckMustBeWrittenByAckFrameToo() {
    // AckFrame writes these six Ack fields; a seventh would be silently left out of every ack.
    assertEquals(
        java.util.List.of("document", "client_seq", "epoch", "version", "duplicate", "fingerprint"),
        Ack.getDescriptor().getFields().stream()
            .map(com.google.protobuf.Descriptors.FieldDescriptor::getName)
            .toList());
  }

  @Test
  void anAckWithEveryFieldAtItsDefaultIsStillAnAck() throws Exception {
    byte[] actual = AckFrame.encode(0, "", 0, 0, 0, 0, false);
    assertArrayEquals(
        ServerFrame.newBuilder().setAck(Ack.getDefaultInstance()).build().toByteArray(), actual);
    assertEquals(ServerFrame.BodyCase.ACK, ServerFrame.parseFrom(actual).getBodyCase());
  }
}
