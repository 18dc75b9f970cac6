package io.handoff.client;

import static io.handoff.client.Frames.welcome;
import static io.handoff.client.Frames.welcomeBuilder;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.AcceptOffer;
import io.handoff.protocol.v1.Activity;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.DevicePresence;
import io.handoff.protocol.v1.Error;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.Offer;
import io.handoff.protocol.v1.OfferCreated;
import io.handoff.protocol.v1.OfferOutcome;
import io.handoff.protocol.v1.OfferPrompt;
import io.handoff.protocol.v1.OfferResult;
import io.handoff.protocol.v1.OfferWithdrawn;
import io.handoff.protocol.v1.PresenceUpdate;
import io.handoff.protocol.v1.ServerFrame;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.Test;

/** The client's handoff requests, prompts and presence, on the socket-free engine. */
class HandoffRequestsTest {
  private final List<String> heard = new ArrayList<>();
  private final FakeEngine fake =
      new FakeEngine(
          FakeEngine.builder()
              .offerListener(
                  new OfferListener() {
                    @Override
                    public void onPrompt(Offer offer) {
                      heard.add("prompt " + offer.getOfferId());
                    }

                    @Override
                    public void onWithdrawn(String id, OfferOutcome outcome, String by) {
                      heard.add("withdrawn " + id + " " + outcome + " " + by);
                    }

                    @Override
                    public void onActivity(String device, Activity a) {
                      heard.add("activity " + device + " " + (a == null ? "-" : a.getTitle()));
                    }
                  })
              .presenceListener(
                  changed ->
                      changed.forEach(
                          p -> heard.add("presence " + p.getDeviceId() + " " + p.getOnline()))));
  private final FakeConnector connector = fake.connector;
  private final ManualScheduler scheduler = fake.scheduler;
  private final SyncEngine engine = fake.engine;

  private FakeChannel connected() {
    return fake.connected();
  }

  private static HandoffException failure(CompletableFuture<?> f) {
    assertTrue(f.isCompletedExceptionally());
    CompletionException e =
        org.junit.jupiter.api.Assertions.assertThrows(CompletionException.class, f::join);
    return assertInstanceOf(HandoffException.class, e.getCause());
  }

  private static ClientFrame.Builder accept(String id) {
    return ClientFrame.newBuilder().setAcceptOffer(AcceptOffer.newBuilder().setOfferId(id));
  }

  @Test
  void requestFailsAtOnceWhileNotConnected() {
    HandoffException e = failure(engine.request(accept("o1")));
    assertTrue(e.retryable());
  }

  @Test
  void answerAndErrorAreMatchedByRequestId() {
    FakeChannel channel = connected();
    CompletableFuture<ServerFrame> first = engine.request(accept("o1"));
    CompletableFuture<ServerFrame> second = engine.request(accept("o2"));
    List<ClientFrame> sent = channel.drain();
    long id1 = sent.get(0).getRequestId();
    long id2 = sent.get(1).getRequestId();
    assertTrue(id1 != id2 && id1 != 0);

    channel.receive(
        ServerFrame.newBuilder()
            .setRequestId(id2)
            .setError(Error.newBuilder().setCode(ErrorCode.OFFER_WITHDRAWN).setMessage("taken"))
            .build());
    assertEquals(ErrorCode.OFFER_WITHDRAWN, failure(second).errorCode());
    assertFalse(first.isDone());
    channel.receive(
        ServerFrame.newBuilder()
            .setRequestId(id1)
            .setOfferWithdrawn(OfferWithdrawn.newBuilder().setOfferId("o1"))
            .build());
    assertTrue(first.join().hasOfferWithdrawn());
  }

  @Test
  void requestWaitingWhenTheConnectionDropsFails() {
    FakeChannel channel = connected();
    CompletableFuture<ServerFrame> pending = engine.request(accept("o1"));
    channel.closeWith(1006, null);
    assertTrue(failure(pending).retryable());
  }

