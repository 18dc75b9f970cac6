package io.handoff.server.handoff;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.handoff.protocol.v1.Activity;
import io.handoff.protocol.v1.DevicePresence;
import io.handoff.protocol.v1.Offer;
import io.handoff.protocol.v1.OfferOutcome;
import io.handoff.server.MutableClock;
import io.handoff.server.engine.Engine;
import io.handoff.server.handoff.HandoffStore.Creation;
import io.handoff.server.handoff.HandoffStore.EndStatus;
import io.handoff.server.handoff.HandoffStore.Made;
import io.handoff.server.handoff.HandoffStore.OfferEnd;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The {@link HandoffStore} contract, written once and run against every engine, on a clock the
 * tests move by hand. Each test uses its own user id.
 */
public abstract class HandoffStoreContractTest {
  protected final MutableClock clock = new MutableClock();
  protected Engine engine;
  protected HandoffStore store;
  protected String user;

  /** A fresh engine on {@code clock}. */
  protected abstract Engine newEngine(MutableClock clock) throws Exception;

  @BeforeEach
  void setUp() throws Exception {
    engine = newEngine(clock);
    store = engine.handoff();
    user = "user-" + UUID.randomUUID();
  }

  @AfterEach
  void tearDown() {
    engine.close();
  }

  private static <T> T get(CompletableFuture<T> f) throws Exception {
    return f.get(10, TimeUnit.SECONDS);
  }

  private Offer offer(String id, String from, String target, Duration ttl) {
    long now = clock.millis();
    return Offer.newBuilder()
        .setOfferId(id)
        .setFromDevice(from)
        .setTargetDevice(target)
        .setActivity(Activity.newBuilder().setDeviceId(from).setDocument("player").setKind("video"))
        .setCreatedMs(now)
        .setExpiresMs(now + ttl.toMillis())
        .build();
  }

  private static Activity activity(String device, String title) {
    return Activity.newBuilder()
        .setDeviceId(device)
        .setDocument("player")
        .setTitle(title)
        .setPayload(ByteString.copyFromUtf8("pos=" + title))
        .build();
  }

  @Test
  void activityIsReplacedPerDeviceAndCanBeCleared() throws Exception {
    get(store.putActivity(user, activity("phone", "a"), Duration.ofHours(1), 64));
    get(store.putActivity(user, activity("phone", "b"), Duration.ofHours(1), 64));
    get(store.putActivity(user, activity("tv", "c"), Duration.ofHours(1), 64));
    Map<String, String> titles =
        get(store.activities(user)).stream()
            .collect(Collectors.toMap(Activity::getDeviceId, Activity::getTitle));
    assertEquals(Map.of("phone", "b", "tv", "c"), titles);

    get(store.clearActivity(user, "phone"));
    assertEquals(
        List.of("tv"), get(store.activities(user)).stream().map(Activity::getDeviceId).toList());
    assertTrue(get(store.activities("someone-else-" + user)).isEmpty());
  }

  @Test
  void activitiesAreBoundedByMaxDevicesAndTheLeastRecentlyUpdatedMakesRoom() throws Exception {
    for (int i = 0; i < 10; i++) {
      Activity a = activity("d" + i, "t" + i).toBuilder().setUpdatedMs(1000 + i).build();
      get(store.putActivity(user, a, Duration.ofHours(1), 3));
    }
    assertEquals(
        java.util.Set.of("d7", "d8", "d9"),
        get(store.activities(user)).stream()
            .map(Activity::getDeviceId)
            .collect(Collectors.toSet()));
    // A device already there replaces its own and drops no other.
    get(
        store.putActivity(
            user,
            activity("d7", "again").toBuilder().setUpdatedMs(2000).build(),
            Duration.ofHours(1),
            3));
    assertEquals(3, get(store.activities(user)).size());
  }

