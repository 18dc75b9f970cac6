package io.handoff.server.devices;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.server.MutableClock;
import io.handoff.server.devices.ApprovalStore.Bounds;
import io.handoff.server.devices.ApprovalStore.Created;
import io.handoff.server.devices.ApprovalStore.Decision;
import io.handoff.server.devices.ApprovalStore.Poll;
import io.handoff.server.devices.ApprovalStore.Request;
import io.handoff.server.devices.ApprovalStore.State;
import io.handoff.server.engine.Engine;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The {@link ApprovalStore} contract, written once and run against every engine. */
public abstract class ApprovalStoreContractTest {
  protected final MutableClock clock = new MutableClock(1_700_000_000_000L);
  private Engine engine;
  private ApprovalStore store;
  private String tag;

  protected abstract Engine newEngine(MutableClock clock) throws Exception;

  @BeforeEach
  void setUp() throws Exception {
    engine = newEngine(clock);
    store = engine.approvals();
    tag = UUID.randomUUID().toString().substring(0, 8);
  }

  @AfterEach
  void tearDown() {
    engine.close();
  }

  private static <T> T get(CompletableFuture<T> f) throws Exception {
    return f.get(10, TimeUnit.SECONDS);
  }

  private Request request(String id, String kind, String user, String address) {
    return requestFrom(id, kind, user, address + tag);
  }

  /** A request from exactly {@code address} (an IP literal, so grouped as one). */
  private Request requestFrom(String id, String kind, String user, String address) {
    long now = clock.millis();
    return new Request(
        tag + id,
        kind,
        user,
        "tv",
        "Living room",
        "tv",
        address,
        now,
        now + 60_000,
        5_000,
        "secret-" + id,
        State.PENDING,
        "",
        0);
  }

  /** Bounds per address and per user, with room in the store as a whole. */
  private static Bounds bounds(int perAddress, int perUser) {
    return new Bounds(1_000, perAddress, perUser);
  }

  private Request code(String id) throws Exception {
    Request r = request(id, "device_code", "", "10.0.0.1");
    assertEquals(Created.CREATED, get(store.create(r, bounds(10, 10))));
    return r;
  }

  @Test
  void ofManyConcurrentAnswersExactlyOneDecides() throws Exception {
    Request r = request("race", "new_device", "ann", "10.0.0.2");
    assertEquals(Created.CREATED, get(store.create(r, bounds(10, 10))));
    List<CompletableFuture<Decision>> all = new ArrayList<>();
    for (int i = 0; i < 50; i++) {
      all.add(store.decide(r.id(), "ann", "d" + i, i % 2 == 0, clock.millis()));
    }
    int decided = 0;
    String winner = null;
    for (CompletableFuture<Decision> f : all) {
      Decision d = get(f);
      if (d.status() == Decision.Status.DECIDED) {
        decided++;
        winner = d.request().byDevice();
      } else {
        assertEquals(Decision.Status.ALREADY_DECIDED, d.status());
      }
    }
    assertEquals(1, decided);
    Decision after = get(store.decide(r.id(), "ann", "late", true, clock.millis()));
    assertEquals(winner, after.request().byDevice());
  }

  @Test
  void theFirstUserToLookACodeUpHoldsIt() throws Exception {
    Request r = code("claim");
    Request seen = get(store.claim(r.id(), "ann", clock.millis()));
    assertEquals("ann", seen.userId());
    assertEquals("Living room", seen.name());
    assertNull(get(store.claim(r.id(), "eve", clock.millis())));
    assertEquals(
        Decision.Status.NOT_FOUND,
        get(store.decide(r.id(), "eve", "phone", true, clock.millis())).status());
    assertEquals(
        Decision.Status.DECIDED,
        get(store.decide(r.id(), "ann", "phone", true, clock.millis())).status());
    assertNull(get(store.claim("nope" + tag, "ann", clock.millis())));
  }

