package io.handoff.client;

import static io.handoff.client.Frames.ack;
import static io.handoff.client.Frames.bytes;
import static io.handoff.client.Frames.delta;
import static io.handoff.client.Frames.remove;
import static io.handoff.client.Frames.set;
import static io.handoff.client.Frames.snapshot;
import static io.handoff.client.Frames.sync;
import static io.handoff.client.Frames.syncReport;
import static io.handoff.client.Frames.welcome;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.DocumentSync;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.Position;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.protocol.v1.Snapshot;
import io.handoff.protocol.v1.Write;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;

/**
 * The protocol state machine without sockets: frames go in through a fake connection, and the test
 * looks at the frames the engine sends, the changes it reports and its futures. The "event loop" is
 * the test thread (the executor runs tasks inline) and time only moves when the test runs the
 * scheduler's tasks.
 */
class SyncEngineTest {
  // The engine's clock: 42 unless a test moves it.
  private final java.util.concurrent.atomic.AtomicLong nanos =
      new java.util.concurrent.atomic.AtomicLong(42);

  private static final long EPOCH = 0xE1;
  private static final long OTHER_EPOCH = 0xE2;
  private static final long BACKOFF_INITIAL_NANOS = Duration.ofMillis(100).toNanos();

  private final FakeConnector connector = new FakeConnector();
  private final ManualScheduler scheduler = new ManualScheduler();
  private final RecordingListener listener = new RecordingListener();
  private SyncEngine engine = engine(b -> {});

  private SyncEngine engine(Consumer<HandoffClient.Builder> settings) {
    return engine(settings, Runnable::run);
  }

  /** An engine whose event loop is {@code loop}. */
  private SyncEngine engine(Consumer<HandoffClient.Builder> settings, Executor loop) {
    HandoffClient.Builder builder =
        HandoffClient.builder()
            .url(URI.create("ws://127.0.0.1:9/ws"))
            .token("t")
            .reconnectBackoff(Duration.ofMillis(100), Duration.ofSeconds(1))
            .listener(listener);
    settings.accept(builder);
    ClientConfig config = new ClientConfig(builder);
    return new SyncEngine(
        config,
        connector,
        scheduler,
        loop,
        new Backoff(config.reconnectInitial.toNanos(), config.reconnectMax.toNanos(), () -> 0.5),
        nanos::get);
  }

  /** Connects, opens, answers Hello with a Welcome; returns the channel with its output drained. */
  private FakeChannel connected(long lastClientSeq) {
    engine.connect();
    FakeChannel channel = connector.last().open();
    channel.receive(welcome(lastClientSeq));
    channel.drain();
    return channel;
  }

  /** Brings the document to the given version through deltas from another device. */
  private void seed(FakeChannel channel, String document, long version) {
    for (long v = 1; v <= version; v++) {
      channel.receive(delta(document, EPOCH, v, set("f", "v" + v)));
    }
    channel.drain();
  }

  private static Write write(ClientFrame frame) {
    assertTrue(frame.hasWrite(), () -> "expected a Write, got " + frame);
    return frame.getWrite();
  }

  private static List<Long> seqs(List<ClientFrame> frames) {
    return frames.stream().map(f -> write(f).getClientSeq()).toList();
  }

  private static HandoffException failure(CompletableFuture<?> future) {
    assertTrue(future.isCompletedExceptionally(), "future should have failed");
    CompletionException e =
        org.junit.jupiter.api.Assertions.assertThrows(CompletionException.class, future::join);
    return assertInstanceOf(HandoffException.class, e.getCause());
  }

  private List<DocumentChange.Kind> kinds() {
    return listener.changes.stream().map(DocumentChange::kind).toList();
  }

  // ---- connecting ----

  @Test
  void helloFollowsAllByDefaultAndListsOnlyNonEmptyReplicas() {
    engine.document("empty");
    engine.connect();
    FakeChannel channel = connector.last().open();

    ClientFrame hello = channel.drain().get(0);

    assertTrue(hello.hasHello());
    assertFalse(hello.getHello().hasFollow(), "followAll must omit the FollowSpec");
    assertEquals(0, hello.getHello().getPositionsCount());
    assertEquals(HandoffClient.DEFAULT_CLIENT_NAME, hello.getHello().getClient());
  }

  @Test
  void helloCarriesTheFollowSpecWhenNotFollowingAll() {
    engine = engine(b -> b.followDocuments("cart").followPrefixes("draft/"));
    engine.connect();

    ClientFrame hello = connector.last().open().drain().get(0);

    assertEquals(List.of("cart"), hello.getHello().getFollow().getDocumentsList());
    assertEquals(List.of("draft/"), hello.getHello().getFollow().getPrefixesList());
  }

  @Test
  void connectCompletesAtTheFirstWelcome() {
    CompletableFuture<Void> connected = engine.connect();
    FakeChannel channel = connector.last().open();
    assertFalse(connected.isDone());
    assertEquals(ConnectionState.CONNECTING, engine.state());

    channel.receive(welcome(0));

    assertTrue(connected.isDone() && !connected.isCompletedExceptionally());
    assertEquals(ConnectionState.CONNECTED, engine.state());
    assertEquals(Frames.DEVICE, engine.deviceId());
    assertEquals(Frames.USER, engine.userId());
    assertEquals(25_000 * 2 + 5_000, channel.readTimeoutMillis);
  }

  // ---- deltas, snapshots, sync reports ----

  @Test
  void contiguousDeltaIsAppliedAndReported() {
    FakeChannel channel = connected(0);

    channel.receive(delta("cart", EPOCH, 1, set("a", "1"), set("b", "2")));
    channel.receive(delta("cart", EPOCH, 2, remove("a")));

    Document cart = engine.document("cart");
    assertEquals(2, cart.version());
    assertEquals(EPOCH, cart.epoch());
    assertEquals(Map.of("b", bytes("2")), cart.fields());
    assertEquals(List.of(DocumentChange.Kind.DELTA, DocumentChange.Kind.DELTA), kinds());
    DocumentChange last = listener.changes.get(1);
    assertEquals(2, last.version());
    assertEquals(1_700_000_000_002L, last.serverTimestampMs());
    assertEquals(42L, last.receivedNanos());
    assertEquals("other-device", last.originDevice());
  }

