package io.handoff.server;

import static io.handoff.server.SlowRedis.PAUSE_MS;
import static io.handoff.server.SlowRedis.next;
import static io.handoff.server.SlowRedis.nextDelta;
import static io.handoff.server.SlowRedis.stillOpen;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.Ack;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.Delta;
import io.handoff.protocol.v1.DocumentSync;
import io.handoff.protocol.v1.Follow;
import io.handoff.protocol.v1.FollowSpec;
import io.handoff.protocol.v1.Hello;
import io.handoff.protocol.v1.Position;
import io.handoff.protocol.v1.Resync;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.protocol.v1.SyncReport;
import io.handoff.protocol.v1.Unfollow;
import io.lettuce.core.api.sync.RedisCommands;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * A device's own Follow or Resync whose read of a document Redis leaves unanswered past the 2 s
 * command timeout is read again, as a catch-up read is ({@link CatchUpReadRetryTest}), before the
 * device is closed UNAVAILABLE: a Resync, which a client sends to recover from a gap, no longer
 * disconnects its device when Redis is slow for a moment. Redis is held by {@code CLIENT PAUSE}
 * (every command, for {@link SlowRedis#PAUSE_MS}) from just before the request is sent, so its read
 * is sent into the pause, times out once, and is answered within the second attempt's timeout. The
 * request gets one answer, its SyncReport, then the frames it announces, then the stream.
 */
class SyncReadRetryTest {
  private static final String DOC = "notes";

  private final Nodes nodes = new Nodes();
  private final RedisProcess redis = nodes.add(RedisProcess.start());

  @AfterEach
  void tearDown() {
    nodes.close();
  }

  @Test
  void aResyncWhoseReadTimesOutOnceIsReadAgainAndAnswered() throws Exception {
    HandoffServer node = nodes.redis(redis.url(), "n1");
    TestDevice tablet = nodes.add(TestDevice.connect(node.port(), TestServer.token("u", "tablet")));
    TestDevice phone = nodes.add(TestDevice.connect(node.port(), TestServer.token("u", "phone")));
    assertTrue(tablet.hello().hasWelcome());
    assertTrue(phone.hello().hasWelcome());
    Ack one = tablet.answerTo(tablet.write(DOC, 1, "f", "one")).getAck();
    assertTrue(tablet.answerTo(tablet.write(DOC, 2, "f", "two")).hasAck());
    assertEquals(1, nextDelta(phone).getVersion());
    assertEquals(2, nextDelta(phone).getVersion());

    // The phone asks again from version 1, as a client that lost version 2 would.
    pause();
    long resync =
        phone.send(ClientFrame.newBuilder().setResync(Resync.newBuilder().addPositions(at(one))));

    SyncReport report = answer(phone, resync);
    assertEquals(1, report.getDocumentsCount(), report.toString());
    assertEquals(DocumentSync.Mode.DELTAS, report.getDocuments(0).getMode(), report.toString());
    assertEquals(2, nextDelta(phone).getVersion());
    assertTrue(
        node.stats().syncReadsRetried.sum() >= 1,
        "no Resync read timed out: Redis held nothing past the timeout");
    // Then the stream, and no second answer to the Resync.
    assertTrue(tablet.answerTo(tablet.write(DOC, 3, "f", "three")).hasAck());
    Delta v3 = next(phone, f -> f.hasDelta() || f.getRequestId() == resync, "Delta").getDelta();
    assertEquals(3, v3.getVersion(), v3.toString());
    stillOpen(phone, "phone");
  }

  @Test
  @Tag("fault") // 4 s more of the same pause, for a Follow: in the faults profile.
  void aFollowWithAPositionWhoseReadTimesOutOnceIsReadAgainAndAnswered() throws Exception {
    HandoffServer node = nodes.redis(redis.url(), "n1");
    TestDevice tablet = nodes.add(TestDevice.connect(node.port(), TestServer.token("u", "tablet")));
    TestDevice phone = nodes.add(TestDevice.connect(node.port(), TestServer.token("u", "phone")));
    assertTrue(tablet.hello().hasWelcome());
    Hello other =
        Hello.newBuilder().setFollow(FollowSpec.newBuilder().addDocuments("other")).build();
    assertTrue(phone.hello(other).hasWelcome());
    Ack one = tablet.answerTo(tablet.write(DOC, 1, "f", "one")).getAck();
    assertTrue(tablet.answerTo(tablet.write(DOC, 2, "f", "two")).hasAck());

    pause();
    long follow =
        phone.send(
            ClientFrame.newBuilder()
                .setFollow(
                    Follow.newBuilder()
                        .setSpec(FollowSpec.newBuilder().addDocuments(DOC))
                        .addPositions(at(one))));

    SyncReport report = answer(phone, follow);
    assertEquals(1, report.getDocumentsCount(), report.toString());
    assertEquals(DocumentSync.Mode.DELTAS, report.getDocuments(0).getMode(), report.toString());
    assertEquals(2, nextDelta(phone).getVersion());
    assertTrue(node.stats().syncReadsRetried.sum() >= 1, "no Follow read timed out");
    assertTrue(tablet.answerTo(tablet.write(DOC, 3, "f", "three")).hasAck());
    assertEquals(3, nextDelta(phone).getVersion());
    stillOpen(phone, "phone");
  }

  @Test
  @Tag("fault")
  void aResyncOfADocumentUnfollowedWhileItsReadTimedOutIsAnsweredEmptyAndTheDeviceStays()
      throws Exception {
    HandoffServer node = nodes.redis(redis.url(), "n1");
    TestDevice tablet = nodes.add(TestDevice.connect(node.port(), TestServer.token("u", "tablet")));
    TestDevice phone = nodes.add(TestDevice.connect(node.port(), TestServer.token("u", "phone")));
    assertTrue(tablet.hello().hasWelcome());
    // Followed by name, for the Unfollow to remove (one of everything would leave it followed).
    Hello notes = Hello.newBuilder().setFollow(FollowSpec.newBuilder().addDocuments(DOC)).build();
    assertTrue(phone.hello(notes).hasWelcome());
    Ack one = tablet.answerTo(tablet.write(DOC, 1, "f", "one")).getAck();
    assertEquals(1, nextDelta(phone).getVersion());

    pause();
    long resync =
        phone.send(ClientFrame.newBuilder().setResync(Resync.newBuilder().addPositions(at(one))));
    long unfollow =
        phone.send(
            ClientFrame.newBuilder()
                .setUnfollow(
                    Unfollow.newBuilder().setSpec(FollowSpec.newBuilder().addDocuments(DOC))));
    assertEquals(0, answer(phone, unfollow).getDocumentsCount()); // At once: no store read.

    // The read that timed out is not sent again for a document no longer followed, and the
    // Resync is answered as one whose document was unfollowed while it waited: with no entry.
    SyncReport report = answer(phone, resync);
    assertEquals(0, report.getDocumentsCount(), report.toString());
    assertTrue(node.stats().syncReadsRetried.sum() >= 1, "no Resync read timed out");
    stillOpen(phone, "phone");
  }

  @Test
  @Tag("fault")
  void aResyncWhoseReadTimesOutAtEveryAttemptClosesTheDeviceUnavailable() throws Exception {
    HandoffServer node = nodes.redis(redis.url(), "n1");
    TestDevice tablet = nodes.add(TestDevice.connect(node.port(), TestServer.token("u", "tablet")));
    TestDevice phone = nodes.add(TestDevice.connect(node.port(), TestServer.token("u", "phone")));
    assertTrue(tablet.hello().hasWelcome());
    assertTrue(phone.hello().hasWelcome());
    Ack one = tablet.answerTo(tablet.write(DOC, 1, "f", "one")).getAck();
    assertEquals(1, nextDelta(phone).getVersion());

    // Held by the pause, then hung (SIGSTOP) well before it ends: every attempt times out.
    String pid = RedisSignals.pid(redis.url()); // Asked before the pause, which would hold it.
    pause();
    phone.send(ClientFrame.newBuilder().setResync(Resync.newBuilder().addPositions(at(one))));
    nodes.pause(pid);
    assertEquals(CloseCode.UNAVAILABLE.code(), phone.awaitClose());
    nodes.resume(pid);
    assertEquals(3 - 1, node.stats().syncReadsRetried.sum());
  }

  /** Redis holds every command for {@link SlowRedis#PAUSE_MS} from now. */
  private void pause() {
    RedisCommands<byte[], byte[]> control = SlowRedis.control(nodes, redis);
    control.clientPause(PAUSE_MS);
  }

  /** The position the Ack of a device's write leaves its document at. */
  private static Position at(Ack ack) {
    return Position.newBuilder()
        .setDocument(DOC)
        .setEpoch(ack.getEpoch())
        .setVersion(ack.getVersion())
        .setFingerprint(ack.getFingerprint())
        .build();
  }

  /** The SyncReport answering request {@code id}; fails at once on an Error or a close. */
  private static SyncReport answer(TestDevice d, long id) {
    ServerFrame f = next(d, x -> x.getRequestId() == id, "SyncReport");
    assertTrue(f.hasSyncReport(), f::toString);
    return f.getSyncReport();
  }
}