  @Test
  void concurrentAcceptsEndTheOfferExactlyOnce() throws Exception {
    for (int round = 0; round < 50; round++) {
      String id = "o" + round;
      assertEquals(
          Made.CREATED,
          get(store.createOffer(user, offer(id, "phone", "", Duration.ofMinutes(1)), 100)).made());
      List<CompletableFuture<OfferEnd>> accepts = new ArrayList<>();
      List<Thread> threads = new ArrayList<>();
      for (String device : List.of("tv", "laptop", "tablet")) {
        CompletableFuture<OfferEnd> f = new CompletableFuture<>();
        accepts.add(f);
        threads.add(
            new Thread(
                () ->
                    store
                        .endOffer(user, id, device, OfferOutcome.ACCEPTED)
                        .whenComplete(
                            (r, e) -> {
                              if (e != null) {
                                f.completeExceptionally(e);
                              } else {
                                f.complete(r);
                              }
                            })));
      }
      threads.forEach(Thread::start);
      List<OfferEnd> results = new ArrayList<>();
      for (CompletableFuture<OfferEnd> f : accepts) {
        results.add(get(f));
      }
      List<OfferEnd> winners = results.stream().filter(r -> r.status() == EndStatus.ENDED).toList();
      assertEquals(1, winners.size(), "exactly one accept wins in round " + round);
      String winner = winners.get(0).byDevice();
      for (OfferEnd r : results) {
        assertEquals(OfferOutcome.ACCEPTED, r.outcome());
        assertEquals(winner, r.byDevice(), "every accept sees the same winner");
      }
    }
  }

  @Test
  void onlyTargetsMayAcceptAndOnlyTheOffererMayCancel() throws Exception {
    assertEquals(
        Made.CREATED,
        get(store.createOffer(user, offer("x", "phone", "tv", Duration.ofMinutes(1)), 10)).made());
    assertEquals(
        EndStatus.NOT_PERMITTED,
        get(store.endOffer(user, "x", "laptop", OfferOutcome.ACCEPTED)).status());
    assertEquals(
        EndStatus.NOT_PERMITTED,
        get(store.endOffer(user, "x", "phone", OfferOutcome.ACCEPTED)).status());
    assertEquals(
        EndStatus.NOT_PERMITTED,
        get(store.endOffer(user, "x", "tv", OfferOutcome.CANCELLED)).status());
    OfferEnd cancel = get(store.endOffer(user, "x", "phone", OfferOutcome.CANCELLED));
    assertEquals(EndStatus.ENDED, cancel.status());
    assertEquals(OfferOutcome.CANCELLED, cancel.outcome());

    OfferEnd late = get(store.endOffer(user, "x", "tv", OfferOutcome.ACCEPTED));
    assertEquals(EndStatus.ALREADY_ENDED, late.status());
    assertEquals(OfferOutcome.CANCELLED, late.outcome());
    assertEquals(
        EndStatus.NOT_FOUND,
        get(store.endOffer(user, "nope", "tv", OfferOutcome.ACCEPTED)).status());
  }

  @Test
  void offerIsLiveUntilItsDeadlineAndNeverAfter() throws Exception {
    assertEquals(
        Made.CREATED,
        get(store.createOffer(user, offer("x", "phone", "tv", Duration.ofSeconds(30)), 10)).made());
    clock.advance(Duration.ofMillis(29_999));
    assertEquals(
        List.of("x"), get(store.liveOffers(user)).stream().map(Offer::getOfferId).toList());
    clock.advance(Duration.ofMillis(1));
    assertTrue(get(store.liveOffers(user)).isEmpty(), "not live at its deadline");

    OfferEnd accept = get(store.endOffer(user, "x", "tv", OfferOutcome.ACCEPTED));
    assertEquals(EndStatus.ENDED, accept.status(), "the late accept recorded the expiry");
    assertEquals(OfferOutcome.EXPIRED, accept.outcome());
    assertEquals("", accept.byDevice());
    assertEquals(clock.millis(), accept.endedMs(), "it ended at its deadline");
  }

