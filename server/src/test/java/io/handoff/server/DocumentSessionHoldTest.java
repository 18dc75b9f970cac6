package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.Ack;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.Position;
import io.handoff.protocol.v1.Resync;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.server.engine.StoreLimits;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A writer's stream of a document held for its write's answer (the write's copy came first, as it
 * usually does on Redis Cluster), against the device's own requests that move the same document:
 * every version still reaches the device once and in order, and the hold always ends. Over real
 * sockets, with a store whose answers the test holds ({@link FaultyStoreEngine.Fault#ANSWER_HELD}).
 */
class DocumentSessionHoldTest {
  private final FaultyStoreEngine engine = new FaultyStoreEngine();
  private final List<TestDevice> devices = new ArrayList<>();
  private HandoffServer node;

  @BeforeEach
  void start() throws Exception {
    node = node(StoreLimits.builder().build());
  }

  private HandoffServer node(StoreLimits limits) throws InterruptedException {
    return HandoffServer.start(
        ServerConfig.builder()
            .host("127.0.0.1")
            .port(0)
            .nodeId("hold")
            .jwtSecret(TestServer.SECRET)
            .drainTimeout(Duration.ofSeconds(2))
            .storeLimits(limits)
            .build(),
        engine);
  }

  @AfterEach
  void stop() {
    devices.forEach(TestDevice::close);
    node.close();
    engine.close();
  }

  private TestDevice connect(String user, String device) {
    TestDevice d = TestDevice.connect(node.port(), TestServer.token(user, device));
    devices.add(d);
    d.hello();
    return d;
  }

  private static Ack acked(TestDevice d, long requestId) {
    ServerFrame f = d.answerTo(requestId);
    assertTrue(f.hasAck(), "acked: " + f);
    return f.getAck();
  }

  /**
   * The versions of {@code document} the device is sent (Deltas and Acks) until version {@code
   * last}.
   */
  private static List<Long> versionsUntil(TestDevice d, String document, long last) {
    List<Long> versions = new ArrayList<>();
    while (!versions.contains(last)) {
      ServerFrame f = d.next();
      if (f.hasDelta() && f.getDelta().getDocument().equals(document)) {
        versions.add(f.getDelta().getVersion());
      } else if (f.hasAck() && f.getAck().getDocument().equals(document)) {
        versions.add(f.getAck().getVersion());
      } else if (f.hasSnapshot() && f.getSnapshot().getDocument().equals(document)) {
        versions.add(-f.getSnapshot().getVersion()); // Negative: not expected here.
      }
    }
    return versions;
  }

  /**
   * The phone writes {@code value} to {@code items} of the cart as its write {@code seq}: the store
   * applies it and the copy reaches the stream, and the store's answer is held. Returns the write's
   * request id.
   */
  private long writeWithItsAnswerHeld(TestDevice phone, long seq, String value)
      throws InterruptedException {
    engine.failNext(1, FaultyStoreEngine.Fault.ANSWER_HELD);
    long id = phone.write("cart", seq, "items", value);
    engine.signal.await("the write applied, its answer held", () -> engine.answersHeld() == 1);
    return id;
  }

  @Test
  void aResyncWhileTheWritersStreamIsHeldSendsEachVersionOnce() throws Exception {
    TestDevice phone = connect("lena", "phone");
    TestDevice laptop = connect("lena", "laptop");
    Ack first = acked(phone, phone.write("cart", 1, "items", "1 pear"));
    laptop.next(f -> f.hasDelta() && f.getDelta().getVersion() == 1);

    writeWithItsAnswerHeld(phone, 2, "2 pears");
    laptop.next(f -> f.hasDelta() && f.getDelta().getVersion() == 2);
    assertEquals(3, acked(laptop, laptop.write("cart", 1, "items", "3 pears")).getVersion());

    // The phone asks for the document again from the version it has: the read brings its write
    // (acked there) and the laptop's.
    long resync =
        phone.send(
            ClientFrame.newBuilder()
                .setResync(
                    Resync.newBuilder()
                        .addPositions(
                            Position.newBuilder()
                                .setDocument("cart")
                                .setEpoch(first.getEpoch())
                                .setVersion(1))));
    phone.next(f -> f.hasSyncReport() && f.getRequestId() == resync);
    assertEquals(List.of(2L, 3L), versionsUntil(phone, "cart", 3));

    engine.releaseHeldAnswers();
    assertEquals(4, acked(laptop, laptop.write("cart", 2, "items", "4 pears")).getVersion());

    assertEquals(
        List.of(4L),
        versionsUntil(phone, "cart", 4),
        "after the answer, only the versions the phone does not have yet");
    assertEquals(5, acked(phone, phone.write("cart", 3, "items", "5 pears")).getVersion());
  }

  @Test
  void aHoldWhoseAnswerNeverComesEndsAtTheWriteDeadline() throws Exception {
    node.close();
    node = node(StoreLimits.builder().writeAnswerTimeout(Duration.ofMillis(300)).build());
    TestDevice phone = connect("mona", "phone");
    TestDevice laptop = connect("mona", "laptop");
    acked(phone, phone.write("cart", 1, "items", "1 fig"));

    long held = writeWithItsAnswerHeld(phone, 2, "2 figs");
    assertEquals(3, acked(laptop, laptop.write("cart", 1, "items", "3 figs")).getVersion());

    ServerFrame unknown = phone.answerTo(held);
    assertTrue(unknown.hasError(), "no answer within the deadline: " + unknown);
    assertEquals(ErrorCode.OUTCOME_UNKNOWN, unknown.getError().getCode());
    // The stream is the phone's again: its write (read from the store) and the laptop's.
    assertEquals(List.of(2L, 3L), versionsUntil(phone, "cart", 3));
    Ack again = acked(phone, phone.write("cart", 2, "items", "2 figs"));
    assertEquals(2, again.getVersion());
    assertTrue(again.getDuplicate());
  }

  @Test
  void aNewHistoryThatBeganWhileTheWritersStreamWasHeldReachesTheWriter() throws Exception {
    TestDevice phone = connect("nia", "phone");
    TestDevice laptop = connect("nia", "laptop");
    acked(laptop, laptop.write("note", 1, "text", "milk"));
    Object beforeTheCart = engine.backup("nia");
    Ack first = acked(phone, phone.write("cart", 1, "items", "1 lime"));
    laptop.next(f -> f.hasDelta() && f.getDelta().getVersion() == 1);

    long lost = writeWithItsAnswerHeld(phone, 2, "2 limes");
    laptop.next(f -> f.hasDelta() && f.getDelta().getVersion() == 2);

    // The store loses the cart (a failover to a replica from before it), and the laptop's write
    // begins a new history at version 1, below the version the phone's stream is held at.
    engine.restore("nia", beforeTheCart);
    Ack restarted = acked(laptop, laptop.write("cart", 3, "items", "a melon"));
    assertEquals(1, restarted.getVersion());
    assertTrue(restarted.getEpoch() != first.getEpoch(), "a new history");

    engine.releaseHeldAnswers();
    ServerFrame snapshot = phone.next(f -> f.hasSnapshot());
    assertEquals("cart", snapshot.getSnapshot().getDocument());
    assertEquals(restarted.getEpoch(), snapshot.getSnapshot().getEpoch());
    assertEquals(1, snapshot.getSnapshot().getVersion());
    assertEquals(
        "a melon",
        snapshot.getSnapshot().getFieldsMap().get("items").toStringUtf8(),
        "the phone ends with the store's cart, not the one it wrote");
    // Its write, answered as applied in the history the store lost, is not acked and is sent again.
    assertOutcomeUnknown(phone.answerTo(lost));
    Ack again = acked(phone, phone.write("cart", 2, "items", "2 limes"));
    assertEquals(restarted.getEpoch(), again.getEpoch());
    assertEquals(2, again.getVersion());
    assertFalse(again.getDuplicate());
  }

  private static void assertOutcomeUnknown(ServerFrame answer) {
    assertTrue(answer.hasError(), "not acked: " + answer);
    assertEquals(ErrorCode.OUTCOME_UNKNOWN, answer.getError().getCode());
    assertTrue(answer.getError().getRetryable());
  }

  @Test
  void aWriteTheStoreLostAfterAnsweringItWhoseCopyNeverCameIsAnsweredAtTheDeadline()
      throws Exception {
    node.close();
    node = node(StoreLimits.builder().writeAnswerTimeout(Duration.ofMillis(300)).build());
    TestDevice phone = connect("pia", "phone");
    TestDevice laptop = connect("pia", "laptop");
    Ack first = acked(phone, phone.write("cart", 1, "items", "1 kiwi"));

    // Applied at version 2 and answered so, then lost with its copy: the store is at version 1.
    engine.failNext(1, FaultyStoreEngine.Fault.APPLIED_THEN_LOST);
    long lost = phone.write("cart", 2, "items", "2 kiwis");
    assertOutcomeUnknown(phone.answerTo(lost));

    Ack again = acked(phone, phone.write("cart", 2, "items", "2 kiwis"));
    assertEquals(first.getEpoch(), again.getEpoch());
    assertEquals(2, again.getVersion(), "the store no longer had it, so it is applied now");
    assertFalse(again.getDuplicate());
    assertEquals(List.of(1L, 2L), versionsUntil(laptop, "cart", 2), "each version once");
  }

  @Test
  void theFirstWriteOfADocumentTheStoreThenLostIsAnsweredAtTheDeadline() throws Exception {
    node.close();
    node = node(StoreLimits.builder().writeAnswerTimeout(Duration.ofMillis(300)).build());
    TestDevice phone = connect("ria", "phone");
    acked(phone, phone.write("note", 1, "text", "eggs"));

    // The cart's first write, answered as applied and then lost with its copy: no cart remains.
    engine.failNext(1, FaultyStoreEngine.Fault.APPLIED_THEN_LOST);
    long lost = phone.write("cart", 2, "items", "1 lemon");
    assertOutcomeUnknown(phone.answerTo(lost));

    Ack again = acked(phone, phone.write("cart", 2, "items", "1 lemon"));
    assertEquals(1, again.getVersion(), "the store no longer had it, so it is applied now");
    assertFalse(again.getDuplicate());
  }

  @Test
  void aWriteTheStoreLostAfterAnsweringItIsNotAckedAtAVersionAnotherWriteTook() throws Exception {
    TestDevice phone = connect("oda", "phone");
    TestDevice laptop = connect("oda", "laptop");
    Ack first = acked(phone, phone.write("cart", 1, "items", "1 plum"));
    laptop.next(f -> f.hasDelta() && f.getDelta().getVersion() == 1);
    Object atVersionOne = engine.backup("oda");

    long lost = writeWithItsAnswerHeld(phone, 2, "2 plums");
    laptop.next(f -> f.hasDelta() && f.getDelta().getVersion() == 2);

    // The store goes back to version 1 of the same history (a failover to a replica that had not
    // seen the phone's write), and the laptop's write takes version 2.
    engine.restore("oda", atVersionOne);
    Ack laptops = acked(laptop, laptop.write("cart", 1, "items", "a peach"));
    assertEquals(first.getEpoch(), laptops.getEpoch());
    assertEquals(2, laptops.getVersion());

    // The store's answer to the phone's write (applied at version 2) is now untrue: the phone is
    // not told its write is in, it gets the laptop's version 2 and is asked to send its write
    // again.
    engine.releaseHeldAnswers();
    List<ServerFrame> cart = new ArrayList<>();
    ServerFrame answer;
    do {
      answer = phone.next();
      if (answer.hasDelta() || answer.hasSnapshot() || answer.hasAck()) {
        cart.add(answer);
      }
    } while (!((answer.hasError() || answer.hasAck()) && answer.getRequestId() == lost));
    assertTrue(answer.hasError(), "not acked at a version another write took: " + answer);
    assertEquals(ErrorCode.OUTCOME_UNKNOWN, answer.getError().getCode());
    assertTrue(answer.getError().getRetryable());
    assertEquals(1, cart.size(), "only the laptop's version 2, before the answer: " + cart);
    assertEquals(2, cart.get(0).getDelta().getVersion());
    assertEquals(laptops.getFingerprint(), cart.get(0).getDelta().getFingerprint());

    Ack again = acked(phone, phone.write("cart", 2, "items", "2 plums"));
    assertEquals(3, again.getVersion(), "the store no longer had it, so it is applied now");
    assertFalse(again.getDuplicate());
  }
}
