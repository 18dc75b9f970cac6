package io.handoff.server.sync;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import io.handoff.protocol.v1.Delta;
import io.handoff.protocol.v1.FieldOp;
import io.handoff.protocol.v1.ServerFrame;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/**
 * A document event's push frame: encoded from the delta, or wrapped around the delta's bytes as a
 * broker received them (the Redis write script appends epoch, version and fingerprints to the
 * writer's encoding, out of field order), which a device must read as the same delta.
 */
class DocumentEventTest {
  private static final Delta WRITTEN =
      Delta.newBuilder()
          .setDocument("player")
          .setOriginDevice("phone")
          .setOriginSeq(9)
          .setTimestampMs(1_700_000_000_000L)
          .addOps(
              FieldOp.newBuilder()
                  .setField("position")
                  .setSet(ByteString.copyFrom(new byte[300]))) // a length of two varint bytes
          .build();
  private static final Delta APPENDED =
      Delta.newBuilder()
          .setEpoch(77)
          .setVersion(3)
          .setFingerprint(5)
          .setPreviousFingerprint(4)
          .build();

  @Test
  void aFrameWrappedAroundTheReceivedBytesReadsAsTheDeltaTheyEncode() throws Exception {
    byte[] bytes = received();
    Delta delta = Delta.parseFrom(bytes);

    DocumentEvent wrapped = DocumentEvent.ofDelta("user", bytes);
    DocumentEvent encoded = new DocumentEvent("user", delta);

    assertEquals(ServerFrame.parseFrom(encoded.frame()), ServerFrame.parseFrom(wrapped.frame()));
    assertEquals(delta, ServerFrame.parseFrom(wrapped.frame()).getDelta());
    assertEquals(bytes.length + 64, wrapped.sizeBytes());
    assertArrayEquals(wrapped.frame(), wrapped.frame(), "made once, the same every time");
  }

  @Test
  void anEventOfReceivedBytesHasTheFieldsTheParserWouldGiveWithoutParsingTheOps() throws Exception {
    ByteArrayOutputStream message = new ByteArrayOutputStream();
    WRITTEN.toBuilder().setEpoch(1).setVersion(2).build().writeTo(message);
    APPENDED.writeTo(message); // epoch and version twice: the last ones win, as when parsing
    Delta.newBuilder().setDocument("player2").setOriginDevice("tv").build().writeTo(message);
    byte[] bytes = message.toByteArray();
    Delta delta = Delta.parseFrom(bytes);

    DocumentEvent e = DocumentEvent.ofDelta("user", bytes);

    assertEquals("player2", e.document());
    assertEquals(77, e.epoch());
    assertEquals(3, e.version());
    assertEquals("tv", e.originDevice());
    assertSameFields(delta, e);
  }

  @Test
  void bytesThatAreNoDeltaAreRefusedWithTheReason() {
    byte[] cut = Arrays.copyOf(received(), 20); // ends inside the op
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> DocumentEvent.ofDelta("user", cut));
    assertTrue(e.getMessage().startsWith("a delta that does not parse"), e.getMessage());
    byte[] badName = {0x0a, 0x02, (byte) 0xc3, 0x28}; // document: invalid UTF-8
    assertThrows(IllegalArgumentException.class, () -> DocumentEvent.ofDelta("user", badName));
    byte[] badOp = {0x22, 0x01, 0x00}; // an op holding tag 0: the parser refuses it too
    assertThrows(InvalidProtocolBufferException.class, () -> Delta.parseFrom(badOp));
    assertThrows(IllegalArgumentException.class, () -> DocumentEvent.ofDelta("user", badOp));
    byte[] endGroup = {0x0c}; // an end-group tag (field 1) outside any group
    assertThrows(InvalidProtocolBufferException.class, () -> Delta.parseFrom(endGroup));
    assertThrows(IllegalArgumentException.class, () -> DocumentEvent.ofDelta("user", endGroup));
  }

  @Test
  void anEventReadBackFromItsFrameHasTheFieldsOfItsDeltaWhateverTheirOrder() throws Exception {
    byte[] bytes = received();
    Delta delta = Delta.parseFrom(bytes);
    byte[] frame = DocumentEvent.ofDelta("user", bytes).frame();

    DocumentEvent e = DocumentEvent.ofFrame("user", "player", frame);

    assertEquals(77, e.epoch());
    assertEquals("phone", e.originDevice());
    assertSameFields(delta, e);
    assertArrayEquals(frame, e.frame());
  }

  /** The event's fields are what protobuf's parser reads from the same bytes, and so its delta. */
  private static void assertSameFields(Delta parsed, DocumentEvent e) {
    assertEquals(parsed.getDocument(), e.document());
    assertEquals(parsed.getEpoch(), e.epoch());
    assertEquals(parsed.getVersion(), e.version());
    assertEquals(parsed.getOriginDevice(), e.originDevice());
    assertEquals(parsed.getOriginSeq(), e.originSeq());
    assertEquals(parsed.getTimestampMs(), e.timestampMs());
    assertEquals(parsed.getFingerprint(), e.fingerprint());
    assertEquals(parsed.getPreviousFingerprint(), e.previousFingerprint());
    assertEquals(parsed, e.delta(), "parsed from the frame when asked for");
  }

  /** A delta as the write script publishes it: the writer's encoding, then the fields it adds. */
  private static byte[] received() {
    ByteArrayOutputStream message = new ByteArrayOutputStream();
    try {
      WRITTEN.writeTo(message);
      APPENDED.writeTo(message); // out of field order: protobuf merges the two
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return message.toByteArray();
  }

  @Test
  void aFrameEncodedFromTheDeltaIsTheCanonicalEncoding() {
    DocumentEvent e = new DocumentEvent("user", WRITTEN.toBuilder().mergeFrom(APPENDED).build());
    assertArrayEquals(
        ServerFrame.newBuilder().setDelta(e.delta()).build().toByteArray(), e.frame());
  }

  @Test
  void anEventIsFromTheDeviceThatWroteItWhateverStringInstanceNamesIt() {
    DocumentEvent e = new DocumentEvent("user", WRITTEN.toBuilder().setOriginDevice("Aa").build());
    assertEquals(true, e.isFrom(new String("Aa"))); // equal, another instance
    assertEquals(true, e.isFrom(e.originDevice()));
    assertEquals(false, e.isFrom("BB"), "the same hash, other characters");
    assertEquals(false, e.isFrom("phone"));
  }
}