  @Test
  void promptsWithdrawalsAndPresenceReachTheListenersAndTheViews() {
    FakeChannel channel = connected();
    Offer offer = Offer.newBuilder().setOfferId("o1").setFromDevice("phone").build();
    channel.receive(
        ServerFrame.newBuilder().setOfferPrompt(OfferPrompt.newBuilder().setOffer(offer)).build());
    assertEquals(List.of(offer), List.copyOf(engine.handoff.prompts.values()));
    channel.receive(
        ServerFrame.newBuilder()
            .setOfferWithdrawn(
                OfferWithdrawn.newBuilder()
                    .setOfferId("o1")
                    .setOutcome(OfferOutcome.ACCEPTED)
                    .setByDevice("tv"))
            .build());
    channel.receive(
        ServerFrame.newBuilder()
            .setPresenceUpdate(
                PresenceUpdate.newBuilder()
                    .addDevices(DevicePresence.newBuilder().setDeviceId("tv").setOnline(true)))
            .build());
    assertTrue(engine.handoff.prompts.isEmpty());
    assertTrue(engine.handoff.presence.get("tv").getOnline());
    assertEquals(List.of("prompt o1", "withdrawn o1 ACCEPTED tv", "presence tv true"), heard);
  }

  @Test
  void resultOfAnOfferThatEndedWhileAwayCompletesFromTheNextWelcome() {
    FakeChannel first = connected();
    OutgoingOffer offer = new OutgoingOffer(null);
    engine.handoff.track(offer("o1", Duration.ofMinutes(1)), offer);
    first.closeWith(4000, "restart");
    scheduler.runDueWithin(Duration.ofSeconds(5).toNanos()); // the reconnect, not the expiry
    FakeChannel second = connector.last().open();
    second.drain();
    assertFalse(offer.result().isDone(), "an outgoing offer survives a reconnect");
    second.receive(
        welcome(
            welcomeBuilder(0)
                .addOfferResults(
                    OfferResult.newBuilder()
                        .setOfferId("o1")
                        .setOutcome(OfferOutcome.ACCEPTED)
                        .setByDevice("tv"))));
    assertEquals("tv", offer.result().join().getByDevice());
  }

  @Test
  void resultRightBehindItsOfferCreatedReachesTheOffer() {
    // As when both come in one read: the result is handled before anything else runs, and still
    // finds the offer (tracked as its OfferCreated was handled, as the TypeScript client does).
    FakeChannel channel = connected();
    Activity a = Activity.newBuilder().setDocument("player").setTitle("Episode 7").build();
    OutgoingOffer offer = new HandoffCalls(engine).offer("", a, Duration.ofMillis(1));
    channel.receive(created(offersIn(channel.drain()).get(0)));
    assertEquals(1, engine.handoff.outgoing(), "tracked while its OfferCreated was handled");
    channel.receive(
        ServerFrame.newBuilder()
            .setOfferResult(
                OfferResult.newBuilder().setOfferId("k1").setOutcome(OfferOutcome.EXPIRED))
            .build());
    assertEquals("k1", offer.created().join().getOfferId());
    assertEquals(OfferOutcome.EXPIRED, offer.result().join().getOutcome());
    assertEquals(0, engine.handoff.outgoing());
  }

  private static List<ClientFrame> offersIn(List<ClientFrame> frames) {
    return frames.stream().filter(ClientFrame::hasOfferActivity).toList();
  }

  private static ServerFrame created(ClientFrame request) {
    return ServerFrame.newBuilder()
        .setRequestId(request.getRequestId())
        .setOfferCreated(
            OfferCreated.newBuilder().setOffer(offer("k1", Duration.ofMinutes(1)).toBuilder()))
        .build();
  }

