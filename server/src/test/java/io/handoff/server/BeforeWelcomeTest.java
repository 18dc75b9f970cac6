package io.handoff.server;

import static io.handoff.server.TestServer.token;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.Ack;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.DocumentSync;
import io.handoff.protocol.v1.Follow;
import io.handoff.protocol.v1.FollowSpec;
import io.handoff.protocol.v1.Hello;
import io.handoff.protocol.v1.Position;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.protocol.v1.Unfollow;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.memory.MemoryEngine;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The frames a device gets for the document requests it sends right after its Hello, while the node
 * still reads its resume: its resume held in the node's line of resume reads ({@link
 * io.handoff.server.session.ResumeSlots}, one read at a time here, taken by another user's resume
 * whose answer the store holds), or its own resume's answer held by the store. The documents'
 * frames never come before the Welcome, and each version comes once, in order.
 */
class BeforeWelcomeTest extends OnGatedNode {
  @BeforeEach
  void start() throws Exception {
    startNode("a", b -> b.maxResumes(1, 4));
  }

  /**
   * A Follow sent with the Hello, while the resume waits its turn: its SyncReport and the deltas it
   * announces come after the Welcome, and the deltas of the document once, not once before the
   * Welcome (the Follow's answer) and again after it (the Welcome's, from the Hello's position).
   */
  @Test
  void aFollowSentWithTheHelloWhileTheResumeWaitsItsTurnIsAnsweredAfterTheWelcomeEachVersionOnce() {
    Ack first = writeThree("cart");
    holdTheLine();
    TestDevice d = device("d");
    Position held = cartAt(first, 1);
    long hello =
        d.send(
            ClientFrame.newBuilder()
                .setHello(
                    Hello.newBuilder()
                        .setFollow(FollowSpec.newBuilder().addDocuments("other"))
                        .addPositions(held)));
    long follow = d.send(followCart(held));
    List<ServerFrame> seen = new ArrayList<>(d.untilPong());

    engine.releaseSyncAnswers();
    seen.addAll(untilWelcome(d, hello));
    seen.addAll(d.untilPong());
    String order = describe(seen);

    int welcome = indexOf(seen, f -> f.hasWelcome() && f.getRequestId() == hello);
    assertTrue(welcome >= 0, order);
    for (int i = 0; i < welcome; i++) {
      ServerFrame f = seen.get(i);
      assertTrue(
          !f.hasDelta() && !f.hasSnapshot() && !f.hasSyncReport(),
          "no document frame before the Welcome: " + order);
    }
    assertTrue(
        indexOf(seen, f -> f.hasSyncReport() && f.getRequestId() == follow) > welcome, order);
    assertEquals(
        List.of(2L, 3L), cartDeltaVersions(seen), "cart's deltas, each once, in order: " + order);
  }

  /**
   * An Unfollow handled while the store reads the resume (its read made, its answer not yet here):
   * the Welcome says nothing of the unfollowed document and no frame of it follows the Unfollow's
   * answer, as after the Welcome.
   */
  @Test
  void anUnfollowHandledWhileTheResumeIsReadGetsNoFrameOfTheDocumentAfterItsAnswer() {
    writeThree("cart");
    engine.holdSyncAnswers();
    TestDevice d = device("d");
    long hello = helloWithItsResumeHeld(d);
    long unfollow =
        d.send(
            ClientFrame.newBuilder()
                .setUnfollow(
                    Unfollow.newBuilder().setSpec(FollowSpec.newBuilder().addPrefixes(""))));
    List<ServerFrame> seen = new ArrayList<>(d.untilPong());
    engine.releaseSyncAnswers();
    seen.addAll(untilWelcome(d, hello));
    seen.addAll(d.untilPong());
    String order = describe(seen);

    int answered = indexOf(seen, f -> f.hasSyncReport() && f.getRequestId() == unfollow);
    int welcome = indexOf(seen, f -> f.hasWelcome() && f.getRequestId() == hello);
    assertTrue(answered >= 0 && welcome > answered, order);
    assertEquals(0, seen.get(welcome).getWelcome().getSync().getDocumentsCount(), order);
    assertTrue(
        seen.stream().noneMatch(f -> f.hasSnapshot() || f.hasDelta()),
        "nothing of an unfollowed document: " + order);
  }

