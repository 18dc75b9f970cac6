package io.handoff.server;

import static io.handoff.server.TestServer.token;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.Ack;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.Delta;
import io.handoff.protocol.v1.DocumentSync;
import io.handoff.protocol.v1.Error;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.FollowSpec;
import io.handoff.protocol.v1.Hello;
import io.handoff.protocol.v1.Ping;
import io.handoff.protocol.v1.Position;
import io.handoff.protocol.v1.Resync;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.protocol.v1.Snapshot;
import io.handoff.protocol.v1.Unfollow;
import io.handoff.protocol.v1.Welcome;
import io.handoff.protocol.v1.Write;
import io.handoff.server.engine.StoreLimits;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The protocol over real sockets, driven frame by frame by raw peers. */
class SessionProtocolTest {
  private TestServer server;

  @BeforeEach
  void start() throws Exception {
    server = TestServer.start(b -> b.storeLimits(StoreLimits.builder().historyLength(60).build()));
  }

  @AfterEach
  void stop() {
    server.close();
  }

  private TestDevice device(String user, String device) {
    TestDevice d = TestDevice.connect(server.port(), token(user, device));
    d.hello();
    return d;
  }

  /** Sends a ping and returns every frame before its pong: what the server had queued for us. */
  static List<ServerFrame> framesBeforePong(TestDevice d) {
    long id = d.send(ClientFrame.newBuilder().setPing(Ping.newBuilder().setNonce(7)));
    List<ServerFrame> seen = new java.util.ArrayList<>();
    while (true) {
      ServerFrame f = d.next();
      if (f.hasPong() && f.getRequestId() == id) {
        return seen;
      }
      seen.add(f);
    }
  }

  @Test
  void writeReachesTheUsersOtherDevicesOnceAndNotTheWriterNorAnotherUser() {
    try (TestDevice a = device("u1", "a");
        TestDevice b = device("u1", "b");
        TestDevice c = device("u1", "c");
        TestDevice x = device("u2", "x")) {
      a.send(Writes.frame("player", 1, "position", "42s"));
      Ack ack = a.next(ServerFrame::hasAck).getAck();
      assertEquals(1, ack.getVersion());
      assertEquals(1, ack.getClientSeq());
      assertFalse(ack.getDuplicate());
      for (TestDevice other : List.of(b, c)) {
        Delta d = other.next().getDelta();
        assertEquals("player", d.getDocument());
        assertEquals(1, d.getVersion());
        assertEquals(ack.getEpoch(), d.getEpoch());
        assertEquals("a", d.getOriginDevice());
        assertEquals("42s", d.getOps(0).getSet().toStringUtf8());
        assertTrue(framesBeforePong(other).isEmpty(), "exactly once");
      }
      assertTrue(framesBeforePong(a).isEmpty(), "the writer gets its ack, not the delta");
      assertTrue(framesBeforePong(x).isEmpty(), "another user sees nothing");
      x.send(Writes.frame("player", 1, "position", "1s"));
      assertEquals(1, x.next().getAck().getVersion(), "the other user's document is its own");
    }
  }

  @Test
  void aWriteReusingTheClientSeqOfAnAckedWriteOfAnotherDocumentIsRefusedNotAckedAsThatWrite() {
    try (TestDevice a = device("u1", "a");
        TestDevice b = device("u1", "b")) {
      Ack e = a.answerTo(a.write("e", 2, "k", "x")).getAck();
      assertEquals(1, e.getVersion());
      assertEquals("e", b.next().getDelta().getDocument());
      // A client bug: the number is the device's, not the document's.
      ServerFrame f = a.answerTo(a.write("f", 2, "k", "y"));
      assertTrue(f.hasError(), "f does not exist, so no ack may say it is at version 1: " + f);
      Error err = f.getError();
      assertEquals(ErrorCode.BAD_REQUEST, err.getCode(), f.toString());
      assertEquals("f", err.getDocument());
      assertEquals(2, err.getClientSeq());
      assertFalse(err.getRetryable());
      assertTrue(err.getMessage().contains("client_seq 2"), err.getMessage());
      assertTrue(err.getMessage().contains("another document"), err.getMessage());
      Ack again = a.answerTo(a.write("e", 2, "k", "x")).getAck();
      assertTrue(again.getDuplicate(), "the genuine re-send is answered as before");
      assertEquals(e.getEpoch(), again.getEpoch());
      assertEquals(1, again.getVersion());
      assertTrue(framesBeforePong(b).isEmpty(), "nothing was applied");
      ClientFrame.Builder create = Writes.frame("f", 3, "k", "y");
      create.getWriteBuilder().setExpectedVersion(0);
      Ack created = a.answerTo(a.send(create)).getAck();
      assertEquals(1, created.getVersion(), "f did not exist");
      assertFalse(created.getDuplicate());
    }
  }