  /**
   * A device told the offer expired (its accept came at the deadline) is never contradicted: an
   * accept through a node whose clock is behind, here the store's clock set back, finds it expired.
   */
  @Test
  void anAcceptPastTheDeadlineRecordsTheExpirySoNoLaterAcceptWinsWhateverItsClock()
      throws Exception {
    assertEquals(
        Made.CREATED,
        get(store.createOffer(user, offer("x", "phone", "", Duration.ofSeconds(30)), 10)).made());
    clock.advance(Duration.ofSeconds(30));
    assertEquals(
        OfferOutcome.EXPIRED,
        get(store.endOffer(user, "x", "laptop", OfferOutcome.ACCEPTED)).outcome());
    clock.advance(Duration.ofSeconds(-5));
    OfferEnd behind = get(store.endOffer(user, "x", "tv", OfferOutcome.ACCEPTED));
    assertEquals(EndStatus.ALREADY_ENDED, behind.status());
    assertEquals(OfferOutcome.EXPIRED, behind.outcome());
    assertEquals(
        EndStatus.ALREADY_ENDED, get(store.endOffer(user, "x", "", OfferOutcome.EXPIRED)).status());
    assertEquals(
        List.of(OfferOutcome.EXPIRED),
        get(store.recentlyEnded(user)).stream().map(OfferEnd::outcome).toList());
  }

  @Test
  void expiryEndsTheOfferOnceAndOnlyAfterItsDeadline() throws Exception {
    assertEquals(
        Made.CREATED,
        get(store.createOffer(user, offer("x", "phone", "", Duration.ofSeconds(5)), 10)).made());
    assertEquals(
        EndStatus.NOT_YET_EXPIRED,
        get(store.endOffer(user, "x", "", OfferOutcome.EXPIRED)).status());
    clock.advance(Duration.ofSeconds(5));
    assertEquals(
        EndStatus.ENDED, get(store.endOffer(user, "x", "", OfferOutcome.EXPIRED)).status());
    OfferEnd again = get(store.endOffer(user, "x", "", OfferOutcome.EXPIRED));
    assertEquals(EndStatus.ALREADY_ENDED, again.status());
    assertEquals(OfferOutcome.EXPIRED, again.outcome());
  }

  @Test
  void liveOffersAreBoundedPerUserAndEndedOnesFreeTheirPlace() throws Exception {
    assertEquals(
        Made.CREATED,
        get(store.createOffer(user, offer("a", "phone", "", Duration.ofSeconds(10)), 2)).made());
    assertEquals(
        Made.CREATED,
        get(store.createOffer(user, offer("b", "phone", "", Duration.ofSeconds(60)), 2)).made());
    assertEquals(
        Made.TOO_MANY,
        get(store.createOffer(user, offer("c", "phone", "", Duration.ofSeconds(60)), 2)).made());
    get(store.endOffer(user, "b", "tv", OfferOutcome.DECLINED));
    assertEquals(
        Made.CREATED,
        get(store.createOffer(user, offer("d", "phone", "", Duration.ofSeconds(60)), 2)).made());
    assertEquals(
        Made.TOO_MANY,
        get(store.createOffer(user, offer("e", "phone", "", Duration.ofSeconds(60)), 2)).made());
    clock.advance(Duration.ofSeconds(10)); // "a" expires without anyone ending it.
    assertEquals(
        Made.CREATED,
        get(store.createOffer(user, offer("f", "phone", "", Duration.ofSeconds(60)), 2)).made());
  }

  @Test
  void anOfferIdMadeBeforeReturnsTheFirstOfferLiveOrEndedAndStoresNothing() throws Exception {
    Offer first = offer("keyed", "phone", "tv", Duration.ofSeconds(60));
    assertEquals(Made.CREATED, get(store.createOffer(user, first, 2)).made());
    clock.advance(Duration.ofSeconds(1));
    Offer second = offer("keyed", "phone", "", Duration.ofSeconds(30));
    Creation again = get(store.createOffer(user, second, 2));
    assertEquals(Made.EXISTS, again.made());
    assertEquals(first, again.offer());
    assertEquals(List.of(first), get(store.liveOffers(user)));

    // Found before the limit is checked: the user's one other live offer fills it.
    assertEquals(
        Made.CREATED,
        get(store.createOffer(user, offer("other", "phone", "", Duration.ofSeconds(60)), 2))
            .made());
    assertEquals(Made.EXISTS, get(store.createOffer(user, second, 2)).made());

    get(store.endOffer(user, "keyed", "tv", OfferOutcome.ACCEPTED));
    Creation ended = get(store.createOffer(user, second, 2));
    assertEquals(Made.EXISTS, ended.made());
    assertEquals(first, ended.offer());
    assertEquals(
        EndStatus.ALREADY_ENDED,
        get(store.endOffer(user, "keyed", "tv", OfferOutcome.ACCEPTED)).status());
  }

