package io.handoff.server;

import static io.handoff.server.TestServer.token;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.DocumentSync;
import io.handoff.protocol.v1.Follow;
import io.handoff.protocol.v1.FollowSpec;
import io.handoff.protocol.v1.Hello;
import io.handoff.protocol.v1.Position;
import io.handoff.protocol.v1.Resync;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.memory.MemoryEngine;
import io.handoff.server.engine.redis.RedisEngine;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import java.util.function.Predicate;
import java.util.stream.Collectors;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A read of a document that finds none (a Resync's, a Follow's, a read filling a gap) while another
 * device creates it: the store has made the read, and the creation's Delta reaches the reading
 * connection before the read's answer does (held meanwhile, as any event of a document being read).
 * The device still gets the new version 1 at once, as a Delta or a Snapshot, once, before the
 * document's next version; not only when the document is written again. On the in-memory store and
 * on Redis, whose answers and events come on other threads.
 */
class GoneWhileReadTest extends OnGatedNode {
  private static final Duration BOUND = Duration.ofSeconds(20);
  private static final Hello FOLLOWING_OTHER =
      Hello.newBuilder().setFollow(FollowSpec.newBuilder().addDocuments("other")).build();

  private void start(String store) throws Exception {
    StoreLimits limits = StoreLimits.builder().build();
    startNode(
        "a",
        store.equals("redis")
            ? RedisEngine.connect(RedisProcess.sharedUrl(), nodes.prefix, limits)
            : new MemoryEngine(limits),
        limits,
        b -> {});
  }

  /** A device of user u, connected to the node. */
  private TestDevice device(String device) {
    return nodes.add(TestDevice.connect(node.port(), token("u", device)));
  }

  /**
   * Another device of the user that writes cart and follows only another document: its writes are
   * acked as the store answers them, whatever its stream brings.
   */
  private TestDevice writer(String device) {
    TestDevice w = device(device);
    w.hello(FOLLOWING_OTHER);
    return w;
  }

  /**
   * A Resync of a document that does not exist: its SyncReport says GONE (the read found none), and
   * version 1, written while it was read, follows it.
   */
  @ParameterizedTest
  @ValueSource(strings = {"memory", "redis"})
  void aResyncOfADocumentCreatedWhileItIsReadIsFollowedByItsFirstVersion(String store)
      throws Exception {
    requestWhileCartIsCreated(
        store,
        Hello.getDefaultInstance(),
        ClientFrame.newBuilder()
            .setResync(Resync.newBuilder().addPositions(Position.newBuilder().setDocument("cart"))),
        GoneWhileReadTest::assertReportedGone);
  }

  /**
   * A Follow of a name that names no document: its SyncReport leaves it out (the device sent no
   * position of it), and version 1, written while it was read, follows it.
   */
  @ParameterizedTest
  @ValueSource(strings = {"memory", "redis"})
  void aFollowOfADocumentCreatedWhileItIsReadIsFollowedByItsFirstVersion(String store)
      throws Exception {
    requestWhileCartIsCreated(
        store,
        FOLLOWING_OTHER,
        ClientFrame.newBuilder()
            .setFollow(Follow.newBuilder().setSpec(FollowSpec.newBuilder().addDocuments("cart"))),
        seen ->
            assertEquals(
                0,
                seen.get(seen.size() - 1).getSyncReport().getDocumentsCount(),
                "no position of cart was sent, and the read found none: " + describe(seen)));
  }

  /**
   * The node reads a document to fill a gap (the broker lost a version), and the read finds none
   * (the user's data was erased meanwhile): the unasked SyncReport says GONE, and version 1 of the
   * document created again while it was read follows it.
   */
  @ParameterizedTest
  @ValueSource(strings = {"memory", "redis"})
  void aGapReadThatFindsNoDocumentCreatedAgainWhileItIsReadIsFollowedByItsFirstVersion(String store)
      throws Exception {
    start(store);
    TestDevice d = device("d");
    d.hello();
    TestDevice w = writer("w");
    assertTrue(w.answerTo(w.write("cart", 1, "n", "1")).hasAck());
    d.next(f -> f.hasDelta() && f.getDelta().getVersion() == 1);

    engine.dropNextEvent();
    assertTrue(w.answerTo(w.write("cart", 2, "n", "2")).hasAck());
    Conditions.await("v2 lost", engine::eventDropped, BOUND);
    engine.holdReads(); // The gap's read, unsent until the data is erased.
    assertTrue(w.answerTo(w.write("cart", 3, "n", "3")).hasAck());
    Conditions.await("the gap's read held", () -> engine.heldReads() == 1, BOUND);
    engine.store().erase("u").join();
    engine.holdReadAnswers(1);
    engine.releaseReads();

    // A device whose write sequence the erasure did not reset creates cart again.
    TestDevice w2 = writer("w2");
    List<ServerFrame> seen = createWhileTheReadIsHeld(d, w2, 1, 0);
    assertReportedGone(seen);

    assertFirstVersionThenTheNext(d, w2, 2, seen);
  }

