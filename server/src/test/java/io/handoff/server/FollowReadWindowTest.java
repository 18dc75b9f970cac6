package io.handoff.server;

import static io.handoff.server.TestServer.token;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.DocumentSync;
import io.handoff.protocol.v1.Follow;
import io.handoff.protocol.v1.FollowSpec;
import io.handoff.protocol.v1.Hello;
import io.handoff.protocol.v1.Ping;
import io.handoff.protocol.v1.Resync;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.protocol.v1.Snapshot;
import io.handoff.protocol.v1.SyncReport;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.redis.RedisEngine;
import io.handoff.server.sync.WriteOutcome;
import io.handoff.server.transport.TransportConfig;
import io.handoff.server.util.ReadWindow;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A device's Follow and Resync of a user's many documents send at most {@link ReadWindow#READS} of
 * their reads to Redis at once, the next as an earlier one is answered, and still report and send
 * every document. Real sockets, a Redis engine behind a {@link GatedEngine} that counts the store's
 * reads in flight and holds their answers: while the answers are held, the window's worth is all
 * that was sent. Without the window, a request sent all 100 reads at once, in one task of the
 * connection's loop, before any answer could come back.
 */
class FollowReadWindowTest extends OnGatedNode {
  private static final int DOCUMENTS = 100;

  private static String value(int d) {
    return "value of doc/" + d + " " + "x".repeat(d);
  }

  /** Starts the node (one event loop) on Redis and writes {@link #DOCUMENTS} documents of ivy. */
  private Map<String, WriteOutcome> startWithDocuments() throws Exception {
    StoreLimits limits = StoreLimits.builder().build();
    startNode(
        "follow-window",
        RedisEngine.connect(RedisProcess.sharedUrl(), nodes.prefix, limits),
        limits,
        // The rate out of the way: these tests are about the reads.
        b -> b.syncRate(1000, 1000).transport(TransportConfig.builder().eventLoops(1).build()));
    return Writes.documents(
        engine.store(), "ivy", "writer", DOCUMENTS, FollowReadWindowTest::value);
  }

  private static ClientFrame.Builder followEverything() {
    return ClientFrame.newBuilder()
        .setFollow(Follow.newBuilder().setSpec(FollowSpec.newBuilder().addPrefixes("")));
  }

  @Test
  void aFollowAndAResyncOfManyDocumentsReadThemAWindowAtATime() throws Exception {
    Map<String, WriteOutcome> written = startWithDocuments();
    TestDevice phone = nodes.add(TestDevice.connect(node.port(), token("ivy", "phone")));
    phone.hello(Hello.newBuilder().setFollow(FollowSpec.getDefaultInstance()).build());

    // Follow everything: the listing, then a snapshot read of each document.
    engine.resetPeakReadsInFlight();
    engine.holdReadAnswers(Integer.MAX_VALUE);
    long follow = phone.send(followEverything());
    engine.changed.await(
        "the Follow's first reads answered", () -> engine.heldReadAnswers() >= ReadWindow.READS);
    assertEquals(ReadWindow.READS, engine.peakReadsInFlight(), "the window's worth sent, no more");
    assertEquals(ReadWindow.READS, engine.heldReadAnswers());
    engine.releaseReadAnswers();
    SyncReport report = report(phone, follow);
    assertEquals(DOCUMENTS, report.getDocumentsCount());
    for (DocumentSync s : report.getDocumentsList()) {
      assertEquals(DocumentSync.Mode.SNAPSHOT, s.getMode(), s.toString());
      assertEquals(1, s.getToVersion(), s.toString());
    }
    Map<String, Snapshot> snapshots = new HashMap<>();
    for (int i = 0; i < DOCUMENTS; i++) {
      Snapshot s = phone.next(ServerFrame::hasSnapshot).getSnapshot();
      snapshots.put(s.getDocument(), s);
    }
    for (int d = 0; d < DOCUMENTS; d++) {
      Snapshot s = snapshots.get("doc/" + d);
      assertEquals(written.get("doc/" + d).epoch(), s.getEpoch(), "doc/" + d);
      assertEquals(1, s.getVersion());
      assertEquals(Map.of("f", ByteString.copyFromUtf8(value(d))), s.getFieldsMap());
    }
    assertTrue(engine.peakReadsInFlight() <= ReadWindow.READS, "" + engine.peakReadsInFlight());

    // Resync every document from the version the device now holds: all up to date.
    Resync.Builder resync = Resync.newBuilder();
    for (int d = 0; d < DOCUMENTS; d++) {
      resync.addPositions(Writes.position("doc/" + d, written.get("doc/" + d)));
    }
    engine.resetPeakReadsInFlight();
    engine.holdReadAnswers(Integer.MAX_VALUE);
    long id = phone.send(ClientFrame.newBuilder().setResync(resync));
    engine.changed.await(
        "the Resync's first reads answered", () -> engine.heldReadAnswers() >= ReadWindow.READS);
    assertEquals(ReadWindow.READS, engine.peakReadsInFlight(), "the window's worth sent, no more");
    engine.releaseReadAnswers();
    report = report(phone, id);
    assertEquals(DOCUMENTS, report.getDocumentsCount());
    for (DocumentSync s : report.getDocumentsList()) {
      assertEquals(DocumentSync.Mode.UP_TO_DATE, s.getMode(), s.toString());
    }
    assertTrue(engine.peakReadsInFlight() <= ReadWindow.READS, "" + engine.peakReadsInFlight());
    assertEquals(2 * DOCUMENTS, node.stats().syncDocumentReads.sum());
  }

  /**
   * A connection that closes while its Follow is read sends none of the reads still waiting for the
   * window: they end, unsent, with the ones under way.
   */
  @Test
  void aFollowWhoseConnectionClosesSendsNoMoreOfItsReads() throws Exception {
    startWithDocuments();
    TestDevice phone = nodes.add(TestDevice.connect(node.port(), token("ivy", "phone")));
    phone.hello(Hello.newBuilder().setFollow(FollowSpec.getDefaultInstance()).build());
    TestDevice other = nodes.add(TestDevice.connect(node.port(), token("jon", "phone")));
    other.hello();
    int before = engine.storeReads();
    engine.holdReadAnswers(Integer.MAX_VALUE);
    phone.send(followEverything());
    engine.changed.await(
        "the Follow's first reads answered", () -> engine.heldReadAnswers() >= ReadWindow.READS);
    assertEquals(before + 1 + ReadWindow.READS, engine.storeReads(), "the listing and a window");

    phone.close();
    Conditions.await(
        "the phone's connection closed",
        () -> node.stats().openConnections() == 1,
        Duration.ofSeconds(10));
    // The node's one loop has handled the close once it answers a frame read after it.
    long ping = other.send(ClientFrame.newBuilder().setPing(Ping.newBuilder().setNonce(1)));
    assertTrue(other.next(f -> f.getRequestId() == ping).hasPong());
    engine.releaseReadAnswers();
    assertEquals(
        before + 1 + ReadWindow.READS, engine.storeReads(), "no read sent after the close");
  }

  private static SyncReport report(TestDevice d, long id) {
    ServerFrame f = d.next(x -> x.hasSyncReport() || x.hasError());
    assertEquals(id, f.getRequestId(), f.toString());
    assertTrue(f.hasSyncReport(), f.toString());
    return f.getSyncReport();
  }
}