  @Test
  void anApprovedCodeIsConsumedOnceAndFastPollsSlowDown() throws Exception {
    Request r = code("poll");
    assertEquals(
        Poll.Status.PENDING, get(store.poll(r.id(), r.secretHash(), clock.millis())).status());
    Poll fast = get(store.poll(r.id(), r.secretHash(), clock.millis() + 1));
    assertEquals(Poll.Status.SLOW_DOWN, fast.status());
    assertEquals(10_000, fast.request().intervalMillis(), "raised by 5 s (RFC 8628 3.5)");
    assertEquals(Poll.Status.UNKNOWN, get(store.poll(r.id(), "wrong", clock.millis())).status());
    get(store.decide(r.id(), "ann", "phone", true, clock.millis()));
    Poll first = get(store.poll(r.id(), r.secretHash(), clock.millis()));
    assertEquals(Poll.Status.APPROVED, first.status());
    assertEquals("ann", first.request().userId());
    assertEquals(
        Poll.Status.SETTLING, get(store.poll(r.id(), r.secretHash(), clock.millis())).status());
    // A consumed approval the node could not turn into a session is given back, once, to the
    // secret's holder only.
    assertFalse(get(store.unconsume(r.id(), "wrong")));
    assertTrue(get(store.unconsume(r.id(), r.secretHash())));
    assertFalse(get(store.unconsume(r.id(), r.secretHash())), "APPROVED again: nothing to give");
    assertEquals(
        Poll.Status.APPROVED, get(store.poll(r.id(), r.secretHash(), clock.millis())).status());
    assertFalse(get(store.settle(r.id(), "wrong")));
    assertTrue(get(store.settle(r.id(), r.secretHash())), "its session was made");
    assertEquals(
        Poll.Status.CONSUMED, get(store.poll(r.id(), r.secretHash(), clock.millis())).status());
    clock.advance(java.time.Duration.ofMillis(2 * ApprovalStore.CONSUME_LEASE_MILLIS));
    assertEquals(
        Poll.Status.CONSUMED,
        get(store.poll(r.id(), r.secretHash(), clock.millis())).status(),
        "settled: used for good");
    Request pending = code("unpolled");
    assertFalse(get(store.unconsume(pending.id(), pending.secretHash())), "never consumed");
  }

  @Test
  void aConsumedApprovalNeverSettledIsApprovedAgainOncePerLease() throws Exception {
    Request r = code("lease");
    get(store.decide(r.id(), "ann", "phone", true, clock.millis()));
    assertEquals(
        Poll.Status.APPROVED, get(store.poll(r.id(), r.secretHash(), clock.millis())).status());
    // Its node lost the answer, or died, before making the session.
    clock.advance(java.time.Duration.ofMillis(ApprovalStore.CONSUME_LEASE_MILLIS - 1));
    assertEquals(
        Poll.Status.SETTLING, get(store.poll(r.id(), r.secretHash(), clock.millis())).status());
    assertEquals(Poll.Status.UNKNOWN, get(store.poll(r.id(), "wrong", clock.millis())).status());
    clock.advance(java.time.Duration.ofMillis(1));
    Poll again = get(store.poll(r.id(), r.secretHash(), clock.millis()));
    assertEquals(Poll.Status.APPROVED, again.status());
    assertEquals("ann", again.request().userId());
    assertEquals(
        Poll.Status.SETTLING,
        get(store.poll(r.id(), r.secretHash(), clock.millis())).status(),
        "once per lease");
    assertTrue(get(store.settle(r.id(), r.secretHash())));
    clock.advance(java.time.Duration.ofMillis(ApprovalStore.CONSUME_LEASE_MILLIS));
    assertEquals(
        Poll.Status.CONSUMED, get(store.poll(r.id(), r.secretHash(), clock.millis())).status());
    assertFalse(get(store.settle(code("never").id(), "secret")), "nothing consumed to settle");
  }

  @Test
  void expiryIsSeenOnceAndEndsTheRequest() throws Exception {
    Request r = code("exp");
    clock.advance(java.time.Duration.ofMinutes(1));
    Poll p = get(store.poll(r.id(), r.secretHash(), clock.millis()));
    assertEquals(Poll.Status.EXPIRED, p.status());
    assertTrue(p.firstSeenExpired());
    Poll again = get(store.poll(r.id(), r.secretHash(), clock.millis()));
    assertEquals(Poll.Status.EXPIRED, again.status());
    assertFalse(again.firstSeenExpired());
    assertEquals(
        Decision.Status.EXPIRED,
        get(store.decide(r.id(), "ann", "phone", true, clock.millis())).status());
    assertNull(get(store.claim(r.id(), "ann", clock.millis())));
  }