  /**
   * A Write sent with the Hello while the resume waits its turn: the store applies it at once, the
   * Welcome counts it and brings the document with it, and its Ack follows the Welcome.
   */
  @Test
  void aWriteSentWithTheHelloWhileTheResumeWaitsItsTurnIsAckedAfterTheWelcomeThatCountsIt() {
    holdTheLine();
    TestDevice d = device("d");
    long hello = d.send(ClientFrame.newBuilder().setHello(Hello.getDefaultInstance()));
    long write = d.send(Writes.frame("cart", 1, "item", "apple"));
    List<ServerFrame> seen = new ArrayList<>(d.untilPong());
    engine.releaseSyncAnswers();
    seen.addAll(untilWelcome(d, hello));
    seen.addAll(d.untilPong());
    String order = describe(seen);

    int welcome = indexOf(seen, f -> f.hasWelcome() && f.getRequestId() == hello);
    int ack = indexOf(seen, f -> f.hasAck() && f.getRequestId() == write);
    assertTrue(welcome >= 0 && ack > welcome, order);
    assertEquals(1, seen.get(welcome).getWelcome().getLastClientSeq(), order);
    DocumentSync cart = seen.get(welcome).getWelcome().getSync().getDocuments(0);
    assertEquals(1, cart.getToVersion(), order);
    assertEquals(1, seen.get(ack).getAck().getVersion(), order);
    assertEquals(
        1, seen.stream().filter(ServerFrame::hasSnapshot).count(), "one snapshot: " + order);
  }

  /**
   * A Write sent with the Hello, whose copy the stream has not brought when its answer's deadline
   * passes, still before the Welcome (the resume waits its turn): the document is not read for it
   * before the Welcome; the Welcome brings the document, and the Ack follows it.
   */
  @Test
  void aWriteWhoseDeadlinePassesBeforeTheWelcomeGetsNoDocumentFrameBeforeIt() throws Exception {
    FakeScheduler time = new FakeScheduler();
    StoreLimits limits = StoreLimits.builder().writeAnswerTimeout(Duration.ofSeconds(3)).build();
    engine = nodes.add(new GatedEngine(new MemoryEngine(limits, time.clock())));
    ServerConfig config =
        ServerConfig.builder()
            .host("127.0.0.1")
            .port(0)
            .nodeId("fake-time")
            .jwtSecret(TestServer.SECRET)
            .storeLimits(limits)
            .maxResumes(1, 4)
            .build();
    node = nodes.add(HandoffServer.start(config, engine, time));
    holdTheLine();
    TestDevice d = device("d");
    long hello = d.send(ClientFrame.newBuilder().setHello(Hello.getDefaultInstance()));
    long write = d.send(Writes.frame("cart", 1, "item", "apple"));
    List<ServerFrame> seen = new ArrayList<>(d.untilPong());
    time.advance(Duration.ofSeconds(4)); // The write's deadline passes, the resume still waiting.
    seen.addAll(d.untilPong());
    engine.releaseSyncAnswers();
    seen.addAll(untilWelcome(d, hello));
    seen.addAll(d.untilPong());
    String order = describe(seen);

    int welcome = indexOf(seen, f -> f.hasWelcome() && f.getRequestId() == hello);
    for (int i = 0; i < welcome; i++) {
      ServerFrame f = seen.get(i);
      assertTrue(
          !f.hasDelta() && !f.hasSnapshot() && !f.hasSyncReport() && !f.hasAck(),
          "no document frame before the Welcome: " + order);
    }
    assertTrue(indexOf(seen, f -> f.hasAck() && f.getRequestId() == write) > welcome, order);
    assertEquals(
        1, seen.stream().filter(ServerFrame::hasSnapshot).count(), "one snapshot: " + order);
  }

