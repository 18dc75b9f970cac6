package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.handoff.protocol.v1.AcceptOffer;
import io.handoff.protocol.v1.Activity;
import io.handoff.protocol.v1.CancelOffer;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.DeclineOffer;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.Offer;
import io.handoff.protocol.v1.OfferActivity;
import io.handoff.protocol.v1.OfferOutcome;
import io.handoff.protocol.v1.Ping;
import io.handoff.protocol.v1.PublishActivity;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.protocol.v1.Welcome;
import io.handoff.server.handoff.HandoffLimits;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Activities, offers and presence on one node with the in-memory engine, over real sockets. */
class HandoffProtocolTest {
  private final String user = "u-" + UUID.randomUUID();
  private final List<AutoCloseable> closeables = new ArrayList<>();
  private TestServer server;

  @AfterEach
  void stop() throws Exception {
    for (int i = closeables.size() - 1; i >= 0; i--) {
      closeables.get(i).close();
    }
  }

  private TestServer start(java.time.Clock clock, HandoffLimits limits) throws Exception {
    server = TestServer.start(clock, b -> b.handoffLimits(limits));
    closeables.add(server);
    return server;
  }

  private TestServer start() throws Exception {
    return start(java.time.Clock.systemUTC(), HandoffLimits.builder().build());
  }

  private TestDevice device(String name) {
    TestDevice d = TestDevice.connect(server.port(), TestServer.token(user, name));
    closeables.add(d);
    return d;
  }

  static Activity activity(String doc, String title) {
    return Activity.newBuilder()
        .setDocument(doc)
        .setKind("video")
        .setTitle(title)
        .setPayload(ByteString.copyFromUtf8("t=62"))
        .build();
  }

  static ClientFrame.Builder offer(String target, int ttlMs) {
    return ClientFrame.newBuilder()
        .setOfferActivity(
            OfferActivity.newBuilder()
                .setTargetDevice(target)
                .setActivity(activity("player", "Episode 3"))
                .setTtlMs(ttlMs));
  }

  static ClientFrame.Builder accept(String id) {
    return ClientFrame.newBuilder().setAcceptOffer(AcceptOffer.newBuilder().setOfferId(id));
  }

  static ClientFrame.Builder decline(String id) {
    return ClientFrame.newBuilder().setDeclineOffer(DeclineOffer.newBuilder().setOfferId(id));
  }

  static ClientFrame.Builder cancel(String id) {
    return ClientFrame.newBuilder().setCancelOffer(CancelOffer.newBuilder().setOfferId(id));
  }

  /** Sends an offer and returns it as created. */
  static Offer offerFrom(TestDevice d, String target, int ttlMs) {
    long id = d.send(offer(target, ttlMs));
    ServerFrame f = d.next(x -> x.getRequestId() == id);
    assertTrue(f.hasOfferCreated(), "offer created: " + f);
    return f.getOfferCreated().getOffer();
  }

  static ServerFrame reply(TestDevice d, long id) {
    return d.next(x -> x.getRequestId() == id && !x.hasPong());
  }

  /** Every frame up to the answer of a Ping: what the server sent before it. */
  static List<ServerFrame> barrier(TestDevice d) {
    long id = d.send(ClientFrame.newBuilder().setPing(Ping.newBuilder().setNonce(1)));
    List<ServerFrame> before = new ArrayList<>();
    for (ServerFrame f = d.next(); !(f.hasPong() && f.getRequestId() == id); f = d.next()) {
      before.add(f);
    }
    return before;
  }

  static boolean none(List<ServerFrame> frames, Predicate<ServerFrame> p) {
    return frames.stream().noneMatch(p);
  }

  @Test
  void publishedActivityReachesOtherDevicesAndTheWelcomeOfALaterOne() throws Exception {
    start();
    TestDevice phone = device("phone");
    phone.hello();
    TestDevice laptop = device("laptop");
    laptop.hello();
    long id =
        phone.send(
            ClientFrame.newBuilder()
                .setPublishActivity(
                    PublishActivity.newBuilder().setActivity(activity("player", "Episode 3"))));
    ServerFrame echo = reply(phone, id);
    assertEquals("phone", echo.getActivityUpdate().getDeviceId());
    ServerFrame pushed = laptop.next(ServerFrame::hasActivityUpdate);
    assertEquals("phone", pushed.getActivityUpdate().getDeviceId());
    assertEquals("Episode 3", pushed.getActivityUpdate().getActivity().getTitle());
    assertEquals(
        ByteString.copyFromUtf8("t=62"), pushed.getActivityUpdate().getActivity().getPayload());

    TestDevice tv = device("tv");
    Welcome w = tv.hello().getWelcome();
    assertEquals(1, w.getActivitiesCount());
    assertEquals("phone", w.getActivities(0).getDeviceId());
    assertEquals(4096, w.getMaxActivityPayloadBytes());
  }