  @Test
  void duplicateDeltaIsIgnored() {
    FakeChannel channel = connected(0);
    seed(channel, "cart", 2);
    listener.changes.clear();

    channel.receive(delta("cart", EPOCH, 2, set("f", "stale")));
    channel.receive(delta("cart", EPOCH, 1, set("f", "older")));

    assertEquals(2, engine.lastVersion("cart"));
    assertEquals(bytes("v2"), engine.document("cart").get("f"));
    assertTrue(listener.changes.isEmpty(), "a duplicate must not be reported");
    assertTrue(channel.drain().isEmpty(), "a duplicate must not trigger a resync");
    assertEquals(
        List.of("cart held 2 got 2", "cart held 2 got 1"),
        listener.outOfTurn,
        "but the server's fault is told to monitoring");
  }

  @Test
  void gapTriggersOneResync() {
    FakeChannel channel = connected(0);
    seed(channel, "cart", 1);

    channel.receive(delta("cart", EPOCH, 3, set("f", "v3")));
    channel.receive(delta("cart", EPOCH, 4, set("f", "v4")));
    channel.receive(delta("cart", EPOCH, 5, set("f", "v5")));

    List<ClientFrame> sent = channel.drain();
    assertEquals(1, sent.size(), () -> "expected exactly one Resync, got " + sent);
    assertEquals(
        List.of(Position.newBuilder().setDocument("cart").setEpoch(EPOCH).setVersion(1).build()),
        sent.get(0).getResync().getPositionsList());
    assertEquals(1, engine.lastVersion("cart"), "deltas after a gap must not be applied");
    assertEquals(
        List.of("cart held 1 got 3"),
        listener.outOfTurn,
        "the gap is told once: what comes while the Resync is out is no fault");

    channel.receive(syncReport(sync("cart", DocumentSync.Mode.DELTAS, EPOCH)));
    for (long v = 2; v <= 5; v++) {
      channel.receive(delta("cart", EPOCH, v, set("f", "v" + v)));
    }
    assertEquals(5, engine.lastVersion("cart"));

    channel.receive(delta("cart", EPOCH, 7, set("f", "v7")));
    assertEquals(1, channel.drain().size(), "a later gap asks again once the first was answered");
    assertEquals(1, listener.outOfTurn.size(), "a repaired document's stream may overlap");
  }

  @Test
  void resyncRefusedForNowIsSentAgainAfterAWait() {
    FakeChannel channel = connected(0);
    seed(channel, "cart", 1);
    channel.receive(delta("cart", EPOCH, 3, set("f", "v3")));
    assertEquals(1, channel.drain().size(), "the gap asks once");

    channel.receive(
        ServerFrame.newBuilder()
            .setError(
                io.handoff.protocol.v1.Error.newBuilder()
                    .setCode(io.handoff.protocol.v1.ErrorCode.RATE_LIMITED)
                    .setDocument("cart")
                    .setRetryable(true)
                    .setMessage("send it again in 40 ms"))
            .build());
    assertTrue(channel.drain().isEmpty(), "not at once");
    scheduler.runPending();
    List<ClientFrame> sent = channel.drain();
    assertEquals(1, sent.size(), () -> "asked again once, got " + sent);
    assertEquals(1, sent.get(0).getResync().getPositions(0).getVersion());
  }

  @Test
  void epochChangeTriggersResync() {
    FakeChannel channel = connected(0);
    seed(channel, "cart", 3);

    channel.receive(delta("cart", OTHER_EPOCH, 4, set("f", "new history")));

    List<ClientFrame> sent = channel.drain();
    assertEquals(1, sent.size());
    Position position = sent.get(0).getResync().getPositions(0);
    assertEquals(EPOCH, position.getEpoch());
    assertEquals(3, position.getVersion());
    assertEquals(bytes("v3"), engine.document("cart").get("f"));
  }

  @Test
  void snapshotReplacesTheReplica() {
    FakeChannel channel = connected(0);
    seed(channel, "cart", 2);
    channel.receive(delta("cart", OTHER_EPOCH, 9, set("x", "y")));
    assertEquals(1, channel.drain().size());
    listener.changes.clear();

    channel.receive(snapshot("cart", OTHER_EPOCH, 9, Map.of("only", bytes("this"))));

    Document cart = engine.document("cart");
    assertEquals(OTHER_EPOCH, cart.epoch());
    assertEquals(9, cart.version());
    assertEquals(Map.of("only", bytes("this")), cart.fields());
    assertEquals(List.of(DocumentChange.Kind.SNAPSHOT), kinds());
    assertEquals(Map.of("only", bytes("this")), listener.changes.get(0).fields());
    channel.receive(delta("cart", OTHER_EPOCH, 10, set("only", "next")));
    assertEquals(10, cart.version());
  }

  @Test
  void goneDropsTheReplica() {
    FakeChannel channel = connected(0);
    seed(channel, "cart", 2);
    listener.changes.clear();

    channel.receive(syncReport(sync("cart", DocumentSync.Mode.GONE, 0)));

    Document cart = engine.document("cart");
    assertEquals(0, cart.version());
    assertEquals(0, cart.epoch());
    assertTrue(cart.fields().isEmpty());
    assertEquals(List.of(DocumentChange.Kind.GONE), kinds());
  }

  @Test
  void goneInTheWelcomeDropsTheReplicaBeforeWritesResume() {
    FakeChannel first = connected(0);
    seed(first, "cart", 2);
    first.closeWith(4000, "restart");
    scheduler.runPending();
    listener.changes.clear();

    FakeChannel second = connector.last().open();
    assertEquals(2, second.drain().get(0).getHello().getPositions(0).getVersion());
    second.receive(welcome(0, sync("cart", DocumentSync.Mode.GONE, 0)));

    assertEquals(0, engine.lastVersion("cart"));
    assertEquals(List.of(DocumentChange.Kind.GONE), kinds());
  }

  // ---- caught up (onSynced) and dropping the connection ----

  private static DocumentSync syncTo(String document, DocumentSync.Mode mode, long to) {
    return sync(document, mode, EPOCH).toBuilder().setToVersion(to).build();
  }