  @Test
  void aDeviceThatUnfollowsEverythingLeavesTheOthersFollowingEverything() {
    try (TestDevice a = device("u1", "a");
        TestDevice b = device("u1", "b");
        TestDevice c = device("u1", "c")) {
      long id =
          b.send(
              ClientFrame.newBuilder()
                  .setUnfollow(
                      io.handoff.protocol.v1.Unfollow.newBuilder()
                          .setSpec(FollowSpec.newBuilder().addPrefixes(""))));
      assertTrue(b.next(f -> f.getRequestId() == id).hasSyncReport());
      a.send(Writes.frame("player", 1, "position", "42s"));
      assertEquals(1, a.next(ServerFrame::hasAck).getAck().getVersion());
      assertEquals("player", c.next().getDelta().getDocument());
      assertTrue(framesBeforePong(b).isEmpty(), "b follows nothing now");
    }
  }

  @Test
  void offlineDeviceResumesWithExactlyTheDeltasItMissed() {
    Welcome w;
    long epoch;
    try (TestDevice a = device("u1", "a")) {
      a.send(Writes.frame("cart", 1, "items", "0"));
      epoch = a.next().getAck().getEpoch();
      for (int i = 2; i <= 51; i++) {
        a.send(Writes.frame("cart", i, "items", Integer.toString(i)));
      }
      assertEquals(
          51, a.next(f -> f.hasAck() && f.getAck().getClientSeq() == 51).getAck().getVersion());
    }
    try (TestDevice b = TestDevice.connect(server.port(), token("u1", "b"))) {
      w =
          b.hello(
                  Hello.newBuilder()
                      .addPositions(
                          Position.newBuilder().setDocument("cart").setEpoch(epoch).setVersion(1))
                      .build())
              .getWelcome();
      assertEquals(1, w.getSync().getDocumentsCount());
      DocumentSync s = w.getSync().getDocuments(0);
      assertEquals(DocumentSync.Mode.DELTAS, s.getMode());
      assertEquals(1, s.getFromVersion());
      assertEquals(51, s.getToVersion());
      List<ServerFrame> frames = framesBeforePong(b);
      assertEquals(50, frames.size(), "exactly the 50 missed deltas");
      for (int i = 0; i < 50; i++) {
        assertEquals(i + 2, frames.get(i).getDelta().getVersion());
      }
    }
  }

