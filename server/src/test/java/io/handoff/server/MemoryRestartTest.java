package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.handoff.client.DocumentChange;
import io.handoff.client.HandoffClient;
import io.handoff.protocol.v1.DocumentSync;
import io.handoff.server.ClientEndToEndTest.Recorder;
import io.handoff.server.sync.SyncResult;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The embedded single-node default restarted on the same port, as an operator restarts it: the
 * in-memory engine keeps nothing, and the devices that held its documents are told and end with
 * exactly what the new node's store holds.
 */
class MemoryRestartTest {
  private final List<AutoCloseable> closeables = new ArrayList<>();

  @AfterEach
  void stop() throws Exception {
    for (int i = closeables.size() - 1; i >= 0; i--) {
      closeables.get(i).close();
    }
  }

  private HandoffClient client(String url, String device, Recorder recorder) throws Exception {
    HandoffClient c = TestServer.clientBuilder(url, "rosa", device).listener(recorder).build();
    closeables.add(c::close);
    c.connect().get(10, TimeUnit.SECONDS);
    return c;
  }

  private static ByteString utf8(String s) {
    return ByteString.copyFrom(s, StandardCharsets.UTF_8);
  }

  @Test
  void afterARestartDevicesAreToldTheHistoryIsGoneAndEndWithTheNewStoresDocument()
      throws Exception {
    TestServer first = TestServer.start();
    int port = first.port();
    Recorder rp = new Recorder();
    Recorder rl = new Recorder();
    HandoffClient phone = client(first.url(), "phone", rp);
    HandoffClient laptop = client(first.url(), "laptop", rl);
    phone.document("cart").set("items", utf8("apple")).get(10, TimeUnit.SECONDS);
    long before =
        phone.document("cart").set("items", utf8("apple, pear")).get(10, TimeUnit.SECONDS);
    rl.awaitVersion(laptop, "cart", before);
    long oldEpoch = laptop.document("cart").epoch();

    first.close(); // The drain tells both devices to reconnect; nothing answers until the restart.
    CompletableFuture<Long> offline = phone.document("cart").set("note", utf8("written offline"));
    TestServer second = TestServer.start(b -> b.port(port));
    closeables.add(second::close);

    long version = offline.get(30, TimeUnit.SECONDS);
    SyncResult store = second.engine.store().read("rosa", "cart", 0, 0).get(10, TimeUnit.SECONDS);
    assertEquals(DocumentSync.Mode.SNAPSHOT, store.mode());
    assertEquals(1, store.toVersion(), "the new node's store began the document again");
    assertEquals(version, store.toVersion(), "the write made while the node was down, acked there");
    assertNotEquals(oldEpoch, store.epoch(), "a new history, with a new epoch");
    assertEquals(Map.of("note", utf8("written offline")), store.fields());
    for (HandoffClient c : List.of(phone, laptop)) {
      Recorder r = c == phone ? rp : rl;
      r.awaitVersion(c, "cart", store.toVersion());
      Conditions.await(
          c.deviceId() + " on the new history",
          () -> c.document("cart").epoch() == store.epoch(),
          Duration.ofSeconds(10));
      assertEquals(
          store.fields(),
          c.document("cart").fields(),
          c.deviceId() + " holds exactly the store's document, nothing of the lost history");
      assertTrue(
          r.count(DocumentChange.Kind.GONE) + r.count(DocumentChange.Kind.SNAPSHOT) > 0,
          c.deviceId() + " was told its copy was lost, not left to find out");
    }
  }
}