  @Test
  void anOfferWhoseAnswerWasLostIsSentAgainWithItsKeyAfterTheReconnect() {
    FakeChannel first = connected();
    Activity a = Activity.newBuilder().setDocument("player").setTitle("Episode 3").build();
    OutgoingOffer offer = new HandoffCalls(engine).offer("", a, Duration.ofMinutes(1));
    ClientFrame sent = offersIn(first.drain()).get(0);
    String key = sent.getOfferActivity().getOfferKey();
    assertFalse(key.isEmpty(), "every offer has a key");

    first.closeWith(1006, null);
    assertFalse(offer.created().isDone(), "its fate is unknown: it waits to be sent again");
    scheduler.runDueWithin(Duration.ofSeconds(5).toNanos());
    FakeChannel second = connector.last().open();
    assertTrue(offersIn(second.drain()).isEmpty(), "not before the Welcome");
    second.receive(welcome(0));
    ClientFrame again = offersIn(second.drain()).get(0);
    assertEquals(sent.getOfferActivity(), again.getOfferActivity(), "the same request, key too");

    // The server was unavailable: sent again after a pause, still with the same key.
    second.receive(
        ServerFrame.newBuilder()
            .setRequestId(again.getRequestId())
            .setError(
                Error.newBuilder()
                    .setCode(ErrorCode.UNAVAILABLE)
                    .setRetryable(true)
                    .setMessage("store timeout"))
            .build());
    assertTrue(offersIn(second.drain()).isEmpty(), "not at once");
    scheduler.runDueWithin(Duration.ofSeconds(1).toNanos());
    ClientFrame third = offersIn(second.drain()).get(0);
    assertEquals(key, third.getOfferActivity().getOfferKey());
    second.receive(created(third));
    assertEquals("k1", offer.created().join().getOfferId());
    assertEquals(1, engine.handoff.outgoing());

    OutgoingOffer refused = new HandoffCalls(engine).offer("", a, Duration.ofMinutes(1));
    ClientFrame r = offersIn(second.drain()).get(0);
    second.receive(
        ServerFrame.newBuilder()
            .setRequestId(r.getRequestId())
            .setError(Error.newBuilder().setCode(ErrorCode.TOO_MANY_OFFERS).setMessage("full"))
            .build());
    assertEquals(ErrorCode.TOO_MANY_OFFERS, failure(refused.created()).errorCode());
    assertTrue(offersIn(second.drain()).isEmpty(), "a refusal is not sent again");

    OutgoingOffer waiting = new HandoffCalls(engine).offer("", a, Duration.ofMinutes(1));
    second.drain();
    second.closeWith(1006, null);
    engine.close();
    assertTrue(failure(waiting.created()).getMessage().contains("closed"));
  }

  @Test
  void anOfferWhoseAnswerIsLostEveryTimeFailsAfterFiveSends() {
    FakeChannel channel = connected();
    Activity a = Activity.newBuilder().setTitle("Episode 3").build();
    OutgoingOffer offer = new HandoffCalls(engine).offer("tv", a, Duration.ofMinutes(1));
    for (int i = 1; i <= HandoffCalls.MAX_OFFER_SENDS; i++) {
      assertEquals(1, offersIn(channel.drain()).size(), "send " + i);
      channel.closeWith(1006, null);
      scheduler.runDueWithin(Duration.ofSeconds(5).toNanos());
      channel = connector.last().open();
      channel.receive(welcome(0));
    }
    assertTrue(offersIn(channel.drain()).isEmpty());
    assertTrue(failure(offer.created()).mayHaveBeenApplied());
  }

