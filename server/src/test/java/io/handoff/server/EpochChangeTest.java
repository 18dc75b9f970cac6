package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.DocumentSync;
import io.handoff.protocol.v1.DocumentSync.Mode;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.protocol.v1.Snapshot;
import io.handoff.server.sync.SyncResult;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The store wiped (FLUSHALL on a Redis of this test's own) while a device is connected: the
 * document's next write begins a new history, and the device holding the old one is sent the new
 * one's snapshot saying why, EPOCH_CHANGED, counted like every resync of a lost history; so is the
 * device that wrote it, which held the old history too. With no write after the wipe, every node
 * sees it by itself (its marker in Redis gone) and tells each of its devices.
 */
class EpochChangeTest {
  private final Nodes nodes = new Nodes();
  private final RedisProcess redis = nodes.add(RedisProcess.start());

  @AfterEach
  void tearDown() {
    nodes.close();
  }

  private void flushAll() {
    try (RedisClient client = RedisClient.create(redis.url());
        StatefulRedisConnection<String, String> c = client.connect()) {
      assertEquals("OK", c.sync().flushall());
    }
  }

  /**
   * FLUSHALL with the nodes' life marker put back in the same transaction: a wipe their own check
   * ({@code StoreLife}) does not see, so that only the next write can reveal it.
   */
  private void flushAllButTheMarker() {
    try (RedisClient client = RedisClient.create(redis.url());
        StatefulRedisConnection<String, String> c = client.connect()) {
      String marker = nodes.prefix + "{life}:life";
      String value = c.sync().get(marker);
      assertTrue(value != null, "the nodes made the marker at start");
      c.sync().multi();
      c.sync().flushall();
      c.sync().set(marker, value);
      assertEquals(2, c.sync().exec().size());
    }
  }

  @Test
  void aLiveDeviceOfAWipedStoreGetsTheNewHistorysSnapshotSayingTheEpochChanged() throws Exception {
    HandoffServer node = nodes.redis(redis.url(), "a");
    TestDevice writer =
        nodes.add(TestDevice.connect(node.port(), TestServer.token("eve", "phone")));
    writer.hello();
    TestDevice live = nodes.add(TestDevice.connect(node.port(), TestServer.token("eve", "tv")));
    live.hello();
    long oldEpoch = 0;
    for (int seq = 1; seq <= 3; seq++) {
      ServerFrame ack = writer.answerTo(writer.write("cart", seq, "f" + seq, "old"));
      assertTrue(ack.hasAck(), ack.toString());
      oldEpoch = ack.getAck().getEpoch();
      assertEquals(seq, live.next(ServerFrame::hasDelta).getDelta().getVersion());
    }

    flushAllButTheMarker();
    long request = writer.write("cart", 4, "f", "new");
    // The writer held the old history too: its write comes with the new one's snapshot.
    Snapshot own = writer.next(f -> f.hasSnapshot() || f.getRequestId() == request).getSnapshot();
    ServerFrame ack = writer.answerTo(request);
    assertTrue(ack.hasAck(), ack.toString());
    assertEquals(1, ack.getAck().getVersion(), "a new history");
    assertNotEquals(oldEpoch, ack.getAck().getEpoch());

    Snapshot s = live.next(f -> f.hasSnapshot() || f.hasDelta()).getSnapshot();
    SyncResult store = node.engine().store().read("eve", "cart", 0, 0).join();
    assertEquals(store.epoch(), s.getEpoch());
    assertEquals(1, s.getVersion());
    assertEquals(store.fields(), s.getFieldsMap(), "exactly the store's document");
    assertEquals(DocumentSync.Reason.EPOCH_CHANGED, s.getReason(), "told why");
    assertEquals(DocumentSync.Reason.EPOCH_CHANGED, own.getReason());
    assertEquals(store.fields(), own.getFieldsMap());
    assertEquals(2, node.stats().epochResyncs.sum(), "counted, once per device");
  }

  @Test
  void aWipeWithNoWriteAfterItReachesEveryConnectedDeviceOnEveryNode() throws Exception {
    HandoffServer a = nodes.redis(redis.url(), "a");
    HandoffServer b = nodes.redis(redis.url(), "b");
    TestDevice phone = nodes.add(TestDevice.connect(a.port(), TestServer.token("eve", "phone")));
    phone.hello();
    TestDevice tv = nodes.add(TestDevice.connect(b.port(), TestServer.token("eve", "tv")));
    tv.hello();
    for (int seq = 1; seq <= 3; seq++) {
      ServerFrame ack = phone.answerTo(phone.write("cart", seq, "f" + seq, "old"));
      assertTrue(ack.hasAck(), ack.toString());
      assertEquals(seq, tv.next(ServerFrame::hasDelta).getDelta().getVersion());
    }

    flushAll(); // And no write after it: the nodes' connections to Redis stay up.
    for (TestDevice d : List.of(phone, tv)) {
      ServerFrame told = d.next(f -> f.hasSyncReport() || f.hasSnapshot() || f.hasDelta());
      assertTrue(told.hasSyncReport(), told.toString());
      DocumentSync gone = told.getSyncReport().getDocuments(0);
      assertEquals("cart", gone.getDocument());
      assertEquals(Mode.GONE, gone.getMode(), "told the store has no such document");
    }
    assertEquals(
        DocumentSync.Mode.GONE,
        a.engine().store().read("eve", "cart", 0, 0).join().mode(),
        "which is what the store holds");
    for (HandoffServer n : List.of(a, b)) {
      assertEquals(1, n.engine().storeResets(), "each node saw it, once");
    }
  }
}