  @Test
  void pendingRequestsAreBoundedPerAddressAndPerUserUntilDecided() throws Exception {
    assertEquals(
        Created.CREATED,
        get(store.create(request("a1", "device_code", "", "10.1.1.1"), bounds(2, 2))));
    assertEquals(
        Created.CREATED,
        get(store.create(request("a2", "device_code", "", "10.1.1.1"), bounds(2, 2))));
    assertEquals(
        Created.ADDRESS_LIMIT,
        get(store.create(request("a3", "device_code", "", "10.1.1.1"), bounds(2, 2))));
    get(store.decide(tag + "a1", "ann", "phone", false, clock.millis()));
    assertEquals(
        Created.CREATED,
        get(store.create(request("a3", "device_code", "", "10.1.1.1"), bounds(2, 2))));

    assertEquals(
        Created.CREATED,
        get(store.create(request("u1", "new_device", "bob", "10.2.0.1"), bounds(9, 1))));
    assertEquals(
        Created.USER_LIMIT,
        get(store.create(request("u2", "new_device", "bob", "10.2.0.2"), bounds(9, 1))));
    assertEquals(
        Created.ID_TAKEN,
        get(store.create(request("u1", "new_device", "cid", "10.2.0.3"), bounds(9, 1))));
    List<Request> pending = get(store.pending("bob", clock.millis()));
    assertEquals(1, pending.size());
    assertEquals(tag + "u1", pending.get(0).id());
    assertTrue(get(store.pending("cid", clock.millis())).isEmpty());
  }

  @Test
  void theAddressesOfOneIpv6Slash64CountAsOneAddressAndMappedIpv4AsIpv4() throws Exception {
    assertEquals(
        Created.CREATED,
        get(store.create(requestFrom("s1", "device_code", "", "2001:db8:5:6::1"), bounds(2, 9))));
    assertEquals(
        Created.CREATED,
        get(
            store.create(
                requestFrom("s2", "device_code", "", "2001:db8:5:6:ffff:ffff:ffff:fffe"),
                bounds(2, 9))));
    assertEquals(
        Created.ADDRESS_LIMIT,
        get(store.create(requestFrom("s3", "device_code", "", "2001:db8:5:6::3"), bounds(2, 9))),
        "a third address of the same /64 is the same host");
    assertEquals(
        Created.CREATED,
        get(store.create(requestFrom("s4", "device_code", "", "2001:db8:5:7::1"), bounds(2, 9))),
        "the next /64 is another");

    String ann = "ann-" + tag;
    assertEquals(
        Created.CREATED,
        get(store.create(requestFrom("m1", "new_device", ann, "192.0.2.7"), bounds(1, 9))));
    assertEquals(
        Created.ADDRESS_LIMIT,
        get(store.create(requestFrom("m2", "device_code", "", "::ffff:192.0.2.7"), bounds(1, 9))),
        "an IPv4-mapped IPv6 address is the IPv4 address");
    assertEquals(
        Created.CREATED,
        get(store.create(requestFrom("m3", "device_code", "", "192.0.2.8"), bounds(1, 9))),
        "IPv4 addresses are counted one by one");

    get(store.decide(tag + "s1", "bob", "phone", false, clock.millis()));
    assertEquals(
        Created.CREATED,
        get(store.create(requestFrom("s5", "device_code", "", "2001:db8:5:6::5"), bounds(2, 9))),
        "a request that ends frees its place in its /64");
    get(store.erase(ann));
    assertEquals(
        Created.CREATED,
        get(store.create(requestFrom("m4", "device_code", "", "::ffff:192.0.2.7"), bounds(1, 9))),
        "erasing the user frees its request's place in its address's group");
    assertEquals(
        "2001:db8:5:6:ffff:ffff:ffff:fffe",
        get(store.claim(tag + "s2", "bob", clock.millis())).address(),
        "the request keeps its whole address, to show the approving device");
  }

