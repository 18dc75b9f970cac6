package io.handoff.server;

import static io.handoff.server.TestServer.token;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.DocumentSync;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.Follow;
import io.handoff.protocol.v1.FollowSpec;
import io.handoff.protocol.v1.Hello;
import io.handoff.protocol.v1.Ping;
import io.handoff.protocol.v1.Position;
import io.handoff.protocol.v1.Resync;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.protocol.v1.Snapshot;
import io.handoff.protocol.v1.SyncReport;
import io.handoff.server.transport.TransportConfig;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;

/**
 * Follow and Resync, the requests that read documents from the store: a Follow reads only what it
 * newly covers, a connection has one such read under way at a time (the rest wait, boundedly), and
 * they are rate limited per connection; none of it touches another connection. The node has one
 * event loop, as in the reported stall, so every device of these tests shares it. Real sockets, the
 * memory engine behind a {@link GatedEngine} that counts (and, when asked, holds) the store's
 * reads.
 */
class SyncRequestLimitsTest extends OnGatedNode {
  private void start(Consumer<ServerConfig.Builder> customize) throws Exception {
    startNode(
        "sync-limits",
        b -> customize.accept(b.transport(TransportConfig.builder().eventLoops(1).build())));
  }

  private TestDevice device(String user, String device) {
    return nodes.add(TestDevice.connect(node.port(), token(user, device)));
  }

  /** Writes one field to each of {@code documents} of {@code user}, from a device of its own. */
  private void store(String user, String... documents) {
    TestDevice writer = device(user, "writer");
    writer.hello(Hello.newBuilder().setFollow(FollowSpec.getDefaultInstance()).build());
    long seq = 1;
    for (String d : documents) {
      assertTrue(writer.answerTo(writer.write(d, seq++, "f", "value of " + d)).hasAck(), d);
    }
  }

  private static ClientFrame.Builder follow(FollowSpec.Builder spec, Position... positions) {
    return ClientFrame.newBuilder()
        .setFollow(Follow.newBuilder().setSpec(spec).addAllPositions(List.of(positions)));
  }

  /** A Resync of {@code document} from no position: answered with a snapshot. */
  private static ClientFrame.Builder resync(String document) {
    return ClientFrame.newBuilder()
        .setResync(Resync.newBuilder().addPositions(Position.newBuilder().setDocument(document)));
  }

  private static ClientFrame.Builder ping(long nonce) {
    return ClientFrame.newBuilder().setPing(Ping.newBuilder().setNonce(nonce));
  }

  /** The next SyncReport or Error: every answer to a Follow or Resync is one of them. */
  private static ServerFrame answer(TestDevice d) {
    return d.next(f -> f.hasSyncReport() || f.hasError());
  }

  private static Set<String> documents(SyncReport r) {
    Set<String> names = new TreeSet<>();
    r.getDocumentsList().forEach(s -> names.add(s.getDocument()));
    return names;
  }

  @Test
  void followsThatAddNothingAreAnsweredEmptyWithoutReadingTheStore() throws Exception {
    start(b -> b.syncRate(0, 1)); // No rate limit: this test is about what a Follow reads.
    List<String> docs = new ArrayList<>();
    for (int i = 0; i < 20; i++) {
      docs.add("doc-" + i);
    }
    store("ann", docs.toArray(String[]::new));
    TestDevice phone = device("ann", "phone");
    // Follows nothing at first, so that the first Follow has everything to read.
    assertEquals(
        0,
        phone
            .hello(Hello.newBuilder().setFollow(FollowSpec.getDefaultInstance()).build())
            .getWelcome()
            .getSync()
            .getDocumentsCount());

    int before = engine.storeReads();
    long first = phone.send(follow(FollowSpec.newBuilder().addPrefixes("")));
    ServerFrame report = answer(phone);
    assertEquals(first, report.getRequestId());
    assertEquals(new TreeSet<>(docs), documents(report.getSyncReport()));
    for (DocumentSync s : report.getSyncReport().getDocumentsList()) {
      assertEquals(DocumentSync.Mode.SNAPSHOT, s.getMode());
    }
    int afterFirst = engine.storeReads();
    assertEquals(before + 1 + docs.size(), afterFirst, "the names, then each document once");

    // The reported attack: the same Follow again and again. Also a name and a prefix that the
    // follow set covers already, and positions of documents the connection tracks.
    List<Long> ids = new ArrayList<>();
    for (int i = 0; i < 200; i++) {
      ids.add(phone.send(follow(FollowSpec.newBuilder().addPrefixes(""))));
    }
    ids.add(phone.send(follow(FollowSpec.newBuilder().addDocuments("doc-3").addPrefixes("doc-1"))));
    ids.add(
        phone.send(
            follow(
                FollowSpec.newBuilder().addPrefixes(""),
                Position.newBuilder().setDocument("doc-5").build())));
    for (long id : ids) {
      ServerFrame a = answer(phone);
      assertEquals(id, a.getRequestId(), "answered in order: " + a);
      assertTrue(a.hasSyncReport(), a.toString());
      assertEquals(0, a.getSyncReport().getDocumentsCount(), "nothing new to report");
    }
    assertEquals(afterFirst, engine.storeReads(), "no store read after the first Follow");
    assertEquals(docs.size(), node.stats().syncDocumentReads.sum());

    // The loop is free: another user's request is answered.
    TestDevice other = device("bob", "phone");
    other.hello();
    long pingId = other.send(ping(7));
    assertEquals(
        7, other.next(f -> f.hasPong() && f.getRequestId() == pingId).getPong().getNonce());
  }

