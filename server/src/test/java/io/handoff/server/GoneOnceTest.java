package io.handoff.server;

import static io.handoff.server.TestServer.token;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.DocumentSync;
import io.handoff.protocol.v1.FollowSpec;
import io.handoff.protocol.v1.Hello;
import io.handoff.protocol.v1.ServerFrame;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The node reads a document to fill a gap on the stream, and the read finds none (the user's data
 * was erased after more versions of the old history reached the node): the device is told GONE
 * once. The catch-up read those versions start, from no position, finds none either, and says
 * nothing more: the device holds no copy to drop.
 */
class GoneOnceTest extends OnGatedNode {
  private static final Duration BOUND = Duration.ofSeconds(20);

  @Test
  void aDocumentErasedWhileItsGapIsReadIsReportedGoneOnce() throws Exception {
    startNode("a", b -> {});
    TestDevice d = nodes.add(TestDevice.connect(node.port(), token("u", "d")));
    d.hello();
    TestDevice w = nodes.add(TestDevice.connect(node.port(), token("u", "w")));
    w.hello(Hello.newBuilder().setFollow(FollowSpec.newBuilder().addDocuments("other")).build());
    assertTrue(w.answerTo(w.write("cart", 1, "n", "1")).hasAck());
    d.next(f -> f.hasDelta() && f.getDelta().getVersion() == 1);

    engine.dropNextEvent();
    assertTrue(w.answerTo(w.write("cart", 2, "n", "2")).hasAck());
    Conditions.await("v2 lost", engine::eventDropped, BOUND);
    int reads = engine.storeReads();
    engine.holdReads(); // The gap's read, unsent until the data is erased.
    assertTrue(w.answerTo(w.write("cart", 3, "n", "3")).hasAck());
    Conditions.await("the gap's read held", () -> engine.heldReads() == 1, BOUND);
    int heard = engine.eventsHeard();
    assertTrue(w.answerTo(w.write("cart", 4, "n", "4")).hasAck());
    Conditions.await("v4 reached the node", () -> engine.eventsHeard() > heard, BOUND);
    List<ServerFrame> seen = new ArrayList<>(d.untilPong()); // v4 reached d's session, held.
    engine.store().erase("u").join();
    engine.releaseReads();

    // The gap's read, then the catch-up read v4 started; both answered, then a Ping's Pong.
    Conditions.await(
        "the gap's read and its catch-up answered",
        () -> engine.storeReads() == reads + 2 && engine.readsInFlight() == 0,
        BOUND);
    seen.addAll(d.untilPong());
    long gone =
        seen.stream()
            .filter(f -> f.hasSyncReport() && f.getRequestId() == 0)
            .flatMap(f -> f.getSyncReport().getDocumentsList().stream())
            .filter(s -> s.getDocument().equals("cart") && s.getMode() == DocumentSync.Mode.GONE)
            .count();
    assertEquals(1, gone, "cart reported gone once, unasked: " + seen);
  }
}
