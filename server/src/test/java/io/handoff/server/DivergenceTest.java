package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.handoff.protocol.v1.Ack;
import io.handoff.protocol.v1.Delta;
import io.handoff.protocol.v1.DocumentSync;
import io.handoff.protocol.v1.FieldOp;
import io.handoff.protocol.v1.Hello;
import io.handoff.protocol.v1.Position;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.protocol.v1.Snapshot;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.sync.SyncResult;
import java.util.HashMap;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * No silent divergence: a store that loses the tail of a document's history and gives the lost
 * version numbers to other writes (a failover before replication, a restored backup) under the same
 * epoch. Every device that held the lost versions, live or resuming, ends with exactly the store's
 * document, is told why (a SNAPSHOT with reason DIVERGED), and the node counts it. Written once,
 * run on each engine with that engine's way of losing history.
 */
public abstract class DivergenceTest {
  protected final String user = "user-" + UUID.randomUUID();
  protected HandoffServer node;

  /** Starts the node under test. */
  protected HandoffServer startNode() throws Exception {
    return startNode(StoreLimits.builder().build());
  }

  /** Starts the node under test, its engine with {@code limits}. */
  protected abstract HandoffServer startNode(StoreLimits limits) throws Exception;

  /** Copies what the store holds of {@link #user}. */
  protected abstract Object backup() throws Exception;

  /** Puts {@link #backup} back, as a failover to a lagging replica or a restore would. */
  protected abstract void restore(Object backup) throws Exception;

  @AfterEach
  void stopNode() {
    if (node != null) {
      node.close();
    }
  }

  @Test
  void devicesHoldingLostVersionsEndWithTheStoresDocument() throws Exception {
    node = startNode();
    TestDevice writer = connect("writer");
    TestDevice live = connect("live");
    TestDevice resuming = connect("resuming");
    Copy liveCopy = new Copy();
    Copy resumingCopy = new Copy();
    for (int i = 1; i <= 3; i++) {
      write(writer, i, "a", "kept-" + i);
    }
    liveCopy.readUntil(live, 3);
    resumingCopy.readUntil(resuming, 3);
    Object backup = backup();
    write(writer, 4, "b", "lost-4");
    write(writer, 5, "b", "lost-5");
    liveCopy.readUntil(live, 5);
    resumingCopy.readUntil(resuming, 5);
    resuming.close();
    writer.close();

    restore(backup);
    TestDevice other = connect("other");
    for (int i = 1; i <= 3; i++) {
      write(other, i, "c", "after-" + i);
    }

    SyncResult store = node.engine().store().read(user, "cart", 0, 0).get(10, TimeUnit.SECONDS);
    assertEquals(6, store.toVersion());
    // The live device held v5; the store's v5 is another write: a snapshot, said why.
    Snapshot liveSnapshot = liveCopy.readUntil(live, 6);
    assertEquals(DocumentSync.Reason.DIVERGED, liveSnapshot.getReason());
    assertEquals(store.fields(), liveCopy.fields);
    assertEquals(store.fingerprint(), liveCopy.fingerprint);

    TestDevice back = TestDevice.connect(node.port(), TestServer.token(user, "resuming"));
    ServerFrame welcome =
        back.hello(Hello.newBuilder().addPositions(resumingCopy.position()).build());
    DocumentSync report = welcome.getWelcome().getSync().getDocuments(0);
    assertEquals(DocumentSync.Mode.SNAPSHOT, report.getMode());
    assertEquals(DocumentSync.Reason.DIVERGED, report.getReason());
    resumingCopy.readUntil(back, 6);
    assertEquals(store.fields(), resumingCopy.fields);
    assertEquals(store.fingerprint(), resumingCopy.fingerprint);

    assertEquals(2, node.stats().divergenceResyncs.sum());
    assertTrue(
        node.metrics()
            .scrape()
            .contains("handoff_divergence_resyncs_total{node=\"test\",reason=\"diverged\"} 2.0"),
        node.metrics().scrape());
    live.close();
    back.close();
    other.close();
  }