  @Test
  void firstAcceptWinsWithASnapshotAndTheOthersSeeThePromptWithdrawn() throws Exception {
    start();
    TestDevice phone = device("phone");
    phone.hello();
    phone.send(Writes.frame("player", 1, "position", "1:02:03"));
    phone.next(ServerFrame::hasAck);
    TestDevice tv = device("tv");
    tv.hello();
    TestDevice laptop = device("laptop");
    laptop.hello();

    Offer offer = offerFrom(phone, "", 0);
    assertEquals(
        offer.getOfferId(),
        tv.next(ServerFrame::hasOfferPrompt).getOfferPrompt().getOffer().getOfferId());
    laptop.next(ServerFrame::hasOfferPrompt);

    long tvAccept = tv.send(accept(offer.getOfferId()));
    ServerFrame granted = reply(tv, tvAccept);
    assertTrue(granted.hasOfferGranted(), "granted: " + granted);
    assertEquals(1, granted.getOfferGranted().getSnapshot().getVersion());
    assertEquals(
        ByteString.copyFromUtf8("1:02:03"),
        granted.getOfferGranted().getSnapshot().getFieldsOrThrow("position"));

    ServerFrame withdrawn = laptop.next(ServerFrame::hasOfferWithdrawn);
    assertEquals(OfferOutcome.ACCEPTED, withdrawn.getOfferWithdrawn().getOutcome());
    assertEquals("tv", withdrawn.getOfferWithdrawn().getByDevice());
    ServerFrame result = phone.next(ServerFrame::hasOfferResult);
    assertEquals("tv", result.getOfferResult().getByDevice());
    assertEquals(OfferOutcome.ACCEPTED, result.getOfferResult().getOutcome());

    long late = laptop.send(accept(offer.getOfferId()));
    assertEquals(ErrorCode.OFFER_WITHDRAWN, reply(laptop, late).getError().getCode());
    long unknown = laptop.send(accept("no-such-offer"));
    assertEquals(ErrorCode.OFFER_NOT_FOUND, reply(laptop, unknown).getError().getCode());
    ServerFrame control = reply(laptop, laptop.send(accept("no\u001b[2Joffer\n")));
    assertEquals(ErrorCode.BAD_REQUEST, control.getError().getCode(), control.toString());
    assertTrue(
        control.getError().getMessage().chars().noneMatch(Character::isISOControl),
        "not echoed: " + control);
    assertTrue(none(barrier(tv), ServerFrame::hasOfferWithdrawn), "the winner sees no withdrawal");
    assertTrue(none(barrier(phone), ServerFrame::hasOfferResult), "the offerer hears once");
    assertEquals(1, server.server.stats().offersAccepted.sum());
    assertEquals(1, server.server.stats().handoffTransitions());
  }