  /**
   * A Follow sent with the Hello waits for the Welcome; the node begins to drain before the resume
   * is answered. The Welcome's snapshot fills the socket's buffer past its high mark, so the Follow
   * cannot start at once: the drain still answers it before SHUTDOWN (it was read before the drain
   * began), once the socket takes frames again, rather than closing with it unanswered.
   */
  @Test
  void aFollowWaitingForTheWelcomeWhenTheNodeDrainsIsAnsweredBeforeShutdown() throws Exception {
    TestDevice w = device("w");
    w.hello();
    String big = "x".repeat(60_000);
    w.answerTo(w.send(Writes.frame("big", 1, "a", big)));
    w.answerTo(w.send(Writes.frame("big", 2, "b", big)));
    engine.holdSyncAnswers();
    TestDevice d = device("d");
    long hello = helloWithItsResumeHeld(d);
    long follow =
        d.send(
            ClientFrame.newBuilder()
                .setFollow(
                    Follow.newBuilder().setSpec(FollowSpec.newBuilder().addDocuments("other"))));
    d.untilPong(); // The Follow is read, and waits in its lane for the Welcome.

    // The drain reaches the user's loop before the resume's answer does: the loop is held while
    // the node queues its drain there (behind the two connections' drains, or the node's check
    // that the loops ran them), then the answer is handed over behind it.
    io.netty.util.concurrent.SingleThreadEventExecutor loop =
        (io.netty.util.concurrent.SingleThreadEventExecutor) node.hub().loopsOf("u").get(0);
    java.util.concurrent.CountDownLatch held = new java.util.concurrent.CountDownLatch(1);
    java.util.concurrent.CountDownLatch go = new java.util.concurrent.CountDownLatch(1);
    loop.execute(
        () -> {
          held.countDown();
          try {
            go.await();
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
        });
    held.await();
    int before = loop.pendingTasks();
    java.util.concurrent.CompletableFuture<Void> stopped =
        java.util.concurrent.CompletableFuture.runAsync(node::close);
    Conditions.await(
        "the drain queued on the user's loop",
        () -> loop.pendingTasks() >= before + 2,
        Duration.ofSeconds(10));
    engine.releaseSyncAnswers();
    go.countDown();

    List<ServerFrame> seen = new ArrayList<>();
    ServerFrame f;
    do {
      f = d.next();
      seen.add(f);
    } while (!f.hasDisconnect());
    String order = describe(seen);
    int welcome = indexOf(seen, x -> x.hasWelcome() && x.getRequestId() == hello);
    int answered = indexOf(seen, x -> x.hasSyncReport() && x.getRequestId() == follow);
    assertTrue(welcome >= 0, order);
    assertTrue(answered > welcome, "the Follow answered before SHUTDOWN: " + order);
    assertEquals(io.handoff.protocol.CloseCode.SHUTDOWN.code(), f.getDisconnect().getCode(), order);
    stopped.get(30, java.util.concurrent.TimeUnit.SECONDS);
  }

  /**
   * A Follow sent with the Hello, with the device's position of the document, while the resume is
   * read; another device writes the document meanwhile, so its Delta waits for the Welcome. After
   * the Welcome the Follow is read (the store's answer held a while) and the waiting Delta reaches
   * the session before that answer: the Follow's SyncReport still reports the document, from the
   * device's position, and the device gets each version after it once, as deltas; not a snapshot
   * read from no position and a report that leaves the document out.
   */
  @Test
  void aFollowWithAPositionWhoseDocumentIsWrittenDuringTheResumeGetsItsDeltasInItsReport() {
    writeThree("cart");
    TestDevice w = device("w2");
    w.hello();
    engine.holdSyncAnswers();
    TestDevice d = device("d");
    long hello =
        helloWithItsResumeHeld(
            d, Hello.newBuilder().setFollow(FollowSpec.newBuilder().addDocuments("other")).build());
    Ack fourth = w.answerTo(w.send(Writes.frame("cart", 1, "n", "4"))).getAck();
    Position held = cartAt(fourth, 4);
    long follow = d.send(followCart(held));
    List<ServerFrame> seen = new ArrayList<>(d.untilPong());
    w.answerTo(w.send(Writes.frame("cart", 2, "n", "5")));
    seen.addAll(d.untilPong());

    engine.holdReads();
    engine.releaseSyncAnswers();
    seen.addAll(untilWelcome(d, hello));
    Conditions.await(
        "the Follow's read held", () -> engine.heldReads() >= 1, Duration.ofSeconds(10));
    seen.addAll(d.untilPong()); // The Delta that waited for the Welcome reached the session.
    engine.releaseReads();
    seen.add(d.next(f -> f.hasSyncReport() && f.getRequestId() == follow));
    seen.addAll(d.untilPong());
    String order = describe(seen);

    ServerFrame report =
        seen.stream()
            .filter(f -> f.hasSyncReport() && f.getRequestId() == follow)
            .findFirst()
            .orElseThrow();
    assertEquals(1, report.getSyncReport().getDocumentsCount(), "cart reported: " + order);
    DocumentSync cart = report.getSyncReport().getDocuments(0);
    assertEquals(DocumentSync.Mode.DELTAS, cart.getMode(), order);
    assertEquals(4, cart.getFromVersion(), order);
    assertEquals(5, cart.getToVersion(), order);
    assertEquals(
        0, seen.stream().filter(ServerFrame::hasSnapshot).count(), "no snapshot: " + order);
    assertEquals(
        List.of(5L), cartDeltaVersions(seen), "cart's delta after its position, once: " + order);
  }

  /** A device of user u, connected to the node. */
  private TestDevice device(String name) {
    return nodes.add(TestDevice.connect(node.port(), token("u", name)));
  }

  /** Another device of the user writes {@code doc} three times; returns the first write's Ack. */
  private Ack writeThree(String doc) {
    TestDevice w = device("w");
    w.hello();
    Ack first = w.answerTo(w.send(Writes.frame(doc, 1, "n", "1"))).getAck();
    w.answerTo(w.send(Writes.frame(doc, 2, "n", "2")));
    w.answerTo(w.send(Writes.frame(doc, 3, "n", "3")));
    return first;
  }

  /**
   * The device's Hello is sent and its resume read, the answer held by the store until {@link
   * GatedEngine#releaseSyncAnswers()}; returns the Hello's request id.
   */
  private long helloWithItsResumeHeld(TestDevice d) {
    return helloWithItsResumeHeld(d, Hello.getDefaultInstance());
  }

  /** As {@link #helloWithItsResumeHeld(TestDevice)}, the Hello being {@code hello}. */
  private long helloWithItsResumeHeld(TestDevice d, Hello hello) {
    long id = d.send(ClientFrame.newBuilder().setHello(hello));
    Conditions.await(
        "the resume read, its answer held",
        () -> engine.heldSyncAnswers() == 1,
        Duration.ofSeconds(10));
    return id;
  }

  /** A Follow of cart from the device's position {@code held}. */
  private static ClientFrame.Builder followCart(Position held) {
    return ClientFrame.newBuilder()
        .setFollow(
            Follow.newBuilder()
                .setSpec(FollowSpec.newBuilder().addDocuments("cart"))
                .addPositions(held));
  }

  /** The versions of cart's deltas in {@code seen}, in order. */
  private static List<Long> cartDeltaVersions(List<ServerFrame> seen) {
    return seen.stream()
        .filter(f -> f.hasDelta() && f.getDelta().getDocument().equals("cart"))
        .map(f -> f.getDelta().getVersion())
        .toList();
  }

  /**
   * Another user's resume takes the node's one resume read, its answer held by the store: the next
   * Hello waits its turn in the line until {@link GatedEngine#releaseSyncAnswers()}.
   */
  private void holdTheLine() {
    engine.holdSyncAnswers();
    TestDevice other = nodes.add(TestDevice.connect(node.port(), token("x", "h")));
    other.send(ClientFrame.newBuilder().setHello(Hello.getDefaultInstance()));
    Conditions.await(
        "the other user's resume read, its answer held",
        () -> engine.heldSyncAnswers() == 1,
        Duration.ofSeconds(10));
  }

  /** The frames up to the Welcome answering {@code hello}, the Welcome last. */
  private static List<ServerFrame> untilWelcome(TestDevice d, long hello) {
    List<ServerFrame> seen = new ArrayList<>();
    while (true) {
      ServerFrame f = d.next();
      seen.add(f);
      if (f.hasWelcome() && f.getRequestId() == hello) {
        return seen;
      }
    }
  }

  private static int indexOf(
      List<ServerFrame> frames, java.util.function.Predicate<ServerFrame> p) {
    for (int i = 0; i < frames.size(); i++) {
      if (p.test(frames.get(i))) {
        return i;
      }
    }
    return -1;
  }

  private static String describe(List<ServerFrame> frames) {
    return frames.stream()
        .map(
            f ->
                switch (f.getBodyCase()) {
                  case DELTA ->
                      "Delta " + f.getDelta().getDocument() + " v" + f.getDelta().getVersion();
                  case SNAPSHOT ->
                      "Snapshot "
                          + f.getSnapshot().getDocument()
                          + " v"
                          + f.getSnapshot().getVersion();
                  case SYNC_REPORT ->
                      "SyncReport#"
                          + f.getRequestId()
                          + " "
                          + syncs(f.getSyncReport().getDocumentsList());
                  case WELCOME ->
                      "Welcome#"
                          + f.getRequestId()
                          + " "
                          + syncs(f.getWelcome().getSync().getDocumentsList());
                  default -> f.getBodyCase() + "#" + f.getRequestId();
                })
        .collect(Collectors.joining(", ", "[", "]"));
  }

  private static List<String> syncs(List<DocumentSync> documents) {
    return documents.stream()
        .map(
            s ->
                s.getDocument()
                    + " "
                    + s.getMode()
                    + " "
                    + s.getFromVersion()
                    + "->"
                    + s.getToVersion())
        .toList();
  }

  /** The position of cart at {@code version}, in the history of {@code ack}'s write. */
  private static Position cartAt(Ack ack, long version) {
    return Position.newBuilder()
        .setDocument("cart")
        .setEpoch(ack.getEpoch())
        .setVersion(version)
        .setFingerprint(ack.getFingerprint())
        .build();
  }
}