  @Test
  void onSyncedWaitsUntilEveryDocumentInTheWelcomesReportIsAtItsVersion() {
    engine.connect();
    FakeChannel channel = connector.last().open();
    channel.receive(
        welcome(
            0,
            syncTo("cart", DocumentSync.Mode.DELTAS, 2),
            syncTo("player", DocumentSync.Mode.SNAPSHOT, 5),
            syncTo("ui", DocumentSync.Mode.UP_TO_DATE, 0)));
    assertEquals(0, listener.synced, "nothing applied yet");

    channel.receive(delta("cart", EPOCH, 1, set("f", "1")));
    channel.receive(delta("cart", EPOCH, 2, set("f", "2")));
    assertEquals(0, listener.synced, "player's snapshot still to come");
    channel.receive(snapshot("player", EPOCH, 5, Map.of("at", bytes("0:05"))));
    assertEquals(1, listener.synced);

    channel.receive(delta("cart", EPOCH, 3, set("f", "3")));
    assertEquals(1, listener.synced, "once per connection");
  }

  @Test
  void onSyncedComesWithTheWelcomeWhenNothingIsToCatchUp() {
    connected(0);

    assertEquals(1, listener.synced);
  }

  @Test
  void aConnectionLostBeforeCatchingUpIsNotSyncedAndTheNextOneIs() {
    engine.connect();
    FakeChannel first = connector.last().open();
    first.receive(welcome(0, syncTo("cart", DocumentSync.Mode.DELTAS, 2)));
    first.receive(delta("cart", EPOCH, 1, set("f", "1")));

    engine.dropConnection();
    assertTrue(first.aborted, "the connection is reset, not closed with a close frame");
    first.closeWith(1006, "reset");
    assertEquals(ConnectionState.RECONNECTING, engine.state());
    scheduler.runPending();
    FakeChannel second = connector.last().open();
    assertEquals(1, second.drain().get(0).getHello().getPositions(0).getVersion());
    second.receive(welcome(0, syncTo("cart", DocumentSync.Mode.DELTAS, 2)));
    assertEquals(0, listener.synced);
    second.receive(delta("cart", EPOCH, 2, set("f", "2")));

    assertEquals(1, listener.synced);
  }

  // ---- writes and acks ----

  @Test
  void ackAppliesOwnOpsWhenContiguous() {
    FakeChannel channel = connected(0);
    seed(channel, "cart", 2);
    listener.changes.clear();
    Document cart = engine.document("cart");

    CompletableFuture<Long> written = cart.edit().set("a", bytes("1")).remove("f").commit();
    Write write = write(channel.drain().get(0));
    assertEquals(1, write.getClientSeq());
    assertEquals(2, cart.version(), "the replica changes only when the server accepts");
    channel.receive(ack("cart", write.getClientSeq(), EPOCH, 3));

    assertEquals(3L, written.join());
    assertEquals(3, cart.version());
    assertEquals(Map.of("a", bytes("1")), cart.fields());
    assertEquals(List.of(DocumentChange.Kind.OWN_WRITE), kinds());
    assertEquals(Frames.DEVICE, listener.changes.get(0).originDevice());
    assertEquals(1, listener.changes.get(0).originSeq());
  }

  @Test
  void ackBeyondTheNextVersionIsNotAppliedAndDoesNotResync() {
    FakeChannel channel = connected(0);
    seed(channel, "cart", 2);
    listener.changes.clear();
    Document cart = engine.document("cart");

    CompletableFuture<Long> written = cart.set("mine", bytes("x"));
    channel.drain();
    channel.receive(ack("cart", 1, EPOCH, 5));

    assertEquals(5L, written.join());
    assertEquals(2, cart.version());
    assertNull(cart.get("mine"));
    assertTrue(listener.changes.isEmpty());
    assertTrue(channel.drain().isEmpty(), "the server pushes the missing deltas by itself");
  }

  @Test
  void ackForAVersionAlreadyAppliedChangesNothing() {
    FakeChannel channel = connected(0);
    Document cart = engine.document("cart");
    CompletableFuture<Long> written = cart.set("mine", bytes("x"));
    channel.drain();
    channel.receive(delta("cart", EPOCH, 1, set("mine", "x")));
    channel.receive(delta("cart", EPOCH, 2, set("other", "y")));
    listener.changes.clear();

    channel.receive(ack("cart", 1, EPOCH, 1));

    assertEquals(1L, written.join());
    assertEquals(2, cart.version());
    assertTrue(listener.changes.isEmpty());
  }

  @Test
  void deltaOfOwnWriteCompletesThePendingWrite() {
    FakeChannel channel = connected(0);
    CompletableFuture<Long> written = engine.document("cart").set("mine", bytes("x"));
    channel.drain();

    channel.receive(delta("cart", EPOCH, 1, Frames.DEVICE, 1, set("mine", "x")));

    assertEquals(1L, written.join());
    channel.receive(ack("cart", 1, EPOCH, 1));
    assertEquals(List.of(DocumentChange.Kind.DELTA), kinds());
  }

  @Test
  void withDurableAcksTheOwnDeltaDoesNotSettleTheWriteButItsAckDoes() {
    engine.connect();
    FakeChannel channel = connector.last().open();
    channel.receive(welcome(Frames.welcomeBuilder(0).setDurableAckReplicas(1)));
    channel.drain();
    CompletableFuture<Long> written = engine.document("cart").set("mine", bytes("x"));
    channel.drain();

    channel.receive(delta("cart", EPOCH, 1, Frames.DEVICE, 1, set("mine", "x")));
    assertFalse(written.isDone(), "applied, not yet on the replicas");
    assertEquals(1, engine.document("cart").version(), "the replica shows it at once");

    channel.receive(ack("cart", 1, EPOCH, 1));
    assertEquals(1L, written.join());
  }

  @Test
  void withDurableAcksAnUnconfirmedWriteIsResentWithItsNumberUntilItsAckComes() {
    engine.connect();
    FakeChannel channel = connector.last().open();
    channel.receive(welcome(Frames.welcomeBuilder(0).setDurableAckReplicas(1)));
    channel.drain();
    CompletableFuture<Long> written = engine.document("cart").set("mine", bytes("x"));
    Write first = write(channel.drain().get(0));
    channel.receive(delta("cart", EPOCH, 1, Frames.DEVICE, 1, set("mine", "x")));
    channel.receive(
        ServerFrame.newBuilder()
            .setError(
                io.handoff.protocol.v1.Error.newBuilder()
                    .setCode(ErrorCode.OUTCOME_UNKNOWN)
                    .setClientSeq(1)
                    .setRetryable(true))
            .build());
    assertFalse(written.isDone());
    scheduler.runPending();
    Write again = write(channel.drain().get(0));
    assertEquals(first, again, "re-sent as it was, same client_seq");
    channel.receive(ack("cart", 1, EPOCH, 1));
    assertEquals(1L, written.join());
  }