  @Test
  void deviceBeyondHistoryGetsASnapshotAndTheWelcomeSaysSo() {
    long epoch;
    try (TestDevice a = device("u1", "a")) {
      a.send(Writes.frame("cart", 1, "items", "0"));
      epoch = a.next().getAck().getEpoch();
      for (int i = 2; i <= 100; i++) {
        a.send(Writes.frame("cart", i, "f" + (i % 5), Integer.toString(i)));
      }
      a.next(f -> f.hasAck() && f.getAck().getClientSeq() == 100);
    }
    try (TestDevice b = TestDevice.connect(server.port(), token("u1", "b"))) {
      Welcome w =
          b.hello(
                  Hello.newBuilder()
                      .addPositions(
                          Position.newBuilder().setDocument("cart").setEpoch(epoch).setVersion(1))
                      .build())
              .getWelcome();
      DocumentSync s = w.getSync().getDocuments(0);
      assertEquals(DocumentSync.Mode.SNAPSHOT, s.getMode(), "history holds only 60 deltas");
      assertEquals(100, s.getToVersion());
      List<ServerFrame> frames = framesBeforePong(b);
      assertEquals(1, frames.size());
      Snapshot snap = frames.get(0).getSnapshot();
      assertEquals(100, snap.getVersion());
      assertEquals(6, snap.getFieldsCount());
      assertEquals("100", snap.getFieldsOrThrow("f0").toStringUtf8());
      assertEquals("0", snap.getFieldsOrThrow("items").toStringUtf8());
    }
  }

  @Test
  void newDeviceGetsSnapshotsOfFollowedDocumentsOnly() {
    try (TestDevice a = device("u1", "a")) {
      a.send(Writes.frame("ui/layout", 1, "cols", "2"));
      a.send(Writes.frame("cart", 2, "items", "1"));
      a.next(f -> f.hasAck() && f.getAck().getClientSeq() == 2);
    }
    try (TestDevice b = TestDevice.connect(server.port(), token("u1", "b"))) {
      Welcome w =
          b.hello(Hello.newBuilder().setFollow(FollowSpec.newBuilder().addPrefixes("ui/")).build())
              .getWelcome();
      assertEquals(1, w.getSync().getDocumentsCount());
      assertEquals("ui/layout", w.getSync().getDocuments(0).getDocument());
      assertEquals(DocumentSync.Mode.SNAPSHOT, w.getSync().getDocuments(0).getMode());
      assertEquals("ui/layout", b.next().getSnapshot().getDocument());
    }
  }

  @Test
  void retriedWriteIsAppliedOnceAndAckedWithTheSameVersion() {
    long firstVersion;
    try (TestDevice a = device("u1", "a")) {
      a.send(Writes.frame("draft/42", 1, "text", "hello"));
      firstVersion = a.next().getAck().getVersion();
      a.abort();
    }
    try (TestDevice a = TestDevice.connect(server.port(), token("u1", "a"))) {
      Welcome w = a.hello().getWelcome();
      assertEquals(1, w.getLastClientSeq(), "the server tells the device what it applied");
      a.next(ServerFrame::hasSnapshot);
      a.send(Writes.frame("draft/42", 1, "text", "hello"));
      Ack again = a.next(ServerFrame::hasAck).getAck();
      assertTrue(again.getDuplicate());
      assertEquals(firstVersion, again.getVersion());
    }
    try (TestDevice b = device("u1", "b")) {
      assertEquals(1, b.next().getSnapshot().getVersion(), "applied once");
    }
  }

  @Test
  void writeRetriedBeforeItsAckWasReadIsStillAppliedOnce() {
    try (TestDevice a = device("u1", "a")) {
      a.send(Writes.frame("draft/1", 1, "text", "x"));
      a.abort();
    }
    try (TestDevice a = TestDevice.connect(server.port(), token("u1", "a"))) {
      a.hello();
      a.send(Writes.frame("draft/1", 1, "text", "x"));
      assertEquals(1, a.next(ServerFrame::hasAck).getAck().getVersion());
      a.send(Writes.frame("draft/1", 2, "text", "y"));
      assertEquals(2, a.next(ServerFrame::hasAck).getAck().getVersion());
    }
  }

