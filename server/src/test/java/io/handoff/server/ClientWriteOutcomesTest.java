package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.client.ConnectionState;
import io.handoff.client.Document;
import io.handoff.client.HandoffClient;
import io.handoff.client.HandoffException;
import io.handoff.client.HandoffListener;
import io.handoff.protocol.v1.Delta;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.server.sync.Broker;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Honest write outcomes of the Java client against real nodes over real sockets: writes whose fate
 * was unknown are re-sent and applied once, a device's writes to a document are applied in the
 * order it made them through store failures and reconnects, only writes past the memory bound fail,
 * and a client moves to its next URL when a node goes away. What the store applied (its broker's
 * events) is the ground truth.
 */
class ClientWriteOutcomesTest {
  private final FaultyStoreEngine engine = new FaultyStoreEngine();
  private final List<HandoffServer> nodes = new ArrayList<>();
  private final List<HandoffClient> clients = new ArrayList<>();
  private final List<AutoCloseable> closeables = new ArrayList<>();
  private HandoffServer node;

  @BeforeEach
  void start() throws Exception {
    node = node("outcomes-1");
  }

  @AfterEach
  void stop() throws Exception {
    clients.forEach(HandoffClient::close);
    for (AutoCloseable c : closeables) {
      c.close();
    }
    nodes.forEach(HandoffServer::close);
    engine.close();
  }

  private HandoffServer node(String name) throws InterruptedException {
    return node(name, b -> {});
  }

  private HandoffServer node(String name, Consumer<ServerConfig.Builder> settings)
      throws InterruptedException {
    ServerConfig.Builder config =
        ServerConfig.builder()
            .host("127.0.0.1")
            .port(0)
            .nodeId(name)
            .jwtSecret(TestServer.SECRET)
            .drainTimeout(Duration.ofSeconds(2));
    settings.accept(config);
    HandoffServer n = HandoffServer.start(config.build(), engine);
    nodes.add(n);
    return n;
  }

  private static String url(HandoffServer n) {
    return "ws://127.0.0.1:" + n.port() + "/ws";
  }

  /** Every write the store applied for one user, in the order it applied them. */
  private static final class Applied implements Broker.Listener {
    final List<Delta> deltas = Collections.synchronizedList(new ArrayList<>());
    final Signal signal = new Signal();

    @Override
    public void onEvent(io.handoff.server.sync.DocumentEvent event) {
      deltas.add(event.delta());
      signal.fire();
    }

    List<String> values(String document) {
      synchronized (deltas) {
        return deltas.stream()
            .filter(d -> d.getDocument().equals(document))
            .map(d -> d.getOps(0).getSet().toStringUtf8())
            .toList();
      }
    }

    void awaitCount(String document, int n) throws InterruptedException {
      signal.await(n + " writes of " + document + " applied", () -> values(document).size() >= n);
    }
  }

  private Applied applied(String user) throws Exception {
    Applied a = new Applied();
    Broker.Subscription s = engine.broker().subscribe(user, a);
    s.ready().get(10, TimeUnit.SECONDS);
    closeables.add(s);
    return a;
  }

  /** Records the errors the client reports to the application; signals its state changes. */
  private static final class Errors implements HandoffListener {
    final List<HandoffException> seen = Collections.synchronizedList(new ArrayList<>());
    final Signal states = new Signal();

    @Override
    public void onError(HandoffException error) {
      seen.add(error);
    }

    @Override
    public void onStateChanged(ConnectionState state, int closeCode, String reason) {
      states.fire();
    }
  }