  @Test
  void writesWaitForTheWelcomeAndAreNumberedAboveLastClientSeq() {
    CompletableFuture<Long> first = engine.document("cart").set("a", bytes("1"));
    engine.connect();
    FakeChannel channel = connector.last().open();
    CompletableFuture<Long> second = engine.document("player").set("b", bytes("2"));
    assertEquals(1, channel.drain().size(), "only the Hello goes out before the Welcome");

    channel.receive(welcome(41));

    List<ClientFrame> sent = channel.drain();
    assertEquals(List.of(42L, 43L), seqs(sent));
    assertEquals("a", write(sent.get(0)).getOps(0).getField());
    assertFalse(first.isDone() || second.isDone());
  }

  @Test
  void aDocumentsNextWriteIsSentOnlyOnceTheEarlierOneIsAcked() {
    FakeChannel channel = connected(0);
    Document cart = engine.document("cart");

    CompletableFuture<Long> a = cart.set("f", bytes("1"));
    CompletableFuture<Long> b = cart.set("f", bytes("2"));
    CompletableFuture<Long> other = engine.document("player").set("t", bytes("9"));

    List<ClientFrame> first = channel.drain();
    assertEquals(List.of(1L, 2L), seqs(first), "cart's first write, then player's");
    assertEquals("player", write(first.get(1)).getDocument());
    channel.receive(ack("cart", 1, EPOCH, 1));
    List<ClientFrame> next = channel.drain();
    assertEquals(List.of(3L), seqs(next));
    assertEquals(bytes("2"), write(next.get(0)).getOps(0).getSet());
    channel.receive(ack("cart", 3, EPOCH, 2));
    channel.receive(ack("player", 2, OTHER_EPOCH, 1));
    assertEquals(List.of(1L, 2L, 1L), List.of(a.join(), b.join(), other.join()));
  }

  @Test
  void pendingWritesAreResentWithOriginalSeqsAfterReconnect() {
    FakeChannel first = connected(0);
    CompletableFuture<Long> a = engine.document("cart").set("a", bytes("1"));
    CompletableFuture<Long> b =
        engine.document("player").edit().set("b", bytes("2")).expectVersion(0).commit();
    List<ClientFrame> original = first.drain();
    assertEquals(List.of(1L, 2L), seqs(original));

    first.closeWith(4001, "slow consumer");
    assertEquals(ConnectionState.RECONNECTING, engine.state());
    CompletableFuture<Long> c = engine.document("cart").set("c", bytes("3"));
    CompletableFuture<Long> d = engine.document("ui").set("d", bytes("4"));
    scheduler.runPending();
    FakeChannel second = connector.last().open();
    second.drain();
    second.receive(welcome(10));

    List<ClientFrame> resent = second.drain();
    assertEquals(original, resent.subList(0, 2), "re-sent writes are the same frames, same seqs");
    assertEquals(List.of(1L, 2L, 11L), seqs(resent), "cart's next write waits for its first");
    assertEquals("ui", write(resent.get(2)).getDocument());
    assertEquals(0, write(resent.get(1)).getExpectedVersion());
    assertEquals(2, engine.writesResent());

    second.receive(ack("cart", 1, EPOCH, 1));
    assertEquals(List.of(12L), seqs(second.drain()));
    second.receive(ack("player", 2, EPOCH, 1));
    second.receive(ack("ui", 11, EPOCH, 1));
    second.receive(ack("cart", 12, EPOCH, 2));
    assertEquals(List.of(1L, 1L, 2L, 1L), List.of(a.join(), b.join(), c.join(), d.join()));
    assertEquals(2, engine.document("cart").version());
  }

  @Test
  void writesOfOneDocumentKeepTheirOrderThroughARefusalAndAReconnect() {
    FakeChannel first = connected(0);
    Document cart = engine.document("cart");
    CompletableFuture<Long> older = cart.set("f", bytes("older"));
    CompletableFuture<Long> newer = cart.set("f", bytes("newer"));
    ClientFrame sent = first.drain().get(0);
    assertEquals(1, write(sent).getClientSeq());

    first.receive(Frames.error(ErrorCode.UNAVAILABLE, "cart", 1, true, 0));
    assertTrue(first.drain().isEmpty(), "the newer write does not overtake the refused one");
    scheduler.runPending();
    assertEquals(List.of(sent), first.drain(), "re-sent after the backoff, same seq");
    first.closeWith(1006, "reset");
    CompletableFuture<Long> newest = cart.set("f", bytes("newest"));
    scheduler.runPending();
    FakeChannel second = connector.last().open();
    second.receive(welcome(1));

    List<ClientFrame> afterReconnect = second.drain();
    assertEquals(List.of(sent), afterReconnect.subList(1, afterReconnect.size()));
    second.receive(ack("cart", 1, EPOCH, 1));
    ClientFrame second1 = second.drain().get(0);
    assertEquals(bytes("newer"), write(second1).getOps(0).getSet());
    assertEquals(2, write(second1).getClientSeq());
    second.receive(ack("cart", 2, EPOCH, 2));
    ClientFrame third = second.drain().get(0);
    assertEquals(bytes("newest"), write(third).getOps(0).getSet());
    second.receive(ack("cart", 3, EPOCH, 3));
    assertEquals(List.of(1L, 2L, 3L), List.of(older.join(), newer.join(), newest.join()));
    assertEquals(bytes("newest"), cart.get("f"));
  }

  @Test
  void inFlightWindowIsTheSmallerOfTheClientAndServerLimits() {
    engine = engine(b -> b.maxInFlightWrites(3));
    engine.connect();
    FakeChannel channel = connector.last().open();
    channel.receive(welcome(Frames.welcomeBuilder(0).setMaxInFlightWrites(2)));
    channel.drain();

    for (int i = 0; i < 4; i++) {
      engine.document("doc" + i).set("f", bytes("v" + i));
    }
    assertEquals(List.of(1L, 2L), seqs(channel.drain()));

    channel.receive(ack("doc0", 1, EPOCH, 1));
    assertEquals(List.of(3L), seqs(channel.drain()));
  }

  @Test
  void resentWritesGoBeforeNewOnesWhenTheWindowIsSmall() {
    engine = engine(b -> b.maxInFlightWrites(1));
    FakeChannel first = connected(0);
    engine.document("cart").set("f", bytes("1"));
    assertEquals(List.of(1L), seqs(first.drain()));
    first.closeWith(1006, null);
    engine.document("player").set("f", bytes("2"));
    scheduler.runPending();
    FakeChannel second = connector.last().open();
    second.receive(welcome(0));

    assertEquals(List.of(1L), seqs(second.drain().subList(1, 2)));
    second.receive(ack("cart", 1, EPOCH, 1));
    assertEquals(List.of(2L), seqs(second.drain()));
  }