  @Test
  void staleExpectedVersionIsRefusedWithConflictAndChangesNothing() {
    try (TestDevice a = device("u1", "a")) {
      a.send(Writes.frame("form", 1, "name", "Ada"));
      a.send(Writes.frame("form", 2, "name", "Ada L."));
      a.next(f -> f.hasAck() && f.getAck().getVersion() == 2);
      ClientFrame.Builder stale = Writes.frame("form", 3, "name", "Grace");
      stale.getWriteBuilder().setExpectedVersion(1);
      a.send(stale);
      ServerFrame f = a.next();
      assertEquals(ErrorCode.CONFLICT, f.getError().getCode());
      assertEquals(2, f.getError().getCurrentVersion());
      assertEquals(3, f.getError().getClientSeq());
      assertTrue(
          f.getError().getMessage().contains("expected version 1"), f.getError().getMessage());
      ClientFrame.Builder fresh = Writes.frame("form", 4, "name", "Grace");
      fresh.getWriteBuilder().setExpectedVersion(2);
      a.send(fresh);
      assertEquals(3, a.next().getAck().getVersion());
    }
    try (TestDevice b = device("u1", "b")) {
      Snapshot s = b.next().getSnapshot();
      assertEquals(3, s.getVersion());
      assertEquals("Grace", s.getFieldsOrThrow("name").toStringUtf8());
    }
  }

  @Test
  void framesBeforeHelloAndSecondHelloGetUnexpectedFrame() {
    try (TestDevice a = TestDevice.connect(server.port(), token("u1", "a"))) {
      a.send(Writes.frame("x", 1, "f", "v"));
      assertEquals(ErrorCode.UNEXPECTED_FRAME, a.next().getError().getCode());
      a.hello();
      a.send(ClientFrame.newBuilder().setHello(Hello.getDefaultInstance()));
      assertEquals(ErrorCode.UNEXPECTED_FRAME, a.next().getError().getCode());
    }
  }

  @Test
  void invalidWritesGetTypedErrorsAndTheConnectionStays() {
    try (TestDevice a = device("u1", "a")) {
      a.send(Writes.frame("", 1, "f", "v"));
      assertEquals(ErrorCode.BAD_REQUEST, a.next().getError().getCode());
      a.send(Writes.frame("doc", 2, "f", "x".repeat(StoreLimits.DEFAULT_MAX_VALUE_BYTES + 1)));
      ServerFrame big = a.next();
      assertEquals(ErrorCode.LIMIT_EXCEEDED, big.getError().getCode());
      assertTrue(big.getError().getMessage().contains("limit"), big.getError().getMessage());
      a.send(
          ClientFrame.newBuilder().setWrite(Write.newBuilder().setDocument("d").setClientSeq(3)));
      assertEquals(ErrorCode.BAD_REQUEST, a.next().getError().getCode());
      a.send(ClientFrame.newBuilder());
      assertEquals(ErrorCode.BAD_REQUEST, a.next().getError().getCode());
      a.send(Writes.frame("doc", 4, "f", "ok"));
      assertEquals(1, a.next().getAck().getVersion());
    }
  }

  @Test
  void sequenceNumbersAbove2To53AreBadRequestsNamingTheLimit() {
    try (TestDevice a = device("u7", "a")) {
      a.send(Writes.frame("doc", 1L << 53, "f", "v"));
      Error over = a.next().getError();
      assertEquals(ErrorCode.BAD_REQUEST, over.getCode());
      assertTrue(over.getMessage().contains("9007199254740992"), over.getMessage());
      assertTrue(over.getMessage().contains("2^53-1"), over.getMessage());
      a.send(Writes.frame("doc", -1L, "f", "v")); // 2^64 - 1 on the wire
      Error top = a.next().getError();
      assertEquals(ErrorCode.BAD_REQUEST, top.getCode());
      assertTrue(top.getMessage().contains("18446744073709551615"), top.getMessage());
      a.send(Writes.frame("doc", (1L << 53) - 1, "f", "ok"));
      assertEquals(1, a.next().getAck().getVersion());
      for (long expected : new long[] {1L << 53, Long.MIN_VALUE, -1L}) {
        ClientFrame.Builder w = Writes.frame("doc", 1, "f", "no");
        w.getWriteBuilder().setExpectedVersion(expected);
        a.send(w);
        Error far = a.next().getError();
        assertEquals(ErrorCode.BAD_REQUEST, far.getCode(), far.toString());
        assertTrue(far.getMessage().contains(Long.toUnsignedString(expected)), far.getMessage());
      }
    }
  }