  @Test
  void recentlyEndedOffersKeepTheirOutcomeAndUnendedPastDeadlineReadExpired() throws Exception {
    assertEquals(
        Made.CREATED,
        get(store.createOffer(user, offer("taken", "phone", "", Duration.ofSeconds(60)), 10))
            .made());
    assertEquals(
        Made.CREATED,
        get(store.createOffer(user, offer("lapsed", "phone", "", Duration.ofSeconds(5)), 10))
            .made());
    assertEquals(
        Made.CREATED,
        get(store.createOffer(user, offer("live", "phone", "", Duration.ofSeconds(60)), 10))
            .made());
    get(store.endOffer(user, "taken", "tv", OfferOutcome.ACCEPTED));
    clock.advance(Duration.ofSeconds(5));
    Map<String, OfferEnd> ended =
        get(store.recentlyEnded(user)).stream()
            .collect(Collectors.toMap(e -> e.offer().getOfferId(), e -> e));
    assertEquals(2, ended.size(), ended.keySet().toString());
    assertEquals(OfferOutcome.ACCEPTED, ended.get("taken").outcome());
    assertEquals("tv", ended.get("taken").byDevice());
    assertEquals(OfferOutcome.EXPIRED, ended.get("lapsed").outcome());

    // Still reported after another offer's creation swept the lapsed one out of the live set.
    assertEquals(
        Made.CREATED,
        get(store.createOffer(user, offer("next", "phone", "", Duration.ofSeconds(60)), 10))
            .made());
    assertEquals(
        OfferOutcome.EXPIRED,
        get(store.recentlyEnded(user)).stream()
            .filter(e -> e.offer().getOfferId().equals("lapsed"))
            .findFirst()
            .orElseThrow()
            .outcome());
    clock.advance(HandoffStore.ENDED_RETENTION.plusSeconds(60));
    assertTrue(get(store.recentlyEnded(user)).isEmpty(), "forgotten after the retention");
  }

  @Test
  void presenceTurnsOfflineWhenItsDeadlinePassesWithoutRefresh() throws Exception {
    get(store.online(user, "phone", 11, 0, Duration.ofSeconds(20), 10));
    get(store.online(user, "tv", 21, 0, Duration.ofSeconds(20), 10));
    clock.advance(Duration.ofSeconds(15));
    get(store.online(user, "phone", 11, 0, Duration.ofSeconds(20), 10));
    clock.advance(Duration.ofSeconds(5));
    Map<String, DevicePresence> p = byDevice(get(store.presence(user)));
    assertTrue(p.get("phone").getOnline(), "refreshed entry stays online");
    assertFalse(p.get("tv").getOnline(), "unrefreshed entry is offline at its deadline");
    assertEquals(clock.millis() - 20_000, p.get("tv").getLastSeenMs());
  }

  @Test
  void offlineFromAnOldConnectionDoesNotHideANewerOne() throws Exception {
    get(store.online(user, "phone", 11, 0, Duration.ofSeconds(20), 10));
    get(store.online(user, "phone", 27, 0, Duration.ofSeconds(20), 10));
    assertFalse(get(store.offline(user, "phone", 11)));
    assertTrue(byDevice(get(store.presence(user))).get("phone").getOnline());
    clock.advance(Duration.ofSeconds(1));
    assertTrue(get(store.offline(user, "phone", 27)));
    DevicePresence p = byDevice(get(store.presence(user))).get("phone");
    assertFalse(p.getOnline());
    assertEquals(clock.millis(), p.getLastSeenMs());
  }