  @Test
  void aWritePastTheMemoryBoundFailsAtOnceAndEarlierOnesKeepTheirPlace() {
    long oneWrite = oneWriteBytes();
    engine = engine(b -> b.maxUnackedWriteBytes(2 * oneWrite));
    Document cart = engine.document("cart");

    CompletableFuture<Long> first = cart.set("f", bytes("1"));
    CompletableFuture<Long> second = cart.set("f", bytes("2"));
    CompletableFuture<Long> third = cart.set("f", bytes("3"));

    assertFalse(first.isDone() || second.isDone(), "within the bound: held, not failed");
    HandoffException e = failure(third);
    assertEquals(ErrorCode.LIMIT_EXCEEDED, e.errorCode());
    assertFalse(e.mayHaveBeenApplied(), "refused before it was ever sent");
    assertTrue(e.getMessage().contains("maxUnackedWriteBytes=" + 2 * oneWrite), e.getMessage());

    engine.connect();
    FakeChannel channel = connector.last().open();
    channel.receive(welcome(0));
    List<ClientFrame> sent = channel.drain();
    assertEquals(2, sent.size(), "the Hello, then one write of the document at a time");
    channel.receive(ack("cart", 1, EPOCH, 1));
    assertEquals(1L, first.join());
    CompletableFuture<Long> fourth = cart.set("f", bytes("4"));
    assertFalse(fourth.isDone(), "an ack made room again");
    channel.receive(ack("cart", 2, EPOCH, 2));
    channel.receive(ack("cart", 3, EPOCH, 3));
    assertEquals(List.of(2L, 3L), List.of(second.join(), fourth.join()));
  }

  /** The bytes one small write of "cart" counts against the memory bound. */
  private long oneWriteBytes() {
    return new PendingWrite(
            engine.document("cart"),
            List.of(set("f", "1")),
            SyncEngine.NO_EXPECTED_VERSION,
            new CompletableFuture<>())
        .bytes;
  }

  @Test
  void writesWaitingForABusyEventLoopCountAgainstTheMemoryBound() {
    long oneWrite = oneWriteBytes();
    // The loop runs nothing until told: the writes wait in its task queue, as behind a listener
    // that blocks it.
    ArrayDeque<Runnable> loop = new ArrayDeque<>();
    SyncEngine busy = engine(b -> b.maxUnackedWriteBytes(2 * oneWrite), loop::add);
    Document cart = busy.document("cart");
    List<CompletableFuture<Long>> writes = new ArrayList<>();
    for (int i = 0; i < 100; i++) {
      writes.add(cart.set("f", bytes(Integer.toString(i % 10))));
    }
    assertFalse(writes.get(0).isDone() || writes.get(1).isDone(), "within the bound: held");
    for (CompletableFuture<Long> w : writes.subList(2, 100)) {
      assertEquals(ErrorCode.LIMIT_EXCEEDED, failure(w).errorCode(), "refused before the hop");
    }
    assertEquals(2, loop.size(), "only the writes within the bound wait for the loop");
    while (!loop.isEmpty()) {
      loop.poll().run();
    }
    assertFalse(writes.get(0).isDone() || writes.get(1).isDone(), "queued, not failed");
  }

  @Test
  void writeOverTheServerFrameLimitFailsWithoutBeingSent() {
    engine.connect();
    FakeChannel channel = connector.last().open();
    channel.receive(welcome(Frames.welcomeBuilder(0).setMaxFrameBytes(64)));
    channel.drain();

    CompletableFuture<Long> big = engine.document("cart").set("f", new byte[100]);
    CompletableFuture<Long> small = engine.document("cart").set("f", new byte[4]);

    assertEquals(ErrorCode.LIMIT_EXCEEDED, failure(big).errorCode());
    assertEquals(List.of(2L), seqs(channel.drain()));
    assertFalse(small.isDone());
  }

  // ---- errors ----

  @Test
  void retryableErrorResendsTheSameFrameAfterABackoff() {
    FakeChannel channel = connected(0);
    CompletableFuture<Long> written = engine.document("cart").set("f", bytes("1"));
    ClientFrame original = channel.drain().get(0);

    channel.receive(Frames.error(ErrorCode.UNAVAILABLE, "cart", 1, true, 0));
    assertTrue(channel.drain().isEmpty(), "not re-sent before the backoff");
    assertEquals(1, scheduler.pending().size());
    scheduler.runPending();

    assertEquals(List.of(original), channel.drain());
    channel.receive(ack("cart", 1, EPOCH, 1));
    assertEquals(1L, written.join());
  }

  @Test
  void unknownAndUnavailableOutcomesAreResentWithoutARetryLimitAndWithAShortBackoff() {
    engine =
        engine(
            b ->
                b.reconnectBackoff(Duration.ofMillis(100), Duration.ofSeconds(60))
                    .unavailableBackoffMax(Duration.ofSeconds(2)));
    FakeChannel channel = connected(0);
    CompletableFuture<Long> written = engine.document("cart").set("f", bytes("1"));
    ClientFrame original = channel.drain().get(0);

    for (int i = 0; i < 50; i++) {
      ErrorCode code = i % 2 == 0 ? ErrorCode.OUTCOME_UNKNOWN : ErrorCode.UNAVAILABLE;
      channel.receive(Frames.error(code, "cart", 1, true, 0));
      assertEquals(1, scheduler.pending().size());
      assertTrue(
          scheduler.pending().get(0).delayNanos <= Duration.ofSeconds(1).toNanos(),
          "half (the test's jitter) of the 2 s cap at most");
      scheduler.runPending();
      assertEquals(List.of(original), channel.drain(), "the same frame, the same seq");
    }
    assertFalse(written.isDone(), "never reported failed");
    assertEquals(50, engine.writesResent());
    channel.receive(ack("cart", 1, EPOCH, 1));
    assertEquals(1L, written.join());
    assertTrue(listener.errors.isEmpty());
  }