  @Test
  void aResyncNamingABadDocumentIsABadRequestAndOneFromBeyond2To63IsDiverged() {
    try (TestDevice a = device("u8", "a")) {
      a.send(Writes.frame("doc", 1, "f", "v"));
      Ack ack = a.next().getAck();
      for (String bad : new String[] {"", "a\u0001b", "n".repeat(300)}) {
        long id =
            a.send(
                ClientFrame.newBuilder()
                    .setResync(
                        Resync.newBuilder()
                            .addPositions(Position.newBuilder().setDocument(bad).setVersion(1))));
        ServerFrame refused = a.next(f -> f.getRequestId() == id);
        assertEquals(ErrorCode.BAD_REQUEST, refused.getError().getCode(), refused.toString());
      }
      long id =
          a.send(
              ClientFrame.newBuilder()
                  .setResync(
                      Resync.newBuilder()
                          .addPositions(
                              Position.newBuilder()
                                  .setDocument("doc")
                                  .setEpoch(ack.getEpoch())
                                  .setVersion(Long.MIN_VALUE)))); // 2^63 on the wire
      DocumentSync sync = a.next(f -> f.getRequestId() == id).getSyncReport().getDocuments(0);
      assertEquals(DocumentSync.Mode.SNAPSHOT, sync.getMode());
      assertEquals(DocumentSync.Reason.DIVERGED, sync.getReason());
    }
  }

  @Test
  void followPrefixesOutsideTheNameRuleAreBadRequestsInHelloAndFollow() {
    String longest = "p".repeat(StoreLimits.DEFAULT_MAX_NAME_BYTES);
    try (TestDevice a = TestDevice.connect(server.port(), token("u1", "a"))) {
      for (String bad : new String[] {"ui/\u0000", "tab\t", "del\u007f", longest + "p"}) {
        long id =
            a.send(
                ClientFrame.newBuilder()
                    .setHello(
                        Hello.newBuilder()
                            .setFollow(
                                FollowSpec.newBuilder().addPrefixes("ok/").addPrefixes(bad))));
        ServerFrame refused = a.next(f -> f.getRequestId() == id);
        assertEquals(ErrorCode.BAD_REQUEST, refused.getError().getCode(), refused.toString());
        assertTrue(
            refused.getError().getMessage().startsWith("follow prefix"),
            refused.getError().getMessage());
      }
      // Empty (everything), a partial name and one of exactly the name's length are prefixes.
      a.hello(
          Hello.newBuilder()
              .setFollow(
                  FollowSpec.newBuilder().addPrefixes("").addPrefixes("pl").addPrefixes(longest))
              .build());

      long id =
          a.send(
              ClientFrame.newBuilder()
                  .setFollow(
                      io.handoff.protocol.v1.Follow.newBuilder()
                          .setSpec(FollowSpec.newBuilder().addPrefixes("ui/\n"))));
      ServerFrame refused = a.next(f -> f.getRequestId() == id);
      assertEquals(ErrorCode.BAD_REQUEST, refused.getError().getCode(), refused.toString());
      assertTrue(
          refused.getError().getMessage().contains("control characters"),
          refused.getError().getMessage());
      long ok =
          a.send(
              ClientFrame.newBuilder()
                  .setFollow(
                      io.handoff.protocol.v1.Follow.newBuilder()
                          .setSpec(FollowSpec.newBuilder().addPrefixes("ui/"))));
      assertTrue(a.next(f -> f.getRequestId() == ok).hasSyncReport(), "the connection stays");
    }
  }

