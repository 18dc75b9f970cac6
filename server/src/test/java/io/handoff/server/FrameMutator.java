package io.handoff.server;

import com.google.protobuf.ByteString;
import io.handoff.protocol.v1.AcceptOffer;
import io.handoff.protocol.v1.Activity;
import io.handoff.protocol.v1.AnswerApproval;
import io.handoff.protocol.v1.CancelOffer;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.DeclineOffer;
import io.handoff.protocol.v1.FieldOp;
import io.handoff.protocol.v1.Follow;
import io.handoff.protocol.v1.FollowSpec;
import io.handoff.protocol.v1.Hello;
import io.handoff.protocol.v1.ListDevices;
import io.handoff.protocol.v1.OfferActivity;
import io.handoff.protocol.v1.Ping;
import io.handoff.protocol.v1.Position;
import io.handoff.protocol.v1.PublishActivity;
import io.handoff.protocol.v1.RefreshToken;
import io.handoff.protocol.v1.Resync;
import io.handoff.protocol.v1.RevokeDevice;
import io.handoff.protocol.v1.Unfollow;
import io.handoff.protocol.v1.VerifyUserCode;
import io.handoff.protocol.v1.Write;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/** Valid ClientFrames of every kind and the mutations fuzz tests derive from them. */
public final class FrameMutator {
  private FrameMutator() {}

  /** {@code frame}'s bytes, with a new client sequence number if it is a write. */
  public static byte[] fresh(ClientFrame frame, long[] seq) {
    if (!frame.hasWrite()) {
      return frame.toByteArray();
    }
    return frame.toBuilder()
        .setWrite(frame.getWrite().toBuilder().setClientSeq(++seq[0]))
        .build()
        .toByteArray();
  }

  /** Valid frames of every kind, which the mutations start from. */
  public static List<ClientFrame> seeds() {
    List<ClientFrame> frames = new ArrayList<>();
    frames.add(
        ClientFrame.newBuilder()
            .setRequestId(1)
            .setHello(
                Hello.newBuilder()
                    .setFollow(FollowSpec.newBuilder().addDocuments("player").addPrefixes("draft/"))
                    .addPositions(
                        Position.newBuilder().setDocument("player").setEpoch(7).setVersion(3))
                    .setClient("fuzz/1"))
            .build());
    for (int seq = 1; seq <= 3; seq++) {
      Write.Builder w =
          Write.newBuilder()
              .setDocument(seq == 3 ? "draft/" + seq : "player")
              .setClientSeq(seq)
              .addOps(
                  FieldOp.newBuilder()
                      .setField("position")
                      .setSet(ByteString.copyFromUtf8("value-" + seq)))
              .addOps(FieldOp.newBuilder().setField("old").setRemove(true));
      if (seq == 2) {
        w.setExpectedVersion(1);
      }
      frames.add(ClientFrame.newBuilder().setRequestId(10 + seq).setWrite(w).build());
    }
    frames.add(
        ClientFrame.newBuilder()
            .setRequestId(20)
            .setFollow(
                Follow.newBuilder()
                    .setSpec(FollowSpec.newBuilder().addDocuments("cart"))
                    .addPositions(Position.newBuilder().setDocument("cart").setVersion(1)))
            .build());
    frames.add(
        ClientFrame.newBuilder()
            .setRequestId(21)
            .setUnfollow(Unfollow.newBuilder().setSpec(FollowSpec.newBuilder().addPrefixes("d")))
            .build());
    frames.add(
        ClientFrame.newBuilder()
            .setRequestId(22)
            .setResync(
                Resync.newBuilder()
                    .addPositions(
                        Position.newBuilder().setDocument("player").setEpoch(1).setVersion(2)))
            .build());
    frames.add(
        ClientFrame.newBuilder().setRequestId(23).setPing(Ping.newBuilder().setNonce(9)).build());
    Activity activity =
        Activity.newBuilder()
            .setDocument("player")
            .setKind("video")
            .setTitle("Episode 3")
            .setPayload(ByteString.copyFromUtf8("t=3723"))
            .build();
    frames.add(
        ClientFrame.newBuilder()
            .setRequestId(24)
            .setPublishActivity(PublishActivity.newBuilder().setActivity(activity))
            .build());
    frames.add(
        ClientFrame.newBuilder()
            .setRequestId(25)
            .setOfferActivity(OfferActivity.newBuilder().setActivity(activity).setTtlMs(30_000))
            .build());
    frames.add(
        ClientFrame.newBuilder()
            .setRequestId(26)
            .setAcceptOffer(AcceptOffer.newBuilder().setOfferId("offer-1"))
            .build());
    frames.add(
        ClientFrame.newBuilder()
            .setRequestId(27)
            .setDeclineOffer(DeclineOffer.newBuilder().setOfferId("offer-1"))
            .build());
    frames.add(
        ClientFrame.newBuilder()
            .setRequestId(28)
            .setCancelOffer(CancelOffer.newBuilder().setOfferId("offer-1"))
            .build());
    frames.add(
        ClientFrame.newBuilder()
            .setRequestId(29)
            .setRefreshToken(RefreshToken.newBuilder().setAccessToken("not.a.token"))
            .build());
    frames.add(
        ClientFrame.newBuilder().setRequestId(30).setListDevices(ListDevices.newBuilder()).build());
    frames.add(
        ClientFrame.newBuilder()
            .setRequestId(31)
            .setRevokeDevice(RevokeDevice.newBuilder().setDeviceId("tv"))
            .build());
    frames.add(
        ClientFrame.newBuilder()
            .setRequestId(32)
            .setVerifyUserCode(VerifyUserCode.newBuilder().setUserCode("BCDF-GHJK"))
            .build());
    frames.add(
        ClientFrame.newBuilder()
            .setRequestId(33)
            .setAnswerApproval(
                AnswerApproval.newBuilder().setApprovalId("BCDFGHJK").setApprove(true))
            .build());
    return frames;
  }