  @Test
  void presenceKeepsAtMostMaxDevicesDroppingTheLongestOffline() throws Exception {
    get(store.online(user, "a", 1, 0, Duration.ofSeconds(20), 2));
    get(store.online(user, "b", 2, 0, Duration.ofSeconds(20), 2));
    get(store.offline(user, "a", 1));
    clock.advance(Duration.ofSeconds(1));
    get(store.online(user, "c", 3, 0, Duration.ofSeconds(20), 2));
    assertEquals(
        List.of("b", "c"),
        get(store.presence(user)).stream().map(DevicePresence::getDeviceId).sorted().toList());

    // Every entry online: the newcomer is not listed, and no online device is dropped for it (it
    // would drop another at its next refresh, and the user's devices would see presence flap).
    get(store.online(user, "d", 4, 0, Duration.ofSeconds(20), 2));
    get(store.keep(user, List.of(new HandoffStore.Live("d", 4, 0, 0)), Duration.ofSeconds(20), 2));
    Map<String, DevicePresence> full = byDevice(get(store.presence(user)));
    assertEquals(Set.of("b", "c"), full.keySet());
    assertTrue(full.get("b").getOnline() && full.get("c").getOnline());
  }

  @Test
  void keepRefreshesTheGivenDevicesAndReadsEveryDeviceOfTheUser() throws Exception {
    Duration ttl = Duration.ofSeconds(20);
    get(store.online(user, "phone", 11, 0, ttl, 10));
    get(
        store.online(
            user, "tv", 21, 0, ttl, 10)); // another connection's (another node's), not kept here
    get(store.online(user, "laptop", 12, 0, ttl, 10));
    clock.advance(Duration.ofSeconds(15));

    List<DevicePresence> kept =
        get(
            store.keep(
                user,
                List.of(
                    new HandoffStore.Live("phone", 11, 0, 0),
                    new HandoffStore.Live("watch", 13, 0, 0)),
                ttl,
                10));

    Map<String, DevicePresence> read = byDevice(kept);
    assertEquals(Set.of("phone", "tv", "laptop", "watch"), read.keySet(), "every device read");
    assertTrue(read.values().stream().allMatch(DevicePresence::getOnline), "all within deadlines");
    assertEquals(clock.millis(), read.get("phone").getLastSeenMs(), "refreshed now");
    assertEquals(clock.millis(), read.get("watch").getLastSeenMs(), "a new entry");
    assertEquals(clock.millis() - 15_000, read.get("tv").getLastSeenMs(), "not refreshed");
    assertEquals(byDevice(get(store.presence(user))), read, "what presence reads");
    assertFalse(get(store.offline(user, "watch", 11)), "kept through its own connection");
    assertTrue(get(store.offline(user, "watch", 13)));
    assertFalse(byDevice(get(store.presence(user))).get("watch").getOnline());

    clock.advance(Duration.ofSeconds(5)); // the unrefreshed deadlines pass, the kept ones do not
    Map<String, DevicePresence> later = byDevice(get(store.presence(user)));
    assertTrue(later.get("phone").getOnline());
    assertFalse(later.get("tv").getOnline());
    assertFalse(later.get("laptop").getOnline());
  }

  @Test
  void keepWithNoDeviceOnlyReadsAndKeepsTheDeviceBound() throws Exception {
    Duration ttl = Duration.ofSeconds(20);
    get(store.online(user, "a", 1, 0, ttl, 2));
    DevicePresence before = byDevice(get(store.presence(user))).get("a");
    clock.advance(Duration.ofSeconds(1));
    List<DevicePresence> read = get(store.keep(user, List.of(), ttl, 2));
    assertEquals(List.of(before), read, "read, not refreshed: last seen unchanged");
    get(store.offline(user, "a", 1));
    clock.advance(Duration.ofSeconds(1));
    List<DevicePresence> kept =
        get(
            store.keep(
                user,
                List.of(new HandoffStore.Live("b", 2, 0, 0), new HandoffStore.Live("c", 3, 0, 0)),
                ttl,
                2));
    assertEquals(
        List.of("b", "c"),
        kept.stream().map(DevicePresence::getDeviceId).sorted().toList(),
        "at most two devices: the longest offline made room");
  }