  @Test
  void internalErrorsFailTheWriteAndAForgottenNumberNothingWasAppliedUnderIsReplaced() {
    FakeChannel channel = connected(0);
    Document cart = engine.document("cart");
    CompletableFuture<Long> a = cart.set("f", bytes("1"));
    CompletableFuture<Long> b = cart.set("f", bytes("2"));
    CompletableFuture<Long> c = cart.set("f", bytes("3"));
    channel.drain();

    channel.receive(Frames.error(ErrorCode.INTERNAL, "cart", 1, true, 0));
    assertEquals(ErrorCode.INTERNAL, failure(a).errorCode());
    assertEquals(List.of(2L), seqs(channel.drain()));
    // Refused for now, then forgotten (the server handled a thousand later writes meanwhile): no
    // answer ever said it might be applied, so it goes again under a new number, still before c.
    channel.receive(Frames.error(ErrorCode.RATE_LIMITED, "cart", 2, true, 0));
    scheduler.runPending();
    assertEquals(List.of(2L), seqs(channel.drain()));
    channel.receive(Frames.error(ErrorCode.STALE_SEQUENCE, "cart", 2, false, 0));
    assertEquals(List.of(3L), seqs(channel.drain()), "b under a new number");
    assertFalse(b.isDone());
    channel.receive(ack("cart", 3, EPOCH, 1));
    assertEquals(1L, b.join());
    assertEquals(List.of(4L), seqs(channel.drain()), "then c");
    assertEquals(1, engine.writesRenumbered());

    channel.closeWith(1006, "reset");
    scheduler.runPending();
    FakeChannel second = connector.last().open();
    second.receive(welcome(3));
    second.drain();
    second.receive(Frames.error(ErrorCode.STALE_SEQUENCE, "cart", 4, false, 0));
    assertTrue(
        failure(c).mayHaveBeenApplied(), "its first answer was lost: it may have been applied");
  }

  /**
   * A refusal the store made with no record of this device's writes covers that send only: a write
   * whose first answer was lost (the store may have applied it before the device's record expired)
   * is given up on as "may have been applied"; one every answer of which said "not applied" is
   * refused for certain.
   */
  @Test
  void aRefusalMadeWithoutARecordOfTheDeviceFailsAWriteWhoseFateWasOnceUnknownAsMaybeApplied() {
    FakeChannel channel = connected(0);
    CompletableFuture<Long> lost = engine.document("cart").set("f", bytes("1"));
    assertEquals(List.of(1L), seqs(channel.drain()));
    channel.closeWith(1006, "reset");
    scheduler.runPending();
    FakeChannel second = connector.last().open();
    assertTrue(second.drain().get(0).hasHello());
    second.receive(welcome(0)); // The store forgot the device.
    assertEquals(List.of(1L), seqs(second.drain()), "re-sent with its number");
    CompletableFuture<Long> fresh = engine.document("list").set("f", bytes("2"));
    assertEquals(List.of(2L), seqs(second.drain()));

    second.receive(unrecorded(Frames.error(ErrorCode.LIMIT_EXCEEDED, "cart", 1, false, 0)));
    second.receive(unrecorded(Frames.error(ErrorCode.LIMIT_EXCEEDED, "list", 2, false, 0)));

    HandoffException maybe = failure(lost);
    assertEquals(ErrorCode.LIMIT_EXCEEDED, maybe.errorCode());
    assertTrue(maybe.mayHaveBeenApplied(), "its first send may have been applied");
    HandoffException refused = failure(fresh);
    assertEquals(ErrorCode.LIMIT_EXCEEDED, refused.errorCode());
    assertFalse(refused.mayHaveBeenApplied(), "sent once, refused: certainly not applied");
  }

  /** {@code frame}'s Error, marked as made with no record of the device's writes. */
  private static ServerFrame unrecorded(ServerFrame frame) {
    return frame.toBuilder().setError(frame.getError().toBuilder().setNoWriteRecord(true)).build();
  }

  @Test
  void conflictFailsTheWriteWithTheCurrentVersion() {
    FakeChannel channel = connected(0);
    CompletableFuture<Long> written =
        engine.document("cart").edit().set("f", bytes("1")).expectVersion(41).commit();
    channel.drain();

    channel.receive(Frames.error(ErrorCode.CONFLICT, "cart", 1, false, 43));

    HandoffException e = failure(written);
    assertEquals(ErrorCode.CONFLICT, e.errorCode());
    assertEquals(43, e.currentVersion());
    assertEquals("cart", e.document());
    assertTrue(e.getMessage().contains("CONFLICT on document 'cart'"), e.getMessage());
  }

  @Test
  void errorWithoutAClientSeqGoesToTheListener() {
    FakeChannel channel = connected(0);

    channel.receive(Frames.error(ErrorCode.BAD_REQUEST, "", 0, false, 0));

    assertEquals(1, listener.errors.size());
    assertEquals(ErrorCode.BAD_REQUEST, listener.errors.get(0).errorCode());
  }

  // ---- closing ----

  @Test
  void reconnectCodeSchedulesAReconnectWithBackoff() {
    FakeChannel channel = connected(0);

    channel.closeWith(4000, "draining");

    assertEquals(ConnectionState.RECONNECTING, engine.state());
    assertEquals(1, connector.attempts.size());
    assertEquals(1, scheduler.pending().size());
    assertEquals(BACKOFF_INITIAL_NANOS / 2, scheduler.pending().get(0).delayNanos);
    scheduler.runPending();
    assertEquals(2, connector.attempts.size());
    connector.last().closeWith(1006, "refused");
    assertEquals(BACKOFF_INITIAL_NANOS, scheduler.pending().get(0).delayNanos);
    assertEquals(
        new RecordingListener.StateChange(ConnectionState.RECONNECTING, 4000, "draining"),
        listener.states.get(2));
  }

  @Test
  void whatTheOthersDoIsTheWelcomesWhenConnectedIsToldAndWhatACutShortWelcomeHadToTellIsToldNext() {
    List<String> heard = new ArrayList<>();
    OfferListener offers =
        new OfferListener() {
          @Override
          public void onActivity(String deviceId, io.handoff.protocol.v1.Activity activity) {
            heard.add(deviceId + " " + (activity == null ? "none" : activity.getTitle()));
          }
        };
    boolean[] cut = {true};
    HandoffListener atConnected =
        new HandoffListener() {
          @Override
          public void onStateChanged(ConnectionState state, int closeCode, String reason) {
            if (state == ConnectionState.CONNECTED) {
              heard.add("CONNECTED holding " + engine.handoff.activities.keySet());
              if (cut[0]) {
                cut[0] = false;
                connector.last().closeWith(1006, "cut"); // Before the Welcome's news is told.
              }
            }
          }
        };
    engine = engine(b -> b.listener(atConnected).offerListener(offers));
    io.handoff.protocol.v1.Activity watching =
        io.handoff.protocol.v1.Activity.newBuilder()
            .setDeviceId("tv")
            .setTitle("Episode 3")
            .build();
    engine.connect();
    connector.last().open().receive(welcome(Frames.welcomeBuilder(0).addActivities(watching)));
    assertEquals(List.of("CONNECTED holding [tv]"), heard);

    scheduler.runPending();
    connector.last().open().receive(welcome(Frames.welcomeBuilder(0).addActivities(watching)));
    assertEquals(
        List.of("CONNECTED holding [tv]", "CONNECTED holding [tv]", "tv Episode 3"), heard);
  }