  /** One of several mutations of {@code seed} (spliced with {@code other}, or random bytes). */
  public static byte[] mutate(byte[] seed, byte[] other, SplittableRandom r) {
    byte[] b = seed.clone();
    switch (r.nextInt(8)) {
      case 0 -> { // Flip a few bits.
        for (int i = 0, n = 1 + r.nextInt(4); i < n && b.length > 0; i++) {
          b[r.nextInt(b.length)] ^= (byte) (1 << r.nextInt(8));
        }
      }
      case 1 -> { // Overwrite a byte with an interesting value.
        byte[] interesting = {0, (byte) 0x7f, (byte) 0x80, (byte) 0xff, 0x0a, 0x12, 0x08};
        if (b.length > 0) {
          b[r.nextInt(b.length)] = interesting[r.nextInt(interesting.length)];
        }
      }
      case 2 -> b = Arrays.copyOf(b, r.nextInt(b.length + 1)); // Truncate.
      case 3 -> { // Append random bytes.
        byte[] tail = new byte[1 + r.nextInt(32)];
        r.nextBytes(tail);
        byte[] out = Arrays.copyOf(b, b.length + tail.length);
        System.arraycopy(tail, 0, out, b.length, tail.length);
        b = out;
      }
      case 4 -> { // Splice two seeds.
        int cut = r.nextInt(b.length + 1);
        int from = r.nextInt(other.length + 1);
        byte[] out = new byte[cut + other.length - from];
        System.arraycopy(b, 0, out, 0, cut);
        System.arraycopy(other, from, out, cut, other.length - from);
        b = out;
      }
      case 5 -> { // A huge varint (length or value) somewhere.
        int at = r.nextInt(b.length + 1);
        byte[] varint = {(byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, 0x0f};
        byte[] out = new byte[b.length + varint.length];
        System.arraycopy(b, 0, out, 0, at);
        System.arraycopy(varint, 0, out, at, varint.length);
        System.arraycopy(b, at, out, at + varint.length, b.length - at);
        b = out;
      }
      case 6 -> { // Pure noise.
        b = new byte[r.nextInt(64)];
        r.nextBytes(b);
      }
      default -> { // Duplicate the frame: repeated fields and oneof cases merge.
        byte[] out = Arrays.copyOf(b, b.length * 2);
        System.arraycopy(b, 0, out, b.length, b.length);
        b = out;
      }
    }
    return b;
  }
}