  @Test
  void aLateKeepDoesNotBringBackADeviceItsConnectionOrAnotherOneTookOffline() throws Exception {
    Duration ttl = Duration.ofSeconds(20);
    long since = clock.millis();
    get(store.online(user, "phone", 1, 0, ttl, 10));
    clock.advance(Duration.ofSeconds(1));
    // The keeper named connection 1 while it was open; its call comes after the close.
    get(store.offline(user, "phone", 1));
    get(store.keep(user, List.of(new HandoffStore.Live("phone", 1, 0, since)), ttl, 10));
    assertFalse(byDevice(get(store.presence(user))).get("phone").getOnline(), "left through 1");

    // The device came back through connection 2 (another node's), before the call of 1.
    clock.advance(Duration.ofSeconds(1));
    get(store.online(user, "phone", 2, 0, ttl, 10));
    get(store.keep(user, List.of(new HandoffStore.Live("phone", 1, 0, since)), ttl, 10));
    assertTrue(get(store.offline(user, "phone", 2)), "2 still holds the entry, so 2 takes it down");
    get(store.keep(user, List.of(new HandoffStore.Live("phone", 1, 0, since)), ttl, 10));
    assertFalse(byDevice(get(store.presence(user))).get("phone").getOnline(), "left through 2");
  }

  @Test
  void keepTakesOverAnEntryLeftBeforeItsConnectionCameOrNoLongerRefreshed() throws Exception {
    Duration ttl = Duration.ofSeconds(20);
    get(store.online(user, "phone", 1, 0, ttl, 10));
    get(store.offline(user, "phone", 1));
    clock.advance(Duration.ofSeconds(1));
    // Connection 2 came after 1 left, and its own mark was lost (a store that lost a second).
    long since = clock.millis();
    get(store.keep(user, List.of(new HandoffStore.Live("phone", 2, 0, since)), ttl, 10));
    assertTrue(byDevice(get(store.presence(user))).get("phone").getOnline());
    assertTrue(get(store.offline(user, "phone", 2)), "held through 2 now");

    // Connection 3 online, then its node stopped refreshing it: past its deadline 4 takes over.
    get(store.online(user, "phone", 3, 0, ttl, 10));
    long since4 = clock.millis();
    clock.advance(ttl.plusSeconds(1));
    get(store.keep(user, List.of(new HandoffStore.Live("phone", 4, 0, since4)), ttl, 10));
    assertTrue(byDevice(get(store.presence(user))).get("phone").getOnline());
    assertTrue(get(store.offline(user, "phone", 4)), "held through 4 now");
  }

  @Test
  void aDeviceIsHeldElsewhereOnlyWhileAnotherConnectionHoldsItOnline() throws Exception {
    Duration ttl = Duration.ofSeconds(20);
    assertFalse(get(store.heldElsewhere(user, "phone", 1)).isPresent(), "no entry");
    get(store.online(user, "phone", 1, 0, ttl, 10));
    assertFalse(get(store.heldElsewhere(user, "phone", 1)).isPresent(), "its own");
    get(store.online(user, "phone", 2, 0, ttl, 10));
    assertTrue(
        get(store.heldElsewhere(user, "phone", 1)).isPresent(), "the newer connection holds it");
    assertFalse(get(store.heldElsewhere(user, "phone", 2)).isPresent());
    clock.advance(ttl);
    assertFalse(get(store.heldElsewhere(user, "phone", 1)).isPresent(), "past its deadline");
    get(store.online(user, "phone", 2, 0, ttl, 10));
    get(store.offline(user, "phone", 2));
    assertFalse(get(store.heldElsewhere(user, "phone", 1)).isPresent(), "offline");
  }

  private static Map<String, DevicePresence> byDevice(List<DevicePresence> all) {
    return all.stream().collect(Collectors.toMap(DevicePresence::getDeviceId, p -> p));
  }
}