  @Test
  void storeUnavailableCloseReconnectsWithinTheShortBackoff() {
    engine =
        engine(
            b ->
                b.reconnectBackoff(Duration.ofMillis(100), Duration.ofSeconds(60))
                    .unavailableBackoffMax(Duration.ofSeconds(2)));
    engine.connect();
    for (int i = 0; i < 12; i++) {
      connector.last().open().closeWith(1006, "refused");
      scheduler.runPending();
    }
    connector.last().open().closeWith(1006, "refused");
    long longDelay = scheduler.pending().get(0).delayNanos;
    scheduler.runPending();

    connector.last().open().closeWith(4005, "store unavailable during resume");

    assertTrue(longDelay >= Duration.ofSeconds(10).toNanos(), "the usual backoff has grown");
    assertEquals(
        Duration.ofSeconds(1).toNanos(),
        scheduler.pending().get(0).delayNanos,
        "half (the test's jitter) of the 2 s cap");
  }

  @Test
  void eachFailedAttemptAndLostConnectionMovesToTheNextUrl() {
    URI a = URI.create("ws://a.example:8080/ws");
    URI b = URI.create("ws://b.example:8080/ws");
    URI c = URI.create("ws://c.example:8080/ws");
    engine = engine(builder -> builder.urls(List.of(a, b, c)));
    engine.connect();
    connector.last().open().closeWith(1006, "refused");
    scheduler.runPending();
    FakeChannel onB = connector.last().open();
    onB.receive(welcome(0));
    onB.closeWith(4000, "shutting down");
    scheduler.runPending();
    connector.last().open().closeWith(1006, "refused");
    scheduler.runPending();

    assertEquals(List.of(a, b, c, a), connector.endpoints);
  }

  @Test
  void theBackoffStartsOverOnlyAfterAConnectionThatLasted() {
    FakeChannel channel = connected(0);
    channel.closeWith(4000, "draining");
    scheduler.runPending();
    connector.last().closeWith(1006, null);
    scheduler.runPending();
    FakeChannel third = connector.last().open();
    third.receive(welcome(0));
    third.closeWith(4000, "welcomed, then dropped at once");
    assertEquals(
        2 * BACKOFF_INITIAL_NANOS,
        scheduler.pending().get(0).delayNanos,
        "a node that welcomes and drops at once is not called back sooner and sooner");

    scheduler.runPending();
    FakeChannel fourth = connector.last().open();
    fourth.receive(welcome(0));
    nanos.addAndGet(Reconnects.STABLE_CONNECTION_NANOS);
    fourth.closeWith(4000, "draining after a while");
    assertEquals(BACKOFF_INITIAL_NANOS / 2, scheduler.pending().get(0).delayNanos);
  }

  @Test
  void terminalCloseFailsPendingWritesAndConnect() {
    CompletableFuture<Void> connected = engine.connect();
    CompletableFuture<Long> written = engine.document("cart").set("f", bytes("1"));
    FakeChannel channel = connector.last().open();

    channel.closeWith(4502, "bad token");

    assertEquals(ConnectionState.CLOSED, engine.state());
    assertEquals(4502, failure(connected).closeCode());
    HandoffException e = failure(written);
    assertEquals(4502, e.closeCode());
    assertTrue(e.getMessage().contains("UNAUTHORIZED"), e.getMessage());
    assertTrue(scheduler.pending().isEmpty(), "no reconnect after a terminal code");
  }

  @Test
  void terminalCloseAfterWelcomeFailsInFlightWritesSayingTheyMayHaveBeenApplied() {
    FakeChannel channel = connected(0);
    CompletableFuture<Long> written = engine.document("cart").set("f", bytes("1"));
    CompletableFuture<Long> waiting = engine.document("cart").set("f", bytes("2"));

    channel.closeWith(4503, "revoked");

    HandoffException sent = failure(written);
    assertEquals(4503, sent.closeCode());
    assertTrue(sent.mayHaveBeenApplied(), sent.getMessage());
    assertFalse(failure(waiting).mayHaveBeenApplied(), "never sent");
    assertEquals(
        new RecordingListener.StateChange(ConnectionState.CLOSED, 4503, "revoked"),
        listener.states.get(listener.states.size() - 1));
  }

  @Test
  void disconnectFrameGivesTheCodeWhenTheCloseFrameIsMissing() {
    FakeChannel channel = connected(0);

    channel.receive(Frames.disconnect(4504, "replaced"));
    channel.closeWith(1006, null);

    assertEquals(ConnectionState.CLOSED, engine.state());
    assertTrue(scheduler.pending().isEmpty());
  }

  @Test
  void clientCloseFailsPendingWritesAndStopsReconnecting() {
    FakeChannel channel = connected(0);
    CompletableFuture<Long> written = engine.document("cart").set("f", bytes("1"));
    channel.closeWith(4000, "draining");

    engine.close();

    assertEquals(ConnectionState.CLOSED, engine.state());
    HandoffException e = failure(written);
    assertEquals(0, e.closeCode());
    assertNull(e.errorCode());
    assertTrue(scheduler.pending().isEmpty(), "the reconnect is cancelled");
    assertTrue(failure(engine.connect()).getMessage().contains("closed"));
    assertTrue(
        failure(engine.document("cart").set("f", bytes("2"))).getMessage().contains("closed"));
  }

  @Test
  void aCloseFromTheListenerOfReconnectingLeavesNoReconnectScheduled() {
    engine =
        engine(
            b ->
                b.listener(
                    new HandoffListener() {
                      @Override
                      public void onStateChanged(
                          ConnectionState state, int closeCode, String reason) {
                        if (state == ConnectionState.RECONNECTING) {
                          engine.close();
                        }
                      }
                    }));
    FakeChannel channel = connected(0);

    channel.closeWith(4000, "draining");

    assertEquals(ConnectionState.CLOSED, engine.state());
    assertTrue(scheduler.pending().isEmpty(), "no reconnect after the close");
  }

