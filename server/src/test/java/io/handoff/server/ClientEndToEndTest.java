package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.handoff.client.ConnectionState;
import io.handoff.client.Document;
import io.handoff.client.DocumentChange;
import io.handoff.client.HandoffClient;
import io.handoff.client.HandoffListener;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The Java client against a real node over real sockets. */
class ClientEndToEndTest {
  private TestServer server;
  private final List<HandoffClient> clients = new ArrayList<>();

  @BeforeEach
  void start() throws Exception {
    server = TestServer.start();
  }

  @AfterEach
  void stop() {
    clients.forEach(HandoffClient::close);
    server.close();
  }

  /** Records, per device, every version it saw of each document, in the order it saw them. */
  static final class Recorder implements HandoffListener {
    final List<DocumentChange> changes = java.util.Collections.synchronizedList(new ArrayList<>());
    final Signal signal = new Signal();

    @Override
    public void onChange(DocumentChange change) {
      changes.add(change);
      signal.fire();
    }

    /** Waits until this device's replica of {@code doc} is at {@code version}. */
    void awaitVersion(HandoffClient client, String doc, long version) throws InterruptedException {
      signal.await(
          client.deviceId() + " has " + doc + " v" + version,
          // The client's state moves before its listener hears of it: wait for both.
          () ->
              client.lastVersion(doc) == version
                  && versions(doc).stream().anyMatch(v -> v >= version));
    }

    List<Long> versions(String doc) {
      synchronized (changes) {
        return changes.stream()
            .filter(c -> c.document().equals(doc))
            .filter(c -> c.kind() != DocumentChange.Kind.GONE)
            .map(DocumentChange::version)
            .toList();
      }
    }

    long count(DocumentChange.Kind kind) {
      synchronized (changes) {
        return changes.stream().filter(c -> c.kind() == kind).count();
      }
    }
  }

  private HandoffClient client(String url, String user, String device, Recorder recorder)
      throws Exception {
    HandoffClient c = TestServer.clientBuilder(url, user, device).listener(recorder).build();
    clients.add(c);
    c.connect().get(10, TimeUnit.SECONDS);
    return c;
  }

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  @Test
  void writeOnOneDeviceReachesTheOtherTwoOnceWithTheAckedVersionAndNoOtherUser() throws Exception {
    Recorder ra = new Recorder();
    Recorder rb = new Recorder();
    Recorder rc = new Recorder();
    Recorder rx = new Recorder();
    HandoffClient a = client(server.url(), "alice", "phone", ra);
    HandoffClient b = client(server.url(), "alice", "laptop", rb);
    HandoffClient c = client(server.url(), "alice", "tv", rc);
    HandoffClient x = client(server.url(), "bob", "phone", rx);

    long version = a.document("player").set("position", utf8("1:02:03")).get(10, TimeUnit.SECONDS);
    assertEquals(1, version);
    rb.awaitVersion(b, "player", 1);
    rc.awaitVersion(c, "player", 1);
    for (Recorder r : List.of(rb, rc)) {
      assertEquals(List.of(1L), r.versions("player"));
      DocumentChange d = r.changes.get(0);
      assertEquals(DocumentChange.Kind.DELTA, d.kind());
      assertEquals("phone", d.originDevice());
    }
    assertEquals("1:02:03", b.document("player").get("position").toStringUtf8());
    assertEquals(
        0, ra.count(DocumentChange.Kind.DELTA), "the writer gets no delta of its own write");

    // Bob's own write completes after Alice's; had Alice's write leaked to him it would be first.
    assertEquals(1, x.document("player").set("position", utf8("0:00")).get(10, TimeUnit.SECONDS));
    assertEquals(0, rx.count(DocumentChange.Kind.DELTA));
    assertEquals(0, rx.count(DocumentChange.Kind.SNAPSHOT));
    assertEquals("0:00", x.document("player").get("position").toStringUtf8());
    // And the second write of Alice's shows the fan-out is exactly once.
    a.document("player").set("position", utf8("1:02:04")).get(10, TimeUnit.SECONDS);
    rb.awaitVersion(b, "player", 2);
    assertEquals(List.of(1L, 2L), rb.versions("player"));
  }