  /**
   * A device that did not get the answer to its accept, decline or cancel (a store that answered
   * too late, a node that shut down) sends it again and gets the first one's answer, the grant with
   * its snapshot included; nobody else's answer changes, and nothing is counted twice.
   */
  @Test
  void anAcceptDeclineOrCancelSentAgainByTheSameDeviceGetsTheFirstOnesAnswer() throws Exception {
    start();
    TestDevice phone = device("phone");
    phone.hello();
    phone.send(Writes.frame("player", 1, "position", "1:02:03"));
    phone.next(ServerFrame::hasAck);
    TestDevice tv = device("tv");
    tv.hello();
    TestDevice laptop = device("laptop");
    laptop.hello();

    Offer taken = offerFrom(phone, "", 0);
    tv.next(ServerFrame::hasOfferPrompt);
    for (int i = 0; i < 2; i++) {
      ServerFrame granted = reply(tv, tv.send(accept(taken.getOfferId())));
      assertTrue(granted.hasOfferGranted(), "answer " + i + ": " + granted);
      assertEquals(
          ByteString.copyFromUtf8("1:02:03"),
          granted.getOfferGranted().getSnapshot().getFieldsOrThrow("position"));
    }
    assertEquals(
        ErrorCode.OFFER_WITHDRAWN,
        reply(laptop, laptop.send(accept(taken.getOfferId()))).getError().getCode(),
        "another device still finds it taken");

    Offer declined = offerFrom(phone, "tv", 0);
    tv.next(ServerFrame::hasOfferPrompt);
    for (int i = 0; i < 2; i++) {
      ServerFrame answer = reply(tv, tv.send(decline(declined.getOfferId())));
      assertEquals(OfferOutcome.DECLINED, answer.getOfferWithdrawn().getOutcome(), "" + i);
    }

    Offer cancelled = offerFrom(phone, "tv", 0);
    for (int i = 0; i < 2; i++) {
      ServerFrame answer = reply(phone, phone.send(cancel(cancelled.getOfferId())));
      assertEquals(OfferOutcome.CANCELLED, answer.getOfferResult().getOutcome(), "" + i);
    }
    assertEquals(1, server.server.stats().offersAccepted.sum());
    assertEquals(1, server.server.stats().offersDeclined.sum());
    assertEquals(1, server.server.stats().offersCancelled.sum());
  }

  /**
   * A client whose OfferCreated was lost sends the OfferActivity again with its key: it gets the
   * same offer back, the targets see one prompt, and an offer that ended meanwhile comes with its
   * result, on a new connection too.
   */
  @Test
  void anOfferSentAgainWithItsKeyGetsTheSameOfferAndItsResult() throws Exception {
    start();
    TestDevice phone = device("phone");
    phone.hello();
    TestDevice tv = device("tv");
    tv.hello();

    ClientFrame.Builder keyed = offer("", 0);
    keyed.getOfferActivityBuilder().setOfferKey("k-1");
    Offer first = reply(phone, phone.send(keyed.clone())).getOfferCreated().getOffer();
    assertTrue(first.getOfferId().startsWith("k"), first.getOfferId());
    ServerFrame again = reply(phone, phone.send(keyed.clone()));
    assertEquals(first, again.getOfferCreated().getOffer(), "the same offer: " + again);
    tv.next(ServerFrame::hasOfferPrompt);
    assertTrue(none(barrier(tv), ServerFrame::hasOfferPrompt), "one prompt for one offer");
    assertEquals(1, server.server.stats().offersCreated.sum());

    ClientFrame.Builder other = offer("", 0);
    other.getOfferActivityBuilder().setOfferKey("k-2");
    assertNotEquals(
        first.getOfferId(),
        reply(phone, phone.send(other)).getOfferCreated().getOffer().getOfferId(),
        "another key, another offer");
    TestDevice laptop = device("laptop");
    laptop.hello();
    ClientFrame.Builder samekeyElsewhere = offer("", 0);
    samekeyElsewhere.getOfferActivityBuilder().setOfferKey("k-1");
    assertNotEquals(
        first.getOfferId(),
        reply(laptop, laptop.send(samekeyElsewhere)).getOfferCreated().getOffer().getOfferId(),
        "a key is the device's own");

    assertTrue(reply(tv, tv.send(accept(first.getOfferId()))).hasOfferGranted());
    phone.close();
    TestDevice back = device("phone");
    back.hello();
    long id = back.send(keyed.clone());
    assertEquals(first, reply(back, id).getOfferCreated().getOffer());
    ServerFrame result = back.next(ServerFrame::hasOfferResult);
    assertEquals(first.getOfferId(), result.getOfferResult().getOfferId());
    assertEquals(OfferOutcome.ACCEPTED, result.getOfferResult().getOutcome());
    assertEquals("tv", result.getOfferResult().getByDevice());

    ClientFrame.Builder tooLong = offer("", 0);
    tooLong.getOfferActivityBuilder().setOfferKey("x".repeat(65));
    ServerFrame refused = reply(back, back.send(tooLong));
    assertEquals(ErrorCode.BAD_REQUEST, refused.getError().getCode());
    assertTrue(refused.getError().getMessage().contains("offer_key"), refused.toString());
  }

