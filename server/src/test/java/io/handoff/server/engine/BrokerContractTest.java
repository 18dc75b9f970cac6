package io.handoff.server.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.bus.v1.UserSignal;
import io.handoff.server.Signal;
import io.handoff.server.Writes;
import io.handoff.server.sync.Broker;
import io.handoff.server.sync.DocumentEvent;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The {@link Broker} contract, written once and run against every engine: signals reach every
 * subscriber of their user and nobody else, events arrive in version order, a closed subscription
 * receives nothing, subscribing again after closing works at once, and a broker that may have lost
 * messages says so once its subscription is live again.
 */
public abstract class BrokerContractTest {
  protected Engine engine;
  protected Broker broker;
  protected String user;
  private final Signal changed = new Signal();

  protected abstract Engine newEngine(StoreLimits limits) throws Exception;

  /**
   * Cuts the broker's connection to its backing store, as a network failure would, and returns
   * true; returns false for a broker that has no connection to lose (it never loses messages).
   */
  protected abstract boolean cutConnection() throws Exception;

  @BeforeEach
  void setUp() throws Exception {
    engine = newEngine(StoreLimits.builder().build());
    broker = engine.broker();
    user = "user-" + UUID.randomUUID();
  }

  @AfterEach
  void tearDown() {
    engine.close();
  }

  /** A listener that records what it receives. */
  protected final class Recorder implements Broker.Listener {
    final List<DocumentEvent> events = new CopyOnWriteArrayList<>();
    final List<UserSignal> signals = new CopyOnWriteArrayList<>();
    final AtomicInteger losses = new AtomicInteger();

    @Override
    public void onEvent(DocumentEvent event) {
      events.add(event);
      changed.fire();
    }

    @Override
    public void onSignal(UserSignal signal) {
      signals.add(signal);
      changed.fire();
    }

    @Override
    public CompletableFuture<?> onPossibleLoss() {
      losses.incrementAndGet();
      changed.fire();
      return CompletableFuture.completedFuture(null);
    }
  }

  private static UserSignal signal(String note) {
    return UserSignal.newBuilder().setOriginNode(note).build();
  }

  private Broker.Subscription subscribe(String u, Recorder r) throws Exception {
    Broker.Subscription s = broker.subscribe(u, r);
    s.ready().get(10, TimeUnit.SECONDS);
    return s;
  }

  private void await(String what, java.util.function.BooleanSupplier condition)
      throws InterruptedException {
    changed.await(what, condition);
  }

  @Test
  void signalReachesEverySubscriberOfItsUserAndNoOneElse() throws Exception {
    Recorder a = new Recorder();
    Recorder b = new Recorder();
    Recorder stranger = new Recorder();
    String other = "user-" + UUID.randomUUID();
    try (var sa = subscribe(user, a);
        var sb = subscribe(user, b);
        var so = subscribe(other, stranger)) {
      broker.signal(user, signal("one"));
      broker.signal(other, signal("marker"));
      await(
          "both subscribers got the signal", () -> a.signals.size() == 1 && b.signals.size() == 1);
      await("the other user's marker", () -> stranger.signals.size() == 1);
      assertEquals("one", a.signals.get(0).getOriginNode());
      assertEquals("one", b.signals.get(0).getOriginNode());
      assertEquals("marker", stranger.signals.get(0).getOriginNode(), "no signal of another user");
    }
  }

  @Test
  void signalsFromOneSenderArriveInTheOrderSent() throws Exception {
    Recorder r = new Recorder();
    try (var s = subscribe(user, r)) {
      for (int i = 0; i < 50; i++) {
        broker.signal(user, signal("s" + i));
      }
      await("50 signals", () -> r.signals.size() == 50);
      for (int i = 0; i < 50; i++) {
        assertEquals("s" + i, r.signals.get(i).getOriginNode());
      }
    }
  }

  @Test
  void eventsOfADocumentArriveInVersionOrder() throws Exception {
    Recorder r = new Recorder();
    try (var s = subscribe(user, r)) {
      for (int i = 1; i <= 20; i++) {
        engine
            .store()
            .write(user, "phone", Writes.set("player", i, "t", "" + i))
            .get(10, TimeUnit.SECONDS);
      }
      await("20 events", () -> r.events.size() == 20);
      for (int i = 0; i < 20; i++) {
        assertEquals(i + 1, r.events.get(i).version());
      }
    }
  }

  @Test
  void closedSubscriptionReceivesNothingAndTheOthersKeepReceiving() throws Exception {
    Recorder closed = new Recorder();
    Recorder open = new Recorder();
    Broker.Subscription s = subscribe(user, closed);
    try (var o = subscribe(user, open)) {
      s.close();
      s.close(); // harmless twice
      broker.signal(user, signal("after"));
      await("the open subscriber got it", () -> open.signals.size() == 1);
      assertEquals(0, closed.signals.size(), "a closed subscription receives nothing");
    }
  }

  @Test
  void subscribingAgainRightAfterClosingReceivesAndOnlyTheLastOneDoes() throws Exception {
    List<Recorder> recorders = new ArrayList<>();
    Broker.Subscription last = null;
    for (int i = 0; i < 30; i++) {
      Recorder r = new Recorder();
      recorders.add(r);
      Broker.Subscription s = broker.subscribe(user, r);
      if (i < 29) {
        s.close();
      } else {
        last = s;
      }
    }
    last.ready().get(10, TimeUnit.SECONDS);
    Recorder lastRecorder = recorders.get(29);
    broker.signal(user, signal("now"));
    await("the live subscription got it", () -> lastRecorder.signals.size() == 1);
    for (int i = 0; i < 29; i++) {
      assertEquals(0, recorders.get(i).signals.size(), "closed subscription " + i);
    }
    last.close();
  }

  @Test
  void afterAConnectionLossListenersAreToldOnceTheSubscriptionIsLiveAgain() throws Exception {
    Recorder r = new Recorder();
    try (var s = subscribe(user, r)) {
      boolean cut = cutConnection();
      if (cut) {
        await("possible loss reported", () -> r.losses.get() >= 1);
      }
      // Whether or not anything was lost, signals sent from now on arrive.
      broker.signal(user, signal("after"));
      await(
          "a signal after the loss was reported",
          () -> r.signals.stream().anyMatch(x -> x.getOriginNode().equals("after")));
      if (!cut) {
        assertEquals(0, r.losses.get(), "a broker without a connection never reports a loss");
      }
      assertTrue(r.losses.get() <= 1, "one report per loss, got " + r.losses.get());
    }
  }
}