  @Test
  void aFollowReadsOnlyTheDocumentsItNewlyCoversAndTheConnectionDoesNotTrack() throws Exception {
    start(b -> {});
    store("cat", "a/1", "a/2", "a/3", "b/1");
    TestDevice phone = device("cat", "phone");
    ServerFrame welcome =
        phone.hello(
            Hello.newBuilder().setFollow(FollowSpec.newBuilder().addDocuments("a/1")).build());
    assertEquals(Set.of("a/1"), documents(welcome.getWelcome().getSync()));

    int before = engine.storeReads();
    long id =
        phone.send(
            follow(
                FollowSpec.newBuilder().addPrefixes("a/"),
                Position.newBuilder().setDocument("a/1").build()));
    ServerFrame report = answer(phone);
    assertEquals(id, report.getRequestId());
    assertEquals(Set.of("a/2", "a/3"), documents(report.getSyncReport()), "a/1 is tracked");
    assertEquals(before + 1 + 2, engine.storeReads(), "the names, then a/2 and a/3");

    // Exact names: no listing; a name of no document is read but not reported.
    before = engine.storeReads();
    id = phone.send(follow(FollowSpec.newBuilder().addDocuments("b/1").addDocuments("nothing")));
    report = answer(phone);
    assertEquals(id, report.getRequestId());
    assertEquals(Set.of("b/1"), documents(report.getSyncReport()));
    assertEquals(before + 2, engine.storeReads());
  }

  @Test
  void aBurstOverTheRateIsRefusedRateLimitedWhileOtherConnectionsSyncOn() throws Exception {
    // A bucket of 5 that refills once every 1000 s: deterministic on any machine.
    start(b -> b.syncRate(0.001, 5));
    store("dan", "notes", "todo");
    TestDevice flood = device("dan", "flood");
    TestDevice calm = device("dan", "calm"); // Same user: same event loop, as any user here.
    TestDevice other = device("eve", "phone");
    flood.hello();
    calm.hello();
    other.hello();

    List<Long> ids = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      ids.add(flood.send(resync("notes")));
      ids.add(flood.send(follow(FollowSpec.newBuilder().addPrefixes(""))));
    }
    int answered = 0;
    int limited = 0;
    for (long id : ids) {
      ServerFrame a = answer(flood);
      assertEquals(id, a.getRequestId());
      if (a.hasSyncReport()) {
        answered++;
        continue;
      }
      limited++;
      assertEquals(ErrorCode.RATE_LIMITED, a.getError().getCode());
      assertTrue(a.getError().getRetryable(), "the device may send it again later");
      String message = a.getError().getMessage();
      assertTrue(message.contains("Follow and Resync requests a second"), message);
      assertTrue(message.matches(".*send it again in \\d+ ms.*"), message);
    }
    assertEquals(5, answered);
    assertEquals(3, limited);
    assertEquals(3, node.stats().syncRequestsRateLimited.sum());