  @Test
  void offerToAnOfflineDeviceReachesItWhenItConnectsWithinTheTtlAndNeverAfter() throws Exception {
    MutableClock clock = new MutableClock();
    start(clock, HandoffLimits.builder().build());
    TestDevice phone = device("phone");
    phone.hello();
    Offer offer = offerFrom(phone, "tv", 30_000);

    clock.advance(Duration.ofMillis(29_999));
    TestDevice tv = device("tv");
    Welcome w = tv.hello().getWelcome();
    assertEquals(1, w.getOffersCount());
    assertEquals(offer.getOfferId(), w.getOffers(0).getOfferId());
    tv.close();

    clock.advance(Duration.ofMillis(1));
    TestDevice tvLater = device("tv");
    assertEquals(0, tvLater.hello().getWelcome().getOffersCount(), "no offer at its deadline");
    assertTrue(none(barrier(tvLater), ServerFrame::hasOfferPrompt));
    long id = tvLater.send(accept(offer.getOfferId()));
    assertEquals(ErrorCode.OFFER_WITHDRAWN, reply(tvLater, id).getError().getCode());
  }

  @Test
  void offererThatWasAwayLearnsWhoTookItsOfferInTheWelcome() throws Exception {
    start();
    TestDevice phone = device("phone");
    phone.hello();
    Offer offer = offerFrom(phone, "tv", 0);
    phone.close();
    TestDevice tv = device("tv");
    tv.hello();
    long id = tv.send(accept(offer.getOfferId()));
    assertTrue(reply(tv, id).hasOfferGranted());
    TestDevice phoneAgain = device("phone");
    Welcome w = phoneAgain.hello().getWelcome();
    assertEquals(1, w.getOfferResultsCount());
    assertEquals(offer.getOfferId(), w.getOfferResults(0).getOfferId());
    assertEquals(OfferOutcome.ACCEPTED, w.getOfferResults(0).getOutcome());
    assertEquals("tv", w.getOfferResults(0).getByDevice());
  }

  @Test
  void expiryWithdrawsThePromptAndTellsTheOfferer() throws Exception {
    start();
    TestDevice phone = device("phone");
    phone.hello();
    TestDevice tv = device("tv");
    tv.hello();
    Offer offer = offerFrom(phone, "tv", 150);
    tv.next(ServerFrame::hasOfferPrompt);
    ServerFrame withdrawn = tv.next(ServerFrame::hasOfferWithdrawn);
    assertEquals(OfferOutcome.EXPIRED, withdrawn.getOfferWithdrawn().getOutcome());
    ServerFrame result = phone.next(ServerFrame::hasOfferResult);
    assertEquals(offer.getOfferId(), result.getOfferResult().getOfferId());
    assertEquals(OfferOutcome.EXPIRED, result.getOfferResult().getOutcome());
    assertEquals(1, server.server.stats().offersExpired.sum());
  }

  @Test
  void declineAndCancelWithdrawThePrompt() throws Exception {
    start();
    TestDevice phone = device("phone");
    phone.hello();
    TestDevice tv = device("tv");
    tv.hello();
    TestDevice laptop = device("laptop");
    laptop.hello();

    Offer first = offerFrom(phone, "", 0);
    tv.next(ServerFrame::hasOfferPrompt);
    laptop.next(ServerFrame::hasOfferPrompt);
    long declining = tv.send(decline(first.getOfferId()));
    assertEquals(OfferOutcome.DECLINED, reply(tv, declining).getOfferWithdrawn().getOutcome());
    assertEquals(
        OfferOutcome.DECLINED,
        laptop.next(ServerFrame::hasOfferWithdrawn).getOfferWithdrawn().getOutcome());
    assertEquals(
        OfferOutcome.DECLINED,
        phone.next(ServerFrame::hasOfferResult).getOfferResult().getOutcome());

    Offer second = offerFrom(phone, "laptop", 0);
    laptop.next(ServerFrame::hasOfferPrompt);
    long denied = tv.send(accept(second.getOfferId()));
    assertEquals(ErrorCode.NOT_PERMITTED, reply(tv, denied).getError().getCode());
    long cancelling = phone.send(cancel(second.getOfferId()));
    assertEquals(OfferOutcome.CANCELLED, reply(phone, cancelling).getOfferResult().getOutcome());
    assertEquals(
        OfferOutcome.CANCELLED,
        laptop.next(ServerFrame::hasOfferWithdrawn).getOfferWithdrawn().getOutcome());
    assertTrue(none(barrier(tv), ServerFrame::hasOfferPrompt), "tv was not a target");
  }