  @Test
  void pendingRequestsAreBoundedInTheWholeStoreWhateverAddressesTheyComeFrom() throws Exception {
    Bounds three = new Bounds(3, 1, 1);
    String ann = "ann-" + tag;
    String bob = "bob-" + tag;
    Request lapsing = request("t1", "device_code", "", "10.4.0.1");
    assertEquals(Created.CREATED, get(store.create(lapsing, three)));
    clock.advance(java.time.Duration.ofSeconds(30));
    Request held = request("t2", "new_device", ann, "10.4.0.2");
    assertEquals(Created.CREATED, get(store.create(held, three)));
    Request approved = request("t3", "device_code", "", "10.4.0.3");
    assertEquals(Created.CREATED, get(store.create(approved, three)));

    Request over = request("t4", "new_device", bob, "10.4.0.4");
    assertEquals(Created.FULL, get(store.create(over, three)), "a fourth, from a fourth address");
    assertEquals(
        Poll.Status.UNKNOWN,
        get(store.poll(over.id(), over.secretHash(), clock.millis())).status(),
        "nothing is stored");
    assertTrue(get(store.pending(bob, clock.millis())).isEmpty());

    assertEquals(
        Decision.Status.DECIDED,
        get(store.decide(approved.id(), ann, "phone", true, clock.millis())).status());
    assertEquals(
        Created.CREATED,
        get(store.create(request("t5", "new_device", bob, "10.4.0.4"), three)),
        "a decided request frees its place, and the refused one took none of its address or user");
    assertEquals(
        Created.FULL, get(store.create(request("t6", "device_code", "", "10.4.0.5"), three)));

    clock.advance(java.time.Duration.ofSeconds(31));
    assertEquals(
        Created.CREATED,
        get(store.create(request("t7", "device_code", "", "10.4.0.5"), three)),
        "an expired request frees its place");
    assertEquals(
        Created.FULL, get(store.create(request("t8", "device_code", "", "10.4.0.6"), three)));

    get(store.erase(ann));
    assertEquals(
        Created.CREATED,
        get(store.create(request("t9", "device_code", "", "10.4.0.6"), three)),
        "an erased request frees its place");
  }

  @Test
  void aRequestRefusedForATakenIdLeavesTheHoldersPlacesCounted() throws Exception {
    Bounds two = new Bounds(2, 1, 1);
    String ann = "ann-" + tag;
    Request held = request("k1", "new_device", ann, "10.5.0.1");
    assertEquals(Created.CREATED, get(store.create(held, two)));
    for (String address : new String[] {"10.5.0.1", "10.5.0.2"}) {
      assertEquals(
          Created.ID_TAKEN,
          get(store.create(request("k1", "new_device", ann, address), two)),
          "the same id (a user-code collision) from " + address);
    }
    assertEquals(
        Created.ADDRESS_LIMIT,
        get(store.create(request("k2", "device_code", "", "10.5.0.1"), two)),
        "the holder still counts against its address");
    assertEquals(
        Created.USER_LIMIT,
        get(store.create(request("k3", "new_device", ann, "10.5.0.3"), two)),
        "and its user");
    assertEquals(
        Created.CREATED, get(store.create(request("k4", "device_code", "", "10.5.0.4"), two)));
    assertEquals(
        Created.FULL,
        get(store.create(request("k5", "device_code", "", "10.5.0.5"), two)),
        "and the store");
  }

  @Test
  void aRequestThatEndsFreesItsPlacesInTheBoundsAtOnce() throws Exception {
    String ann = "ann-" + tag;
    String bob = "bob-" + tag;
    assertEquals(
        Created.CREATED,
        get(store.create(request("h1", "new_device", ann, "10.3.0.1"), bounds(1, 1))));
    assertEquals(
        Created.ADDRESS_LIMIT,
        get(store.create(request("h2", "new_device", bob, "10.3.0.1"), bounds(1, 1))));
    assertEquals(
        Created.USER_LIMIT,
        get(store.create(request("h3", "new_device", ann, "10.3.0.2"), bounds(1, 1))));
    Request claimed = request("c1", "device_code", "", "10.3.0.3");
    assertEquals(Created.CREATED, get(store.create(claimed, bounds(1, 1))));
    assertEquals(ann, get(store.claim(claimed.id(), ann, clock.millis())).userId());

    get(store.erase(ann));
    assertEquals(
        Created.CREATED,
        get(store.create(request("h4", "new_device", bob, "10.3.0.1"), bounds(1, 1))),
        "the erased request's address is free");
    assertEquals(
        Created.CREATED,
        get(store.create(request("h5", "new_device", ann, "10.3.0.2"), bounds(1, 1))),
        "and its user");
    assertEquals(
        Created.CREATED,
        get(store.create(request("c2", "device_code", "", "10.3.0.3"), bounds(1, 1))),
        "the erased code's address is free");

    Request approved = request("c3", "device_code", "", "10.3.0.4");
    assertEquals(Created.CREATED, get(store.create(approved, bounds(1, 1))));
    assertEquals(
        Decision.Status.DECIDED,
        get(store.decide(approved.id(), bob, "phone", true, clock.millis())).status());
    assertEquals(
        Poll.Status.APPROVED,
        get(store.poll(approved.id(), approved.secretHash(), clock.millis())).status());
    assertEquals(
        Created.CREATED,
        get(store.create(request("c4", "device_code", "", "10.3.0.4"), bounds(1, 1))),
        "a consumed code's address is free");

    Request denied = request("h6", "new_device", bob, "10.3.0.5");
    assertEquals(Created.CREATED, get(store.create(denied, bounds(1, 2))));
    get(store.decide(denied.id(), bob, "phone", false, clock.millis()));
    assertEquals(
        Created.CREATED,
        get(store.create(request("h7", "new_device", "cy-" + tag, "10.3.0.5"), bounds(1, 1))),
        "a denied request's address is free");

    Request lapsing = request("c5", "device_code", "", "10.3.0.6");
    assertEquals(Created.CREATED, get(store.create(lapsing, bounds(1, 1))));
    clock.advance(java.time.Duration.ofMinutes(1));
    assertEquals(
        Created.CREATED,
        get(store.create(request("c6", "device_code", "", "10.3.0.6"), bounds(1, 1))),
        "an expired code's address is free");
  }