  private HandoffClient client(
      List<String> urls, String user, Errors errors, Consumer<HandoffClient.Builder> settings) {
    HandoffClient.Builder b =
        HandoffClient.builder()
            .urls(urls.stream().map(URI::create).toList())
            .token(TestServer.token(user, "phone"))
            .reconnectBackoff(Duration.ofMillis(20), Duration.ofMillis(200))
            .listener(errors);
    settings.accept(b);
    HandoffClient c = b.build();
    clients.add(c);
    return c;
  }

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  /** A loopback URL where nothing listens: connections are refused. */
  private static String deadUrl() throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return "ws://127.0.0.1:" + s.getLocalPort() + "/ws";
    }
  }

  private static int deadPort() throws IOException {
    return URI.create(deadUrl()).getPort();
  }

  @Test
  void writeWhoseConnectionIsCutAfterSendingIsResentAppliedOnceAndNeverReportedFailed()
      throws Exception {
    Applied applied = applied("dave");
    try (ChaosProxy proxy = new ChaosProxy(node.port())) {
      Errors errors = new Errors();
      HandoffClient a = client(List.of(proxy.url()), "dave", errors, b -> {});
      a.connect().get(10, TimeUnit.SECONDS);
      Document draft = a.document("draft");
      assertEquals(1, draft.set("text", utf8("first")).get(10, TimeUnit.SECONDS));

      proxy.blackholeDownstream(true);
      CompletableFuture<Long> cut = draft.set("text", utf8("second"));
      applied.awaitCount("draft", 2); // Applied by the store; its ack is swallowed.
      proxy.cutAll();
      proxy.blackholeDownstream(false);

      assertEquals(2, cut.get(20, TimeUnit.SECONDS), "acked with the version it was applied as");
      assertEquals(3, draft.set("text", utf8("third")).get(10, TimeUnit.SECONDS));
      assertEquals(List.of("first", "second", "third"), applied.values("draft"));
      assertTrue(a.writesResent() >= 1, "the write was sent again on the new connection");
      assertEquals(List.of(), errors.seen);
    }
  }

  @Test
  void writeTheStoreAppliedButAnsweredAsFailedIsResentAndAppliedOnce() throws Exception {
    Applied applied = applied("erin");
    Errors errors = new Errors();
    // A device that only writes: a follower would get its ack from the node's stream of applied
    // writes, which sees the write whatever the store answered.
    HandoffClient a = client(List.of(url(node)), "erin", errors, b -> b.followDocuments());
    a.connect().get(10, TimeUnit.SECONDS);
    engine.failNext(1, FaultyStoreEngine.Fault.ANSWER_LOST);

    long version = a.document("cart").set("items", utf8("3 apples")).get(20, TimeUnit.SECONDS);

    assertEquals(1, version);
    assertEquals(1, engine.faulted(), "the first answer was lost");
    assertEquals(List.of("3 apples"), applied.values("cart"), "applied once");
    assertTrue(a.writesResent() >= 1);
    assertEquals(List.of(), errors.seen);
  }

  @Test
  void aCopyOfAWriteOnTheStreamIsNotAnAckIfTheStoreThenLosesTheWrite() throws Exception {
    Errors errors = new Errors();
    HandoffClient writer = client(List.of(url(node)), "judy", errors, b -> {});
    writer.connect().get(10, TimeUnit.SECONDS);
    Document cart = writer.document("cart");
    assertEquals(1, cart.set("items", utf8("1 pear")).get(10, TimeUnit.SECONDS));
    List<Long> seen = Collections.synchronizedList(new ArrayList<>());
    Signal copies = new Signal();
    HandoffClient other =
        HandoffClient.builder()
            .url(URI.create(url(node)))
            .token(TestServer.token("judy", "laptop"))
            .listener(
                new HandoffListener() {
                  @Override
                  public void onChange(io.handoff.client.DocumentChange change) {
                    seen.add(change.version());
                    copies.fire();
                  }
                })
            .build();
    clients.add(other);
    other.connect().get(10, TimeUnit.SECONDS);
    engine.failNext(1, FaultyStoreEngine.Fault.COPY_THEN_LOST);

    CompletableFuture<Long> lost = cart.set("items", utf8("2 pears"));
    copies.await("the other device got the copy", () -> seen.contains(2L));
    engine.loseHeldAnswer();

    // Re-sent after OUTCOME_UNKNOWN and applied by the store, which never had the copy's write.
    assertEquals(2, lost.get(20, TimeUnit.SECONDS), "acked with the version the store gave it");
    // The store's own history (the stream also carried the copy of the write it lost).
    io.handoff.server.sync.SyncResult now =
        engine.store().read("judy", "cart", 0, 0, 0).get(10, TimeUnit.SECONDS);
    List<String> history =
        engine
            .store()
            .read("judy", "cart", now.epoch(), 0, 0)
            .get(10, TimeUnit.SECONDS)
            .deltas()
            .stream()
            .map(e -> e.delta().getOps(0).getSet().toStringUtf8())
            .toList();
    assertEquals(List.of("1 pear", "2 pears"), history, "applied once");
    assertTrue(writer.writesResent() >= 1, "the copy did not settle the write: it was re-sent");
    assertEquals(List.of(), errors.seen);
    copies.await(
        "the other device resynced to the store's version 2",
        () ->
            other.lastVersion("cart") == 2
                && other.document("cart").get("items").toStringUtf8().equals("2 pears")
                && other.document("cart").epoch() == writer.document("cart").epoch());
  }

  @Test
  void aCopyOfAWriteTheStoreLostIsReadForOnceNotUntilItComes() throws Exception {
    Errors errors = new Errors();
    HandoffClient writer = client(List.of(url(node)), "kate", errors, b -> {});
    writer.connect().get(10, TimeUnit.SECONDS);
    Document cart = writer.document("cart");
    assertEquals(1, cart.set("items", utf8("1 plum")).get(10, TimeUnit.SECONDS));
    engine.failNext(1, FaultyStoreEngine.Fault.COPY_THEN_LOST);
    CompletableFuture<Long> lost = cart.set("items", utf8("2 plums"));
    engine.signal.await("the copy pushed", engine::heldCopyPushed);

    // The store stays down: the write is lost and its re-sends are refused for a while.
    engine.failNext(Integer.MAX_VALUE, FaultyStoreEngine.Fault.UNREACHABLE);
    int readsBefore = engine.reads();
    int faultedBefore = engine.faulted();
    engine.loseHeldAnswer();
    engine.signal.await("three re-sends refused", () -> engine.faulted() >= faultedBefore + 4);

    assertTrue(
        engine.reads() - readsBefore <= 2,
        "the node read the document "
            + (engine.reads() - readsBefore)
            + " times for a version the store does not have");
    engine.failNext(0, FaultyStoreEngine.Fault.UNREACHABLE);
    assertEquals(2, lost.get(20, TimeUnit.SECONDS));
    assertEquals(List.of(), errors.seen);
  }

  @Test
  void writesOfOneDocumentMadeDuringAStoreOutageAndAcrossAReconnectAreAppliedInOrder()
      throws Exception {
    Applied applied = applied("frank");
    try (ChaosProxy proxy = new ChaosProxy(node.port())) {
      Errors errors = new Errors();
      HandoffClient a = client(List.of(proxy.url()), "frank", errors, b -> {});
      a.connect().get(10, TimeUnit.SECONDS);
      Document form = a.document("form");
      List<CompletableFuture<Long>> writes = new ArrayList<>();

      engine.failNext(Integer.MAX_VALUE, FaultyStoreEngine.Fault.UNREACHABLE);
      for (int i = 0; i < 5; i++) {
        writes.add(form.set("step", utf8("w" + i)));
      }
      engine.signal.await("the store refused the first write twice", () -> engine.faulted() >= 2);
      proxy.retarget(deadPort());
      proxy.cutAll();
      errors.states.await(
          "the client noticed the cut", () -> a.state() == ConnectionState.RECONNECTING);
      for (int i = 5; i < 20; i++) {
        writes.add(form.set("step", utf8("w" + i)));
      }
      engine.failNext(0, FaultyStoreEngine.Fault.UNREACHABLE);
      proxy.retarget(node.port());

      CompletableFuture.allOf(writes.toArray(new CompletableFuture<?>[0]))
          .get(30, TimeUnit.SECONDS);
      List<String> expected = new ArrayList<>();
      for (int i = 0; i < 20; i++) {
        expected.add("w" + i);
        assertEquals(i + 1, writes.get(i).join(), "write " + i + " got the next version");
      }
      assertEquals(expected, applied.values("form"), "applied once each, in the order made");
      assertEquals("w19", form.get("step").toStringUtf8());
      assertEquals(List.of(), errors.seen);
    }
  }

  @Test
  void onlyAWritePastTheMemoryBoundFailsAndTheHeldOnesAreAppliedLater() throws Exception {
    Applied applied = applied("gina");
    try (ChaosProxy proxy = new ChaosProxy(deadPort())) {
      Errors errors = new Errors();
      // A write of 1,000 bytes to "notes" counts about 1,280 bytes: ten fit in 13,000, not eleven.
      HandoffClient a =
          client(List.of(proxy.url()), "gina", errors, b -> b.maxUnackedWriteBytes(13_000));
      CompletableFuture<Void> connected = a.connect();
      Document notes = a.document("notes");
      List<CompletableFuture<Long>> held = new ArrayList<>();
      for (int i = 0; i < 10; i++) {
        byte[] value = new byte[1_000];
        value[0] = (byte) ('0' + i);
        held.add(notes.set("page", value));
      }

      CompletableFuture<Long> past = notes.set("page", new byte[1_000]);

      ExecutionException e =
          assertThrows(ExecutionException.class, () -> past.get(10, TimeUnit.SECONDS));
      HandoffException refused = assertInstanceOf(HandoffException.class, e.getCause());
      assertEquals(ErrorCode.LIMIT_EXCEEDED, refused.errorCode());
      assertFalse(refused.mayHaveBeenApplied());
      assertTrue(refused.getMessage().contains("maxUnackedWriteBytes=13000"), refused.getMessage());
      assertFalse(held.stream().anyMatch(CompletableFuture::isDone), "within the bound: held");

      proxy.retarget(node.port());
      connected.get(10, TimeUnit.SECONDS);
      CompletableFuture.allOf(held.toArray(new CompletableFuture<?>[0])).get(20, TimeUnit.SECONDS);
      for (int i = 0; i < 10; i++) {
        assertEquals(i + 1, held.get(i).join());
      }
      applied.awaitCount("notes", 10);
      assertEquals(10, applied.values("notes").size(), "the refused write was never sent");
      assertEquals(List.of(), errors.seen);
    }
  }

  @Test
  void writeOfUnknownFateTooLargeForTheNextNodeIsReportedAsMaybeApplied() throws Exception {
    Applied applied = applied("jack");
    HandoffServer strict =
        node(
            "outcomes-strict",
            b ->
                b.maxFrameBytes(2048)
                    .storeLimits(
                        io.handoff.server.engine.StoreLimits.builder()
                            .maxValueBytes(1024)
                            .build()));
    try (ChaosProxy proxy = new ChaosProxy(node.port())) {
      Errors errors = new Errors();
      HandoffClient a = client(List.of(proxy.url(), url(strict)), "jack", errors, b -> {});
      a.connect().get(10, TimeUnit.SECONDS);

      proxy.blackholeDownstream(true);
      CompletableFuture<Long> big =
          a.document("notes")
              .edit()
              .set("a", new byte[1000])
              .set("b", new byte[1000])
              .set("c", new byte[1000])
              .commit();
      applied.awaitCount("notes", 1); // Applied by the store; its ack is swallowed.
      proxy.cutAll();

      // On the next node the write is over max_frame_bytes: it cannot be sent again, and the
      // client cannot know whether the first node applied it.
      ExecutionException e =
          assertThrows(ExecutionException.class, () -> big.get(20, TimeUnit.SECONDS));
      HandoffException failed = assertInstanceOf(HandoffException.class, e.getCause());
      assertEquals(ErrorCode.LIMIT_EXCEEDED, failed.errorCode());
      assertEquals(1, strict.stats().connectionsOpened.sum(), "given up on at the second node");
      assertEquals(1, applied.deltas.size(), "the store applied it");
      assertTrue(failed.mayHaveBeenApplied(), "reported as certainly not applied: " + failed);
    }
  }

  @Test
  void clientMovesToTheSecondUrlWhenTheFirstNodeIsStopped() throws Exception {
    Applied applied = applied("hana");
    HandoffServer second = node("outcomes-2");
    Errors errors = new Errors();
    HandoffClient a = client(List.of(url(node), url(second)), "hana", errors, b -> {});
    a.connect().get(10, TimeUnit.SECONDS);
    Document player = a.document("player");
    assertEquals(1, player.set("at", utf8("0:01")).get(10, TimeUnit.SECONDS));
    assertEquals(0, second.stats().connectionsOpened.sum());

    node.abort();
    CompletableFuture<Long> during = player.set("at", utf8("0:02"));

    assertEquals(2, during.get(20, TimeUnit.SECONDS));
    assertEquals(3, player.set("at", utf8("0:03")).get(10, TimeUnit.SECONDS));
    assertEquals(1, second.stats().connectionsOpened.sum(), "the client is on the second node");
    assertEquals(List.of("0:01", "0:02", "0:03"), applied.values("player"));
    assertEquals(List.of(), errors.seen);
  }

  @Test
  void clientConnectsThroughTheNextUrlWhenTheFirstRefuses() throws Exception {
    Errors errors = new Errors();
    HandoffClient a = client(List.of(deadUrl(), url(node)), "ivan", errors, b -> {});

    a.connect().get(10, TimeUnit.SECONDS);

    assertEquals(ConnectionState.CONNECTED, a.state());
    assertEquals(1, a.document("cart").set("n", utf8("1")).get(10, TimeUnit.SECONDS));
  }
}