  @Test
  void aReconnectWithdrawsWhatEndedMeanwhileAndAnnouncesOnlyWhatIsNewOrChanged() {
    engine.connect();
    FakeChannel first = connector.last().open();
    Activity phone = Activity.newBuilder().setDeviceId("phone").setTitle("Episode 3").build();
    Activity laptop = Activity.newBuilder().setDeviceId("laptop").setTitle("Draft").build();
    Activity tv = Activity.newBuilder().setDeviceId("tv").setTitle("Movie").build();
    first.receive(
        welcome(
            welcomeBuilder(0)
                .addActivities(phone)
                .addActivities(laptop)
                .addOffers(offer("o1", Duration.ofMinutes(1)))
                .addOffers(offer("o2", Duration.ofMinutes(1)))));
    assertEquals(
        List.of("activity phone Episode 3", "activity laptop Draft", "prompt o1", "prompt o2"),
        heard);
    heard.clear();
    first.closeWith(4000, "restart");
    scheduler.runDueWithin(Duration.ofSeconds(5).toNanos());
    FakeChannel second = connector.last().open();
    Activity laptopLater = laptop.toBuilder().setTitle("Draft, page 2").build();
    second.receive(
        welcome(
            welcomeBuilder(0)
                .addActivities(phone)
                .addActivities(laptopLater)
                .addActivities(tv)
                .addOffers(offer("o2", Duration.ofMinutes(1)))));
    assertEquals(
        List.of(
            "activity laptop Draft, page 2",
            "activity tv Movie",
            "withdrawn o1 OFFER_OUTCOME_UNSPECIFIED "),
        heard,
        "o2 and the phone's activity were known as they are");
    heard.clear();
    second.closeWith(4000, "restart");
    scheduler.runDueWithin(Duration.ofSeconds(5).toNanos());
    connector.last().open().receive(welcome(welcomeBuilder(0).addActivities(tv)));
    assertEquals(
        java.util.Set.of(
            "activity phone -", "activity laptop -", "withdrawn o2 OFFER_OUTCOME_UNSPECIFIED "),
        java.util.Set.copyOf(heard));
    assertEquals(3, heard.size());
    assertEquals(List.of(tv), List.copyOf(engine.handoff.activities.values()));
    assertTrue(engine.handoff.prompts.isEmpty());
  }

  private static Offer offer(String id, Duration ttl) {
    return Offer.newBuilder()
        .setOfferId(id)
        .setCreatedMs(1_000)
        .setExpiresMs(1_000 + ttl.toMillis())
        .build();
  }

  @Test
  void outgoingOfferIsForgottenAtItsExpiryWhenItsResultNeverComes() {
    FakeChannel first = connected();
    OutgoingOffer lost = new OutgoingOffer(null);
    OutgoingOffer answered = new OutgoingOffer(null);
    engine.handoff.track(offer("lost", Duration.ofSeconds(30)), lost);
    engine.handoff.track(offer("answered", Duration.ofSeconds(30)), answered);
    first.receive(
        ServerFrame.newBuilder()
            .setOfferResult(
                OfferResult.newBuilder().setOfferId("answered").setOutcome(OfferOutcome.DECLINED))
            .build());
    assertEquals(OfferOutcome.DECLINED, answered.result().join().getOutcome());
    assertEquals(1, engine.handoff.outgoing(), "only the unanswered offer is held");

    // The one timer left is the forgetting of "lost", at its lifetime plus the grace.
    List<ManualScheduler.Scheduled> timers = scheduler.pending();
    assertEquals(1, timers.size());
    assertEquals(
        Duration.ofSeconds(30).plus(HandoffRequests.RESULT_GRACE).toNanos(),
        timers.get(0).delayNanos);
    assertFalse(lost.result().isDone(), "held until its expiry");
    scheduler.runPending();

    assertEquals(0, engine.handoff.outgoing(), "forgotten at its expiry");
    HandoffException e = failure(lost.result());
    assertEquals(
        "offer lost expired 10 s ago (it was live for 30000 ms) and its result did not reach this"
            + " client; it has ended, but how is unknown",
        e.getMessage());
    // As the TypeScript client names it: its outcome is unknown, and asking again cannot help.
    assertEquals(ErrorCode.OUTCOME_UNKNOWN, e.errorCode());
    assertEquals(0, e.closeCode());
    assertFalse(e.retryable());
    assertFalse(e.fromServer());
  }
}