  /**
   * On a node on {@code store}: device d (its Hello {@code hello}) sends {@code request}, whose
   * read of cart finds none, and w creates cart while the read's answer is held; {@code
   * checkReport} is given what d got up to the request's SyncReport, that last. Then d must get
   * version 1 at once, and the next.
   */
  private void requestWhileCartIsCreated(
      String store,
      Hello hello,
      ClientFrame.Builder request,
      Consumer<List<ServerFrame>> checkReport)
      throws Exception {
    start(store);
    TestDevice d = device("d");
    d.hello(hello);
    TestDevice w = writer("w");

    engine.holdReadAnswers(1);
    long id = d.send(request);
    List<ServerFrame> seen = createWhileTheReadIsHeld(d, w, 1, id);
    checkReport.accept(seen);

    assertFirstVersionThenTheNext(d, w, 2, seen);
  }

  /**
   * Once a read of cart is made and its answer held: {@code w} creates cart (its write {@code seq})
   * and its Delta reaches {@code d}'s session, held behind the read; then the answer is let go.
   * Returns what {@code d} got meanwhile (no frame of cart), then up to the read's SyncReport (that
   * of request {@code reportId}; 0: unasked).
   */
  private List<ServerFrame> createWhileTheReadIsHeld(
      TestDevice d, TestDevice w, long seq, long reportId) {
    Conditions.await("the read made, its answer held", () -> engine.heldReadAnswers() == 1, BOUND);
    int heard = engine.eventsHeard();
    ServerFrame created = w.answerTo(w.write("cart", seq, "n", "created"));
    assertEquals(1, created.getAck().getVersion(), created.toString());
    Conditions.await("the Delta of v1 reached the node", () -> engine.eventsHeard() > heard, BOUND);
    List<ServerFrame> seen = d.untilPong(); // It reached d's session, which holds it.
    assertEquals(
        0, seen.stream().filter(GoneWhileReadTest::ofCart).count(), "cart held: " + describe(seen));
    engine.releaseReadAnswers();
    seen.addAll(until(d, f -> f.hasSyncReport() && f.getRequestId() == reportId));
    return seen;
  }

  /** The read's SyncReport, last of {@code seen}, says GONE: it found no cart. */
  private static void assertReportedGone(List<ServerFrame> seen) {
    DocumentSync report = seen.get(seen.size() - 1).getSyncReport().getDocuments(0);
    assertEquals(DocumentSync.Mode.GONE, report.getMode(), "the read found no cart");
  }

  /**
   * After the answer: {@code d} gets cart at version 1 (a Delta or a Snapshot) without a further
   * write; then {@code w}'s next write (its {@code seq}) comes as Delta v2, and nothing of cart
   * comes twice.
   */
  private void assertFirstVersionThenTheNext(
      TestDevice d, TestDevice w, long seq, List<ServerFrame> seen) {
    seen.addAll(until(d, f -> ofCart(f) && !f.hasSyncReport()));
    ServerFrame first = seen.get(seen.size() - 1);
    long version =
        first.hasDelta() ? first.getDelta().getVersion() : first.getSnapshot().getVersion();
    assertEquals(1, version, "cart's version 1 came at once: " + describe(seen));

    assertEquals(2, w.answerTo(w.write("cart", seq, "n", "next")).getAck().getVersion());
    seen.addAll(until(d, f -> f.hasDelta() && f.getDelta().getVersion() == 2));
    seen.addAll(d.untilPong());
    List<String> cart =
        seen.stream()
            .filter(f -> ofCart(f) && !f.hasSyncReport())
            .map(GoneWhileReadTest::describe)
            .toList();
    assertEquals(2, cart.size(), "v1 then v2, each once: " + describe(seen));
    assertTrue(cart.get(1).equals("Delta cart v2"), describe(seen));
  }

  private static boolean ofCart(ServerFrame f) {
    return (f.hasDelta() && f.getDelta().getDocument().equals("cart"))
        || (f.hasSnapshot() && f.getSnapshot().getDocument().equals("cart"))
        || (f.hasSyncReport()
            && f.getSyncReport().getDocumentsList().stream()
                .anyMatch(s -> s.getDocument().equals("cart")));
  }

  /** The frames {@code d} gets up to the first that matches, that one last. */
  private static List<ServerFrame> until(TestDevice d, Predicate<ServerFrame> match) {
    List<ServerFrame> seen = new ArrayList<>();
    while (true) {
      ServerFrame f = d.next();
      seen.add(f);
      if (match.test(f)) {
        return seen;
      }
    }
  }

  private static String describe(List<ServerFrame> frames) {
    return frames.stream()
        .map(GoneWhileReadTest::describe)
        .collect(Collectors.joining(", ", "[", "]"));
  }

  private static String describe(ServerFrame f) {
    return switch (f.getBodyCase()) {
      case DELTA -> "Delta " + f.getDelta().getDocument() + " v" + f.getDelta().getVersion();
      case SNAPSHOT ->
          "Snapshot " + f.getSnapshot().getDocument() + " v" + f.getSnapshot().getVersion();
      case SYNC_REPORT ->
          "SyncReport#"
              + f.getRequestId()
              + " "
              + f.getSyncReport().getDocumentsList().stream()
                  .map(s -> s.getDocument() + " " + s.getMode())
                  .toList();
      default -> f.getBodyCase() + "#" + f.getRequestId();
    };
  }
}