  @Test
  void clientCloseClosesTheOpenConnection() {
    FakeChannel channel = connected(0);

    engine.close();

    assertTrue(channel.closed);
    assertEquals(ConnectionState.CLOSED, engine.state());
  }

  @Test
  void connectAgainAfterATerminalCloseStartsOver() {
    engine.connect();
    connector.last().open().closeWith(4502, "bad token");

    CompletableFuture<Void> again = engine.connect();
    connector.last().open().receive(welcome(0));

    assertEquals(2, connector.attempts.size());
    assertTrue(again.isDone() && !again.isCompletedExceptionally());
  }

  @Test
  void tokenSupplierFailureIsReportedAndRetried() {
    Connector failing =
        (url, l) -> {
          throw new IllegalStateException("token service down");
        };
    engine =
        new SyncEngine(
            new ClientConfig(
                HandoffClient.builder().url(URI.create("ws://h/ws")).listener(listener)),
            failing,
            scheduler,
            Runnable::run,
            new Backoff(BACKOFF_INITIAL_NANOS, BACKOFF_INITIAL_NANOS, () -> 0.5),
            () -> 0L);

    engine.connect();

    assertEquals(ConnectionState.RECONNECTING, engine.state());
    assertEquals(1, listener.errors.size());
    assertTrue(listener.errors.get(0).getMessage().contains("token service down"));
    assertEquals(1, scheduler.pending().size());
  }

  // ---- divergence ----

  private static ServerFrame fingerprinted(ServerFrame delta, long fingerprint, long previous) {
    return delta.toBuilder()
        .setDelta(
            delta.getDelta().toBuilder()
                .setFingerprint(fingerprint)
                .setPreviousFingerprint(previous))
        .build();
  }

  @Test
  void deltaWrittenOnAnotherHistoryIsNotAppliedButResyncsFromTheFingerprintedPosition() {
    FakeChannel channel = connected(0);
    channel.receive(fingerprinted(delta("cart", EPOCH, 1, set("f", "v1")), 11, 0));
    channel.receive(fingerprinted(delta("cart", EPOCH, 2, set("f", "v2")), 12, 11));
    channel.drain();

    // The server lost our v2 and wrote v3 on top of its own, other v2.
    channel.receive(fingerprinted(delta("cart", EPOCH, 3, set("f", "other")), 33, 22));

    List<ClientFrame> sent = channel.drain();
    assertEquals(1, sent.size(), () -> "expected one Resync, got " + sent);
    Position position = sent.get(0).getResync().getPositions(0);
    assertEquals(2, position.getVersion());
    assertEquals(12, position.getFingerprint());
    assertEquals(2, engine.lastVersion("cart"), "a delta of another history must not be applied");
    assertEquals(bytes("v2"), engine.document("cart").get("f"));

    channel.receive(
        snapshot("cart", EPOCH, 3, Map.of("f", bytes("other"))).toBuilder()
            .setSnapshot(
                Snapshot.newBuilder()
                    .setDocument("cart")
                    .setEpoch(EPOCH)
                    .setVersion(3)
                    .putFields("f", bytes("other"))
                    .setFingerprint(33)
                    .setReason(DocumentSync.Reason.DIVERGED))
            .build());
    channel.receive(fingerprinted(delta("cart", EPOCH, 4, set("f", "v4")), 44, 33));
    assertEquals(4, engine.lastVersion("cart"));
    assertEquals(bytes("v4"), engine.document("cart").get("f"));
    assertTrue(channel.drain().isEmpty(), "a delta on the snapshot's history applies");
  }

  @Test
  void aSnapshotOlderThanTheReplicaIsNotAppliedAndTheReplicaAsksFromItsOwnPosition() {
    FakeChannel channel = connected(0);
    seed(channel, "cart", 5);
    listener.changes.clear();

    // A read the server made before versions 4 and 5 reached this device.
    channel.receive(snapshot("cart", EPOCH, 3, Map.of("f", bytes("v3"))));

    assertEquals(5, engine.lastVersion("cart"), "the replica never goes back");
    assertEquals(bytes("v5"), engine.document("cart").get("f"));
    assertTrue(listener.changes.isEmpty(), () -> "no change: " + listener.changes);
    List<ClientFrame> sent = channel.drain();
    assertEquals(1, sent.size(), () -> "expected one Resync, got " + sent);
    assertEquals(5, sent.get(0).getResync().getPositions(0).getVersion());

    // At the replica's own version (same history): nothing changes, nothing is asked.
    channel.receive(snapshot("cart", EPOCH, 5, Map.of("f", bytes("v5"))));
    assertTrue(listener.changes.isEmpty(), () -> "no change: " + listener.changes);
    assertTrue(channel.drain().isEmpty());

    // The store lost versions 4 and 5: a DIVERGED snapshot goes back, and the device is told.
    channel.receive(
        ServerFrame.newBuilder()
            .setSnapshot(
                Snapshot.newBuilder()
                    .setDocument("cart")
                    .setEpoch(EPOCH)
                    .setVersion(3)
                    .putFields("f", bytes("v3"))
                    .setReason(DocumentSync.Reason.DIVERGED))
            .build());
    assertEquals(3, engine.lastVersion("cart"));
    assertEquals(List.of(DocumentChange.Kind.SNAPSHOT), kinds());
  }

  @Test
  void sameVersionWithAnotherFingerprintResyncsAndUnknownFingerprintsDoNot() {
    FakeChannel channel = connected(0);
    channel.receive(fingerprinted(delta("cart", EPOCH, 1, set("f", "v1")), 11, 0));
    channel.receive(delta("cart", EPOCH, 2, set("f", "v2"))); // From a server without them.
    assertEquals(2, engine.lastVersion("cart"));
    assertTrue(channel.drain().isEmpty());
    channel.receive(fingerprinted(delta("cart", EPOCH, 3, set("f", "v3")), 33, 22));
    assertEquals(3, engine.lastVersion("cart"), "an unknown fingerprint is no difference");

    channel.receive(fingerprinted(delta("cart", EPOCH, 3, set("f", "w3")), 99, 22));
    assertEquals(1, channel.drain().size(), "our v3 is not the server's v3");
  }
}