  @Test
  void badOffersAndActivitiesGetTypedErrors() throws Exception {
    start(
        java.time.Clock.systemUTC(),
        HandoffLimits.builder().maxActivityPayloadBytes(16).maxLiveOffersPerUser(2).build());
    TestDevice phone = device("phone");
    phone.hello();
    long big =
        phone.send(
            ClientFrame.newBuilder()
                .setPublishActivity(
                    PublishActivity.newBuilder()
                        .setActivity(
                            activity("player", "x").toBuilder()
                                .setPayload(ByteString.copyFrom(new byte[17])))));
    assertEquals(ErrorCode.PAYLOAD_TOO_LARGE, reply(phone, big).getError().getCode());
    long self = phone.send(offer("phone", 0));
    assertEquals(ErrorCode.BAD_TARGET, reply(phone, self).getError().getCode());
    long longTtl = phone.send(offer("tv", 11 * 60_000));
    assertEquals(ErrorCode.LIMIT_EXCEEDED, reply(phone, longTtl).getError().getCode());
    long empty =
        phone.send(ClientFrame.newBuilder().setOfferActivity(OfferActivity.getDefaultInstance()));
    assertEquals(ErrorCode.BAD_REQUEST, reply(phone, empty).getError().getCode());
    offerFrom(phone, "tv", 0);
    offerFrom(phone, "tv", 0);
    long third = phone.send(offer("tv", 0));
    assertEquals(ErrorCode.TOO_MANY_OFFERS, reply(phone, third).getError().getCode());
    assertFalse(phone.isClosed(), "errors leave the connection open");
  }

  @Test
  void devicesSeeEachOtherComeOnlineAndGoOffline() throws Exception {
    start();
    TestDevice phone = device("phone").presenceFrames();
    phone.hello();
    TestDevice tv = device("tv");
    Welcome w = tv.hello().getWelcome();
    assertEquals("phone", w.getPresence(0).getDeviceId());
    assertTrue(w.getPresence(0).getOnline());
    ServerFrame online =
        phone.next(f -> f.hasPresenceUpdate() && f.getPresenceUpdate().getDevices(0).getOnline());
    assertEquals("tv", online.getPresenceUpdate().getDevices(0).getDeviceId());
    tv.close();
    ServerFrame offline =
        phone.next(f -> f.hasPresenceUpdate() && !f.getPresenceUpdate().getDevices(0).getOnline());
    assertEquals("tv", offline.getPresenceUpdate().getDevices(0).getDeviceId());
    assertTrue(offline.getPresenceUpdate().getDevices(0).getLastSeenMs() > 0);
  }

  /**
   * What a device was told of its other devices grows one device at a time and keeps each one's
   * state apart: three others come online, one goes offline, and each update names only that one.
   */
  @Test
  void aDeviceTellsThreeOtherDevicesApartAsTheyComeAndGo() throws Exception {
    start();
    TestDevice phone = device("phone").presenceFrames();
    phone.hello();
    List<TestDevice> others = new ArrayList<>();
    for (String name : List.of("tv", "laptop", "tablet")) {
      TestDevice d = device(name);
      d.hello();
      others.add(d);
      ServerFrame online =
          phone.next(
              f ->
                  f.hasPresenceUpdate()
                      && f.getPresenceUpdate().getDevices(0).getDeviceId().equals(name));
      assertTrue(online.getPresenceUpdate().getDevices(0).getOnline(), name + " online");
      assertEquals(1, online.getPresenceUpdate().getDevicesCount(), "only what changed");
    }
    others.get(1).close();
    ServerFrame offline =
        phone.next(f -> f.hasPresenceUpdate() && !f.getPresenceUpdate().getDevices(0).getOnline());
    assertEquals(1, offline.getPresenceUpdate().getDevicesCount(), "only what changed");
    assertEquals("laptop", offline.getPresenceUpdate().getDevices(0).getDeviceId());
    Welcome w = device("watch").hello().getWelcome();
    assertEquals(4, w.getPresenceCount(), "the phone, tv, tablet online and the laptop offline");
  }
}