    // The other connections, of the same user and of another, have buckets of their own.
    long id = calm.send(resync("todo"));
    ServerFrame a = answer(calm);
    assertEquals(id, a.getRequestId());
    assertEquals(Set.of("todo"), documents(a.getSyncReport()));
    id = other.send(follow(FollowSpec.newBuilder().addPrefixes("")));
    a = answer(other);
    assertEquals(id, a.getRequestId());
    assertTrue(a.hasSyncReport(), a.toString());
    // And the flooding connection itself stays open: its other requests are answered.
    long pingId = flood.send(ping(3));
    assertEquals(
        3, flood.next(f -> f.hasPong() && f.getRequestId() == pingId).getPong().getNonce());
  }

  @Test
  void oneSyncIsReadAtATimePerConnectionAndTheWaitingAreBounded() throws Exception {
    start(b -> b.syncRate(1000, 1000)); // The rate out of the way: this test is about the lane.
    List<String> docs = new ArrayList<>();
    for (int i = 0; i < 40; i++) {
      docs.add("doc-" + i);
    }
    store("fay", docs.toArray(String[]::new));
    TestDevice flood = device("fay", "flood");
    TestDevice calm = device("fay", "calm");
    TestDevice other = device("gus", "phone");
    flood.hello();
    calm.hello();
    other.hello();

    engine.holdReads();
    List<Long> ids = new ArrayList<>();
    ids.add(flood.send(resync("doc-0")));
    engine.changed.await("the first Resync's read", () -> engine.heldReads() == 1);
    for (int i = 1; i <= 32; i++) {
      ids.add(flood.send(resync("doc-" + i))); // These wait behind the one being read.
    }
    long refused = flood.send(resync("doc-33"));
    ServerFrame full = answer(flood);
    assertEquals(refused, full.getRequestId(), "nothing else is answered yet: " + full);
    assertEquals(ErrorCode.TOO_MANY_IN_FLIGHT, full.getError().getCode());
    assertTrue(full.getError().getRetryable());
    assertEquals("doc-33", full.getError().getDocument());
    assertTrue(full.getError().getMessage().contains("32 Follow and Resync requests"));
    assertEquals(1, engine.heldReads(), "one read under way for the connection, not 33");
    assertEquals(1, node.stats().syncRequestsOverWaiting.sum());

    // Meanwhile the loop serves everyone else: a ping, a Resync of another connection of the same
    // user (its own lane: its read is made at once), another user's write.
    long pingId = calm.send(ping(5));
    assertEquals(5, calm.next(f -> f.hasPong() && f.getRequestId() == pingId).getPong().getNonce());
    long calmId = calm.send(resync("doc-39"));
    engine.changed.await("the other connection's read", () -> engine.heldReads() == 2);
    assertTrue(other.answerTo(other.write("list", 1, "f", "v")).hasAck());

    engine.releaseReads();
    for (int i = 0; i < ids.size(); i++) {
      ServerFrame a = answer(flood);
      assertEquals(ids.get(i), a.getRequestId(), "in the order sent: " + a);
      assertEquals(Set.of("doc-" + i), documents(a.getSyncReport()));
    }
    ServerFrame a = answer(calm);
    assertEquals(calmId, a.getRequestId());
    assertEquals(Set.of("doc-39"), documents(a.getSyncReport()));
  }

  @Test
  void aFollowRefusedTooManyInFlightFollowsNothingAndSyncsWhenSentAgain() throws Exception {
    start(b -> b.syncRate(1000, 1000)); // The rate out of the way: this test is about the lane.
    List<String> docs = new ArrayList<>();
    for (int i = 0; i <= 33; i++) {
      docs.add("doc-" + i);
    }
    store("hal", docs.toArray(String[]::new));
    TestDevice phone = device("hal", "phone");
    phone.hello(Hello.newBuilder().setFollow(FollowSpec.getDefaultInstance()).build());

    engine.holdReads();
    List<Long> ids = new ArrayList<>();
    ids.add(phone.send(follow(FollowSpec.newBuilder().addDocuments("doc-0"))));
    engine.changed.await("the first Follow's read", () -> engine.heldReads() == 1);
    for (int i = 1; i <= 32; i++) {
      ids.add(phone.send(follow(FollowSpec.newBuilder().addDocuments("doc-" + i))));
    }
    long refused = phone.send(follow(FollowSpec.newBuilder().addDocuments("doc-33")));
    ServerFrame full = answer(phone);
    assertEquals(refused, full.getRequestId(), full.toString());
    assertEquals(ErrorCode.TOO_MANY_IN_FLIGHT, full.getError().getCode());
    engine.releaseReads();
    for (long id : ids) {
      assertEquals(id, answer(phone).getRequestId());
    }

    // The refused Follow changed nothing: sent again, it is read, and the device gets the
    // document it asked for (with the write made since), not an empty report.
    TestDevice writer = device("hal", "writer");
    writer.hello(Hello.newBuilder().setFollow(FollowSpec.getDefaultInstance()).build());
    assertTrue(writer.answerTo(writer.write("doc-33", 100, "f", "newer")).hasAck());
    long again = phone.send(follow(FollowSpec.newBuilder().addDocuments("doc-33")));
    ServerFrame report = answer(phone);
    assertEquals(again, report.getRequestId());
    assertEquals(Set.of("doc-33"), documents(report.getSyncReport()));
    Snapshot snapshot = phone.next(ServerFrame::hasSnapshot).getSnapshot();
    assertEquals("doc-33", snapshot.getDocument());
    assertEquals("newer", snapshot.getFieldsOrThrow("f").toStringUtf8());
  }

  @Test
  void aClientsBurstOfResyncsAfterAReconnectWaitsItsTurnAndIsNotRefused() throws Exception {
    start(b -> {}); // The defaults.
    List<String> docs = new ArrayList<>();
    for (int i = 0; i < 12; i++) {
      docs.add("doc-" + i);
    }
    store("hal", docs.toArray(String[]::new));
    TestDevice phone = device("hal", "phone");
    phone.hello();

    // As the bundled clients send them: one Resync per document, request id 0, all at once.
    engine.holdReads();
    for (String d : docs) {
      phone.sendRaw(resync(d).setRequestId(0).build().toByteArray());
    }
    long pingId = phone.send(ping(1)); // Answered once every Resync before it was handled.
    phone.next(f -> f.hasPong() && f.getRequestId() == pingId);
    assertEquals(1, engine.heldReads(), "one read under way; the others wait their turn");
    engine.releaseReads();
    for (String d : docs) {
      ServerFrame a = answer(phone);
      assertFalse(a.hasError(), a.toString());
      assertEquals(Set.of(d), documents(a.getSyncReport()));
    }
    assertEquals(0, node.stats().syncRequestsRateLimited.sum());
    assertEquals(0, node.stats().syncRequestsOverWaiting.sum());
  }
}