  /**
   * A device whose version was lost, resuming from behind the history window: the history held no
   * longer reaches back to its version, so no engine can compare its fingerprint with anything.
   * Both engines answer alike, a snapshot of the store's document saying HISTORY_TRIMMED, and the
   * device ends with exactly the store's document; the divergence metric does not count it (see
   * docs/redis.md, "What each setup keeps").
   */
  @Test
  void aLostVersionBehindTheHistoryWindowIsResyncedAsTrimmedOnEveryEngine() throws Exception {
    node = startNode(StoreLimits.builder().historyLength(2).build());
    TestDevice writer = connect("writer");
    TestDevice resuming = connect("resuming");
    Copy resumingCopy = new Copy();
    for (int i = 1; i <= 3; i++) {
      write(writer, i, "a", "kept-" + i);
    }
    resumingCopy.readUntil(resuming, 3);
    Object backup = backup();
    write(writer, 4, "b", "lost-4");
    write(writer, 5, "b", "lost-5");
    resumingCopy.readUntil(resuming, 5);
    resuming.close();
    writer.close();

    restore(backup);
    TestDevice other = connect("other");
    for (int i = 1; i <= 6; i++) {
      write(other, i, "c", "after-" + i);
    }
    // The store is at v9 and holds v8 and v9; the device holds the lost v5.
    TestDevice back = TestDevice.connect(node.port(), TestServer.token(user, "resuming"));
    ServerFrame welcome =
        back.hello(Hello.newBuilder().addPositions(resumingCopy.position()).build());
    DocumentSync report = welcome.getWelcome().getSync().getDocuments(0);
    assertEquals(DocumentSync.Mode.SNAPSHOT, report.getMode());
    assertEquals(DocumentSync.Reason.HISTORY_TRIMMED, report.getReason());
    resumingCopy.readUntil(back, 9);
    SyncResult store = node.engine().store().read(user, "cart", 0, 0).get(10, TimeUnit.SECONDS);
    assertEquals(store.fields(), resumingCopy.fields);
    assertEquals(store.fingerprint(), resumingCopy.fingerprint);
    assertEquals(0, node.stats().divergenceResyncs.sum());
    back.close();
    other.close();
  }

  @Test
  void positionsWithoutFingerprintsResumeAsBefore() throws Exception {
    node = startNode();
    TestDevice writer = connect("writer");
    ServerFrame first = write(writer, 1, "a", "1");
    write(writer, 2, "a", "2");
    writer.close();
    TestDevice old = TestDevice.connect(node.port(), TestServer.token(user, "old"));
    ServerFrame welcome = helloWithoutFingerprint(old, first.getAck().getEpoch(), 1);
    assertEquals(
        DocumentSync.Mode.DELTAS, welcome.getWelcome().getSync().getDocuments(0).getMode());
    assertEquals(0, node.stats().divergenceResyncs.sum());
    old.close();
  }

  /**
   * Says Hello from version {@code version} of "cart" in {@code epoch} with no fingerprint, as a
   * device holding data from before fingerprints does; returns the Welcome.
   */
  protected static ServerFrame helloWithoutFingerprint(TestDevice d, long epoch, long version) {
    return d.hello(
        Hello.newBuilder()
            .addPositions(
                Position.newBuilder().setDocument("cart").setEpoch(epoch).setVersion(version))
            .build());
  }

  protected TestDevice connect(String device) {
    TestDevice d = TestDevice.connect(node.port(), TestServer.token(user, device));
    d.hello();
    return d;
  }

  /** Writes one field and waits for its ack. */
  protected static ServerFrame write(TestDevice d, long seq, String field, String value) {
    d.send(Writes.frame("cart", seq, field, value));
    ServerFrame ack = d.next(f -> f.hasAck() || f.hasError());
    assertTrue(ack.hasAck(), ack.toString());
    return ack;
  }

  /** A device's copy of the document "cart", built only from the frames it was sent. */
  static final class Copy {
    final Map<String, ByteString> fields = new HashMap<>();
    long epoch;
    long version;
    long fingerprint;

    /**
     * Applies frames until the copy is at {@code target}; returns the last snapshot applied, if
     * any. Deltas must follow the copy's version without a gap, as the protocol promises.
     */
    Snapshot readUntil(TestDevice d, long target) {
      Snapshot last = null;
      while (version != target) {
        ServerFrame f = d.next(x -> x.hasDelta() || x.hasSnapshot());
        if (f.hasSnapshot()) {
          last = f.getSnapshot();
          fields.clear();
          fields.putAll(last.getFieldsMap());
          epoch = last.getEpoch();
          version = last.getVersion();
          fingerprint = last.getFingerprint();
        } else {
          Delta delta = f.getDelta();
          assertEquals(version + 1, delta.getVersion(), "a gap or a repeat: " + delta);
          assertEquals(fingerprint, delta.getPreviousFingerprint(), "applied on another history");
          for (FieldOp op : delta.getOpsList()) {
            if (op.hasSet()) {
              fields.put(op.getField(), op.getSet());
            } else {
              fields.remove(op.getField());
            }
          }
          epoch = delta.getEpoch();
          version = delta.getVersion();
          fingerprint = delta.getFingerprint();
        }
      }
      return last;
    }

    Position position() {
      return Position.newBuilder()
          .setDocument("cart")
          .setEpoch(epoch)
          .setVersion(version)
          .setFingerprint(fingerprint)
          .build();
    }
  }

  static long fingerprintOf(Ack ack) {
    return ack.getFingerprint();
  }
}