  @Test
  void unfollowPrefixesAndNamesOutsideTheNameRuleAreBadRequestsAndChangeNothing() {
    String longest = "p".repeat(StoreLimits.DEFAULT_MAX_NAME_BYTES);
    try (TestDevice a = TestDevice.connect(server.port(), token("u1", "a"));
        TestDevice b = TestDevice.connect(server.port(), token("u1", "b"))) {
      a.hello(
          Hello.newBuilder()
              .setFollow(FollowSpec.newBuilder().addPrefixes("ui/").addPrefixes(longest))
              .build());
      b.hello();
      for (FollowSpec bad :
          new FollowSpec[] {
            FollowSpec.newBuilder().addPrefixes("ui/").addPrefixes("ui/\u0000").build(),
            FollowSpec.newBuilder().addPrefixes("tab\t").build(),
            FollowSpec.newBuilder().addPrefixes("del\u007f").build(),
            FollowSpec.newBuilder().addPrefixes(longest + "p").build(),
            FollowSpec.newBuilder().addDocuments("").build(),
          }) {
        long id = a.send(ClientFrame.newBuilder().setUnfollow(Unfollow.newBuilder().setSpec(bad)));
        ServerFrame refused = a.next(f -> f.getRequestId() == id);
        assertEquals(ErrorCode.BAD_REQUEST, refused.getError().getCode(), refused.toString());
        assertFalse(refused.getError().getRetryable());
        String message = refused.getError().getMessage();
        assertTrue(
            message.startsWith("follow prefix") || message.startsWith("document name"), message);
      }
      // The refused Unfollow with "ui/" in it removed nothing: ui/ is still followed.
      b.send(Writes.frame("ui/layout", 1, "cols", "3"));
      assertEquals("ui/layout", a.next(ServerFrame::hasDelta).getDelta().getDocument());

      // Empty, a partial name and one of exactly the name's length are prefixes to unfollow.
      long ok =
          a.send(
              ClientFrame.newBuilder()
                  .setUnfollow(
                      Unfollow.newBuilder()
                          .setSpec(
                              FollowSpec.newBuilder()
                                  .addPrefixes("")
                                  .addPrefixes("ui/")
                                  .addPrefixes(longest))));
      assertTrue(a.next(f -> f.getRequestId() == ok).hasSyncReport(), "the connection stays");
    }
  }

  @Test
  void malformedTextAndOversizedFramesCloseOnlyTheirConnection() throws Exception {
    try (TestDevice a = device("u1", "a");
        TestDevice b = device("u1", "b")) {
      try (TestDevice garbage = device("u1", "g")) {
        garbage.sendRaw(new byte[] {(byte) 0xff, (byte) 0xff, (byte) 0xff, 0x01, 0x02});
        assertEquals(CloseCode.PROTOCOL_ERROR.code(), garbage.awaitClose());
      }
      try (TestDevice text = device("u1", "t")) {
        text.sendText("{\"hello\":{}}");
        assertEquals(CloseCode.PROTOCOL_ERROR.code(), text.awaitClose());
      }
      try (RawSocket huge = RawSocket.connect(server.port(), token("u1", "h"), 0)) {
        huge.sendFrameHeader(ServerConfig.DEFAULT_MAX_FRAME_BYTES + 1);
        assertEquals(CloseCode.FRAME_TOO_LARGE.code(), huge.readUntilClose());
      }
      a.send(Writes.frame("doc", 1, "f", "still here"));
      assertEquals(1, a.next().getAck().getVersion());
      assertEquals("still here", b.next().getDelta().getOps(0).getSet().toStringUtf8());
    }
    assertEquals(3, server.server.stats().protocolErrorCloses.sum());
  }

  @Test
  void afterTheUpgradePingsAreAnsweredAndACloseFromTheDeviceIsEchoed() throws Exception {
    try (TestServer server = TestServer.start();
        TestDevice d = TestDevice.connect(server.port(), TestServer.token("cf", "phone"))) {
      d.hello();
      byte[] data = {1, 2, 3};
      org.junit.jupiter.api.Assertions.assertArrayEquals(
          data, d.ping(data).get(10, java.util.concurrent.TimeUnit.SECONDS));
      d.sendClose(1000, "bye");
      assertEquals(1000, d.awaitClose());
    }
  }
}
