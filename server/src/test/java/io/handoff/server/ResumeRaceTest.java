package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.DocumentSync;
import io.handoff.protocol.v1.Hello;
import io.handoff.protocol.v1.Position;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.redis.RedisEngine;
import io.handoff.server.sync.SyncResult;
import io.lettuce.core.KillArgs;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A resume that races the user's fan-out on a real Redis: the resume's read is made, and before the
 * node has its answer, the pub/sub connection loses a write of another node and is subscribed
 * again. The node's answer to that (re-read every document) must reach the resuming device too.
 */
class ResumeRaceTest {
  private final Nodes nodes = new Nodes();

  @AfterEach
  void tearDown() {
    nodes.close();
  }

  @Test
  void aWriteLostToAResubscriptionWhileTheResumeWasReadStillReachesTheDevice() throws Exception {
    String url = RedisProcess.sharedUrl();
    StoreLimits limits = StoreLimits.builder().build();
    GatedEngine gated = new GatedEngine(RedisEngine.connect(url, nodes.prefix, limits));
    HandoffServer a = nodes.start("a", gated, limits);
    HandoffServer b = nodes.redis(url, "b");

    TestDevice writer = nodes.add(TestDevice.connect(b.port(), TestServer.token("rue", "phone")));
    writer.hello();
    ServerFrame first = writer.answerTo(writer.write("cart", 1, "f", "one"));
    assertTrue(first.hasAck(), first.toString());

    // The reader holds v1 and resumes on node a; the resume's read runs, its answer waits.
    gated.holdSyncAnswers();
    TestDevice reader = nodes.add(TestDevice.connect(a.port(), TestServer.token("rue", "tv")));
    long hello =
        reader.send(
            ClientFrame.newBuilder()
                .setHello(
                    Hello.newBuilder()
                        .addPositions(
                            Position.newBuilder()
                                .setDocument("cart")
                                .setEpoch(first.getAck().getEpoch())
                                .setVersion(1)
                                .setFingerprint(first.getAck().getFingerprint()))));
    Conditions.await(
        "the resume read, its answer held",
        () -> gated.heldSyncAnswers() == 1,
        Duration.ofSeconds(10));

    // v2 is written after that read, and node a's subscription loses it, then comes back.
    gated.dropNextEvent();
    assertTrue(writer.answerTo(writer.write("cart", 2, "f", "two")).hasAck());
    Conditions.await("node a lost v2", gated::eventDropped, Duration.ofSeconds(10));
    RedisClient admin = RedisClient.create(url);
    nodes.add(admin::shutdown);
    try (StatefulRedisConnection<String, String> c = admin.connect()) {
      c.sync().clientKill(KillArgs.Builder.typePubsub());
    }
    Conditions.await(
        "node a subscribed again, told events may be lost",
        () -> gated.possibleLosses() > 0,
        Duration.ofSeconds(20));

    gated.releaseSyncAnswers();
    ServerFrame welcome = reader.next(f -> f.hasWelcome() && f.getRequestId() == hello);
    DocumentSync report = welcome.getWelcome().getSync().getDocuments(0);
    assertEquals(DocumentSync.Mode.UP_TO_DATE, report.getMode(), "the read predates v2");
    assertEquals(1, report.getToVersion());

    SyncResult store = gated.store().read("rue", "cart", 0, 0).join();
    assertEquals(2, store.toVersion(), "the store holds v2");
    ServerFrame caughtUp = reader.next(f -> f.hasDelta() || f.hasSnapshot());
    long version =
        caughtUp.hasDelta()
            ? caughtUp.getDelta().getVersion()
            : caughtUp.getSnapshot().getVersion();
    assertEquals(2, version, caughtUp.toString());
  }
}
