package io.handoff.loadtest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnknownFieldSet;
import io.handoff.protocol.v1.Ack;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.Delta;
import io.handoff.protocol.v1.FieldOp;
import io.handoff.protocol.v1.Pong;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.protocol.v1.Write;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** The hand-written wire format of {@link LeanWire} against the generated protobuf classes. */
class LeanWireTest {

  @Test
  void anEncodedWriteIsOneMaskedFrameOfTheWriteTheGeneratedClassesWouldSend() throws Exception {
    for (int size : new int[] {12, 13, 127, 128, 256, 65_536}) {
      for (long seq : new long[] {1, 127, 128, 300, 1L << 40}) {
        long intended = 0x0102030405060708L * seq;
        byte[] filler = Payload.encode(0, 0, size);
        long[] hash = new long[1];
        int key = (int) (0x9e3779b9L * seq);
        ByteBuf b =
            LeanWire.encodeWrite(
                PooledByteBufAllocator.DEFAULT,
                "doc12".getBytes(StandardCharsets.US_ASCII),
                seq,
                intended,
                40_001,
                filler,
                key,
                hash);
        try {
          assertEquals(0x82, b.readUnsignedByte(), "FIN and binary");
          int len7 = b.readUnsignedByte();
          assertEquals(0x80, len7 & 0x80, "masked");
          long length =
              (len7 & 0x7f) == 126
                  ? b.readUnsignedShort()
                  : (len7 & 0x7f) == 127 ? b.readLong() : len7 & 0x7f;
          assertEquals(key, b.readInt());
          assertEquals(length, b.readableBytes());
          byte[] body = new byte[b.readableBytes()];
          b.readBytes(body);
          for (int i = 0; i < body.length; i++) {
            body[i] ^= (byte) (key >>> (24 - 8 * (i & 3)));
          }
          ClientFrame expected =
              ClientFrame.newBuilder()
                  .setWrite(
                      Write.newBuilder()
                          .setDocument("doc12")
                          .setClientSeq(seq)
                          .addOps(
                              FieldOp.newBuilder()
                                  .setField(Payload.FIELD)
                                  .setSet(
                                      ByteString.copyFrom(Payload.encode(intended, 40_001, size)))))
                  .build();
          assertEquals(expected, ClientFrame.parseFrom(body), "size " + size);
          assertEquals(expected.getSerializedSize(), body.length);
          assertEquals(LeanWire.contentHash(Payload.encode(intended, 40_001, size)), hash[0]);
        } finally {
          b.release();
        }
      }
    }
  }

  @Test
  void readsTheFieldsOfAnAckInPlace() {
    ServerFrame f =
        ServerFrame.newBuilder()
            .setRequestId(7)
            .setAck(
                Ack.newBuilder()
                    .setDocument("doc3")
                    .setClientSeq(300)
                    .setEpoch(-2)
                    .setVersion(1L << 33)
                    .setDuplicate(true)
                    .setFingerprint(0x8000_0000_0000_0001L))
            .build();
    ByteBuf b = Unpooled.wrappedBuffer(f.toByteArray());
    LeanWire.Frame frame = new LeanWire.Frame().read(b);
    assertEquals(LeanWire.ACK, frame.body);
    LeanWire.Ack a = new LeanWire.Ack().read(b, frame.start, frame.end);
    assertEquals(3, a.document);
    assertEquals(300, a.seq);
    assertEquals(-2, a.epoch);
    assertEquals(1L << 33, a.version);
    assertEquals(0x8000_0000_0000_0001L, a.fingerprint);
  }

  @Test
  void readsTheFieldsOfADeltaInPlaceAndHashesItsValue() {
    byte[] value = Payload.encode(123_456_789L, 5, 256);
    ServerFrame f =
        ServerFrame.newBuilder()
            .setDelta(
                Delta.newBuilder()
                    .setDocument("doc0")
                    .setEpoch(99)
                    .setVersion(42)
                    .addOps(
                        FieldOp.newBuilder()
                            .setField(Payload.FIELD)
                            .setSet(ByteString.copyFrom(value)))
                    .setOriginDevice("d2")
                    .setOriginSeq(17)
                    .setTimestampMs(1_700_000_000_000L)
                    .setFingerprint(11)
                    .setPreviousFingerprint(-12))
            .build();
    ByteBuf b = Unpooled.wrappedBuffer(f.toByteArray());
    LeanWire.Frame frame = new LeanWire.Frame().read(b);
    assertEquals(LeanWire.DELTA, frame.body);
    LeanWire.Delta d = new LeanWire.Delta().read(b, frame.start, frame.end);
    assertEquals(0, d.document);
    assertEquals(99, d.epoch);
    assertEquals(42, d.version);
    assertEquals(2, d.originSlot);
    assertEquals(17, d.originSeq);
    assertEquals(11, d.fingerprint);
    assertEquals(-12, d.previousFingerprint);
    assertEquals(1, d.ops);
    assertEquals(0, d.foreignOps);
    assertEquals(value.length, d.valueLength);
    assertEquals(123_456_789L, b.getLong(d.valueStart));
    assertEquals(LeanWire.contentHash(value), LeanWire.contentHash(b, d.valueStart, d.valueLength));
  }