  @Test
  void erasureTakesEveryRequestOfTheUserAndSweepingKeepsWhatIsLive() throws Exception {
    String user = "eve-" + tag;
    Request held = request("held", "new_device", user, "10.0.0.5");
    assertEquals(Created.CREATED, get(store.create(held, bounds(10, 10))));
    Request claimed = code("claimed");
    assertEquals(user, get(store.claim(claimed.id(), user, clock.millis())).userId());
    Request stranger = code("stranger");
    assertEquals("ida", get(store.claim(stranger.id(), "ida", clock.millis())).userId());

    get(store.sweep(java.time.Instant.ofEpochMilli(clock.millis())));
    assertEquals(1, get(store.pending(user, clock.millis())).size(), "sweeping keeps live ones");

    get(store.erase(user));
    assertTrue(get(store.pending(user, clock.millis())).isEmpty());
    assertEquals(
        Decision.Status.NOT_FOUND,
        get(store.decide(claimed.id(), user, "phone", true, clock.millis())).status());
    assertEquals(
        Poll.Status.UNKNOWN,
        get(store.poll(held.id(), held.secretHash(), clock.millis())).status());
    assertEquals(
        Decision.Status.DECIDED,
        get(store.decide(stranger.id(), "ida", "phone", true, clock.millis())).status(),
        "another user's request stays");
  }

  @Test
  void aCodeDecidedWithoutBeingLookedUpFirstIsErasedWithTheUserWhoDecidedIt() throws Exception {
    String user = "fay-" + tag;
    Request approved = code("direct-yes");
    Request denied = code("direct-no");
    Request stranger = code("direct-other");
    assertEquals(
        Decision.Status.DECIDED,
        get(store.decide(approved.id(), user, "phone", true, clock.millis())).status());
    assertEquals(
        Decision.Status.DECIDED,
        get(store.decide(denied.id(), user, "phone", false, clock.millis())).status());
    assertEquals(
        Decision.Status.DECIDED,
        get(store.decide(stranger.id(), "gil-" + tag, "phone", true, clock.millis())).status());

    get(store.erase(user));
    assertEquals(
        Poll.Status.UNKNOWN,
        get(store.poll(approved.id(), approved.secretHash(), clock.millis())).status(),
        "an approved code of an erased user gives no session");
    assertEquals(
        Poll.Status.UNKNOWN,
        get(store.poll(denied.id(), denied.secretHash(), clock.millis())).status(),
        "nor does a denied one keep the user's name");
    Poll other = get(store.poll(stranger.id(), stranger.secretHash(), clock.millis()));
    assertEquals(Poll.Status.APPROVED, other.status(), "another user's code stays");
    assertEquals("gil-" + tag, other.request().userId());
  }

  @Test
  void failedAttemptsAreCountedPerScopeWithinAWindow() throws Exception {
    String scope = "u:" + tag;
    assertEquals(0, get(store.failures(scope, clock.millis())));
    assertEquals(1, get(store.fail(scope, 60_000, clock.millis())));
    assertEquals(2, get(store.fail(scope, 60_000, clock.millis())));
    assertEquals(2, get(store.failures(scope, clock.millis())));
    assertEquals(0, get(store.failures("a:" + tag, clock.millis())));
    assertEquals(1, get(store.forgive(scope, clock.millis())));
    assertEquals(0, get(store.forgive(scope, clock.millis())));
    assertEquals(0, get(store.forgive(scope, clock.millis())), "never below zero");
    assertEquals(0, get(store.forgive("a:" + tag, clock.millis())), "nothing without a window");
    assertEquals(0, get(store.failures("a:" + tag, clock.millis())));
    assertEquals(1, get(store.fail(scope, 60_000, clock.millis())));
  }
}