  @Test
  void tenThousandInterleavedWritesConvergeAndEveryDeviceSeesEveryVersionInOrder()
      throws Exception {
    int total = 10_000;
    String[] devices = {"phone", "laptop", "tv"};
    Recorder[] recorders = new Recorder[3];
    HandoffClient[] cs = new HandoffClient[3];
    for (int i = 0; i < 3; i++) {
      recorders[i] = new Recorder();
      cs[i] = client(server.url(), "carol", devices[i], recorders[i]);
    }
    List<CompletableFuture<Long>> acks = new ArrayList<>();
    CountDownLatch go = new CountDownLatch(1);
    List<Thread> writers = new ArrayList<>();
    List<List<CompletableFuture<Long>>> perDevice = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      final int d = i;
      List<CompletableFuture<Long>> mine =
          java.util.Collections.synchronizedList(new ArrayList<>());
      perDevice.add(mine);
      Thread t =
          new Thread(
              () -> {
                try {
                  go.await();
                } catch (InterruptedException e) {
                  return;
                }
                Document doc = cs[d].document("counter");
                for (int n = d; n < total; n += 3) {
                  mine.add(
                      doc.edit()
                          .set("last", utf8(devices[d] + n))
                          .set("by-" + devices[d], utf8(Integer.toString(n)))
                          .commit());
                }
              });
      t.start();
      writers.add(t);
    }
    go.countDown();
    for (Thread t : writers) {
      t.join();
    }
    perDevice.forEach(acks::addAll);
    CompletableFuture.allOf(acks.toArray(new CompletableFuture<?>[0])).get(120, TimeUnit.SECONDS);
    List<Long> ackedVersions = acks.stream().map(CompletableFuture::join).sorted().toList();
    for (int v = 0; v < total; v++) {
      assertEquals(v + 1, ackedVersions.get(v), "every version acked exactly once");
    }
    for (int i = 0; i < 3; i++) {
      recorders[i].awaitVersion(cs[i], "counter", total);
    }
    Map<String, ByteString> expected = cs[0].document("counter").fields();
    for (int i = 0; i < 3; i++) {
      assertEquals(
          expected, cs[i].document("counter").fields(), devices[i] + " has the same state");
      List<Long> seen = recorders[i].versions("counter");
      assertEquals(total, seen.size(), devices[i] + " saw each version once");
      for (int v = 0; v < total; v++) {
        assertEquals(v + 1, seen.get(v), devices[i] + " saw versions in order without gaps");
      }
    }
    assertEquals(3, expected.size() - 1, "three by-device fields and 'last'");
  }

  @Test
  void writeWhoseAckIsLostIsResentOnReconnectAndAppliedOnce() throws Exception {
    try (ChaosProxy proxy = new ChaosProxy(server.port())) {
      Recorder r = new Recorder();
      HandoffClient a = client(proxy.url(), "dave", "phone", r);
      Document draft = a.document("draft/7");
      assertEquals(1, draft.set("text", utf8("first")).get(10, TimeUnit.SECONDS));
      CompletableFuture<Void> applied = new CompletableFuture<>();
      server
          .engine
          .broker()
          .subscribe(
              "dave",
              e -> {
                if (e.version() == 2) {
                  applied.complete(null);
                }
              });

      proxy.blackholeDownstream(true);
      CompletableFuture<Long> lost = draft.set("text", utf8("second"));
      applied.get(10, TimeUnit.SECONDS); // The server applied it; its ack is swallowed.
      proxy.cutAll();
      proxy.blackholeDownstream(false);

      assertEquals(
          2, lost.get(20, TimeUnit.SECONDS), "acked with the version of the first attempt");
      assertEquals(3, draft.set("text", utf8("third")).get(10, TimeUnit.SECONDS));
      assertEquals(3, server.engine.store().read("dave", "draft/7", 0, 0).join().toVersion());
      assertEquals(ConnectionState.CONNECTED, a.state());
    }
  }

  @Test
  void offlineDeviceCatchesUpWithExactlyWhatItMissed() throws Exception {
    try (ChaosProxy proxy = new ChaosProxy(server.port())) {
      Recorder rw = new Recorder();
      Recorder rr = new Recorder();
      HandoffClient writer = client(server.url(), "erin", "laptop", rw);
      HandoffClient reader = client(proxy.url(), "erin", "phone", rr);
      writer.document("cart").set("items", utf8("0")).get(10, TimeUnit.SECONDS);
      rr.awaitVersion(reader, "cart", 1);

      proxy.blackholeDownstream(true);
      proxy.cutAll();
      for (int i = 1; i <= 50; i++) {
        writer.document("cart").set("items", utf8(Integer.toString(i)));
      }
      writer.document("cart").set("done", utf8("yes")).get(10, TimeUnit.SECONDS);
      proxy.blackholeDownstream(false);
      proxy.cutAll();

      rr.awaitVersion(reader, "cart", 52);
      List<Long> seen = rr.versions("cart");
      assertEquals(52, seen.size());
      for (int v = 0; v < 52; v++) {
        assertEquals(v + 1, seen.get(v));
      }
      assertEquals(0, rr.count(DocumentChange.Kind.SNAPSHOT), "resumed with deltas only");
      assertEquals("50", reader.document("cart").get("items").toStringUtf8());
      assertTrue(server.server.stats().resumesWithDeltas.sum() >= 1);
    }
  }
}