  @Test
  void namesThatAreNotThisRunsDocumentsOrDevicesReadAsUnknown() {
    for (String[] names :
        new String[][] {{"doc01", "d01"}, {"doc", "d"}, {"docx", "dx"}, {"Doc1", "e1"}}) {
      ServerFrame f =
          ServerFrame.newBuilder()
              .setDelta(
                  Delta.newBuilder()
                      .setDocument(names[0])
                      .setVersion(1)
                      .setOriginDevice(names[1])
                      .addOps(FieldOp.newBuilder().setField("q").setRemove(true)))
              .build();
      ByteBuf b = Unpooled.wrappedBuffer(f.toByteArray());
      LeanWire.Frame frame = new LeanWire.Frame().read(b);
      LeanWire.Delta d = new LeanWire.Delta().read(b, frame.start, frame.end);
      assertEquals(-1, d.document, names[0]);
      assertEquals(-1, d.originSlot, names[1]);
      assertEquals(1, d.foreignOps, "a remove of another field is not the run's operation");
      assertEquals(-1, d.valueStart);
    }
  }

  @Test
  void fieldsItDoesNotKnowAreSkippedWhateverTheirWireType() {
    UnknownFieldSet unknown =
        UnknownFieldSet.newBuilder()
            .addField(
                90,
                UnknownFieldSet.Field.newBuilder()
                    .addVarint(-1L)
                    .addFixed32(7)
                    .addFixed64(-8L)
                    .addLengthDelimited(ByteString.copyFromUtf8("not a field op"))
                    .build())
            .build();
    ServerFrame f =
        ServerFrame.newBuilder()
            .setDelta(
                Delta.newBuilder()
                    .setUnknownFields(unknown)
                    .setDocument("doc3")
                    .setVersion(1L << 40)
                    .setFingerprint(-5)
                    .addOps(
                        FieldOp.newBuilder()
                            .setUnknownFields(unknown)
                            .setField(Payload.FIELD)
                            .setSet(ByteString.copyFromUtf8("v"))))
            .build();
    ByteBuf b = Unpooled.wrappedBuffer(f.toByteArray());
    LeanWire.Frame frame = new LeanWire.Frame().read(b);
    LeanWire.Delta d = new LeanWire.Delta().read(b, frame.start, frame.end);
    assertEquals(3, d.document);
    assertEquals(1L << 40, d.version);
    assertEquals(-5, d.fingerprint);
    assertEquals(1, d.ops);
    assertEquals(1, d.valueLength);
    assertEquals('v', b.getByte(d.valueStart));
  }

  @Test
  void lengthsAndVarintsThatRunPastTheirMessageAreRefused() {
    // A delta whose document name claims 100 bytes of a 3-byte body.
    byte[] longName = {0x0a, 0x64, 'd', 'o', 'c'};
    // An 11-byte varint (a version).
    byte[] longVarint = {0x18, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0x01};
    // A fixed64 with 4 of its 8 bytes.
    byte[] shortFixed = {0x41, 1, 2, 3, 4};
    for (byte[] body : new byte[][] {longName, longVarint, shortFixed}) {
      ByteBuf b = Unpooled.wrappedBuffer(body);
      assertThrows(LeanWire.Malformed.class, () -> new LeanWire.Delta().read(b, 0, body.length));
    }
  }

  @Test
  void otherFramesAreNamedByTheirBodyAndTruncatedOnesAreRefused() {
    ServerFrame pong = ServerFrame.newBuilder().setPong(Pong.newBuilder().setNonce(5)).build();
    assertEquals(15, new LeanWire.Frame().read(Unpooled.wrappedBuffer(pong.toByteArray())).body);
    byte[] ack =
        ServerFrame.newBuilder()
            .setAck(Ack.newBuilder().setDocument("doc0").setClientSeq(1).setVersion(2))
            .build()
            .toByteArray();
    ByteBuf truncated = Unpooled.wrappedBuffer(ack, 0, ack.length - 1);
    assertThrows(LeanWire.Malformed.class, () -> new LeanWire.Frame().read(truncated));
  }

  @Test
  void theContentHashTellsValuesApart() {
    byte[] a = Payload.encode(1, 1, 256);
    byte[] b = Payload.encode(2, 1, 256);
    assertNotEquals(LeanWire.contentHash(a), LeanWire.contentHash(b));
    assertEquals(LeanWire.contentHash(a), LeanWire.contentHash(a.clone()));
  }
}
