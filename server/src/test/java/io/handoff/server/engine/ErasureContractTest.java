package io.handoff.server.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import com.google.protobuf.ByteString;
import io.handoff.protocol.v1.Activity;
import io.handoff.protocol.v1.FieldOp;
import io.handoff.protocol.v1.Offer;
import io.handoff.protocol.v1.OfferOutcome;
import io.handoff.protocol.v1.Write;
import io.handoff.server.MutableClock;
import io.handoff.server.devices.ApprovalStore;
import io.handoff.server.handoff.HandoffStore;
import io.handoff.server.handoff.HandoffStore.Made;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Erasure across every store of an engine, written once and run against every engine: after {@link
 * Engine#erase} nothing of the user is left, neither through the stores' API nor in the backing
 * state itself ({@link #tracesOf}: the Redis keys of the user, the memory maps' entries).
 */
public abstract class ErasureContractTest {
  protected static final StoreLimits LIMITS = StoreLimits.builder().maxDevicesPerUser(4).build();

  protected final MutableClock clock = new MutableClock(1_700_000_000_000L);
  protected Engine engine;
  protected String user;
  protected String other;

  /** A fresh engine on {@code clock}. */
  protected abstract Engine newEngine(StoreLimits limits, MutableClock clock) throws Exception;

  /**
   * What the engine's backing state still holds of {@code userId}, each named so a person can tell
   * what was left behind (a Redis key, a memory map); empty when nothing is left.
   */
  protected abstract List<String> tracesOf(String userId) throws Exception;

  @BeforeEach
  void setUp() throws Exception {
    engine = newEngine(LIMITS, clock);
    user = "user-" + UUID.randomUUID();
    other = "user-" + UUID.randomUUID();
  }

  @AfterEach
  void tearDown() {
    engine.close();
  }

  protected static <T> T get(CompletableFuture<T> f) throws Exception {
    return f.get(10, TimeUnit.SECONDS);
  }

  private static Write set(String doc, long seq) {
    return Write.newBuilder()
        .setDocument(doc)
        .setClientSeq(seq)
        .addOps(FieldOp.newBuilder().setField("f").setSet(ByteString.copyFromUtf8("v" + seq)))
        .build();
  }

  private Offer offer(String id, String from, Duration ttl) {
    return TestOffers.offer(id, from, clock.millis(), ttl);
  }

  private static byte[] h(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  /**
   * Gives {@code u} something in every store: documents, sessions, activities, offers, presence.
   */
  protected void fill(String u) throws Exception {
    HandoffStore handoff = engine.handoff();
    get(engine.store().write(u, "phone", set("player", 1)));
    get(engine.store().write(u, "phone", set("cart", 2)));
    get(engine.store().write(u, "laptop", set("player", 1)));
    get(engine.sessions().create(u, "s-phone", "phone", "Phone", "ios", h("p1")));
    get(engine.sessions().rotate(u, "s-phone", h("p1"), h("p2"), Duration.ofDays(7).toMillis()));
    get(engine.sessions().create(u, "s-laptop", "laptop", "Laptop", "macos", h("l1")));
    get(engine.sessions().create(u, "s-tv", "tv", "TV", "tvos", h("t1")));
    get(engine.sessions().revoke(u, "tv", false)); // a tombstone
    get(engine.sessions().seen(u, "s-laptop", "node-a", true));
    get(
        handoff.putActivity(
            u, Activity.newBuilder().setDeviceId("phone").build(), Duration.ofDays(1), 64));
    get(
        handoff.putActivity(
            u, Activity.newBuilder().setDeviceId("laptop").build(), Duration.ofDays(1), 64));
    assertEquals(
        Made.CREATED,
        get(handoff.createOffer(u, offer("accepted", "phone", Duration.ofMinutes(1)), 8)).made());
    assertEquals(
        Made.CREATED,
        get(handoff.createOffer(u, offer("cancelled", "phone", Duration.ofMinutes(1)), 8)).made());
    assertEquals(
        Made.CREATED,
        get(handoff.createOffer(u, offer("expired", "laptop", Duration.ofSeconds(5)), 8)).made());
    assertEquals(
        Made.CREATED,
        get(handoff.createOffer(u, offer("live", "laptop", Duration.ofMinutes(5)), 8)).made());
    get(handoff.endOffer(u, "accepted", "laptop", OfferOutcome.ACCEPTED));
    get(handoff.endOffer(u, "cancelled", "phone", OfferOutcome.CANCELLED));
    get(handoff.online(u, "phone", 1, Duration.ofSeconds(30), 8));
    get(handoff.online(u, "laptop", 2, Duration.ofSeconds(30), 8));
    get(handoff.offline(u, "laptop", 2));
    clock.advance(Duration.ofSeconds(10)); // "expired" is past its deadline, not yet ended
    assertEquals(
        Made.CREATED,
        get(handoff.createOffer(u, offer("later", "phone", Duration.ofMinutes(1)), 8)).made());
    ApprovalStore approvals = engine.approvals();
    // A new device waiting for approval, and a device code the user claimed and approved (not yet
    // polled into a session), and a failed user-code attempt.
    assertEquals(
        ApprovalStore.Created.CREATED,
        get(
            approvals.create(
                request("nd-" + u, "new_device", u, "held-" + u),
                new ApprovalStore.Bounds(100, 8, 8))));
    assertEquals(
        ApprovalStore.Created.CREATED,
        get(
            approvals.create(
                request("dc-" + u, "device_code", "", "code-" + u),
                new ApprovalStore.Bounds(100, 8, 8))));
    get(approvals.claim("dc-" + u, u, clock.millis()));
    assertEquals(
        ApprovalStore.Decision.Status.DECIDED,
        get(approvals.decide("dc-" + u, u, "phone", true, clock.millis())).status());
    get(approvals.fail(ApprovalStore.userScope(u), 60_000, clock.millis()));
  }

  private ApprovalStore.Request request(String id, String kind, String u, String address) {
    long now = clock.millis();
    return new ApprovalStore.Request(
        id,
        kind,
        u,
        "new-tv",
        "TV",
        "tvos",
        address,
        now,
        now + 60_000,
        5_000,
        "secret-" + id,
        ApprovalStore.State.PENDING,
        "",
        0);
  }

  @Test
  void erasureLeavesNothingOfTheUserInAnyStore() throws Exception {
    fill(user);
    fill(other);
    assertFalse(tracesOf(user).isEmpty(), "the engine holds the user before erasure");

    get(engine.erase(user));

    HandoffStore handoff = engine.handoff();
    assertEquals(List.of(), List.copyOf(get(engine.store().documents(user))), "documents");
    assertEquals(0L, get(engine.store().lastClientSeq(user, "phone")), "write sequences");
    assertEquals(List.of(), get(engine.sessions().list(user)), "device sessions");
    assertFalse(get(engine.sessions().status(user, "s-tv")).revoked(), "tombstones");
    assertEquals(List.of(), get(handoff.activities(user)), "activities");
    assertEquals(List.of(), get(handoff.liveOffers(user)), "live offers");
    assertEquals(List.of(), get(handoff.recentlyEnded(user)), "ended offers");
    assertEquals(
        HandoffStore.EndStatus.NOT_FOUND,
        get(handoff.endOffer(user, "accepted", "tv", OfferOutcome.ACCEPTED)).status(),
        "an ended offer");
    assertEquals(List.of(), get(handoff.presence(user)), "presence");
    ApprovalStore approvals = engine.approvals();
    assertEquals(List.of(), get(approvals.pending(user, clock.millis())), "held sign-ins");
    assertEquals(
        ApprovalStore.Poll.Status.UNKNOWN,
        get(approvals.poll("dc-" + user, "secret-dc-" + user, clock.millis())).status(),
        "an approved device code can no longer be polled into a session");
    assertEquals(
        0L,
        get(approvals.failures(ApprovalStore.userScope(user), clock.millis())),
        "failed attempts");
    assertEquals(List.of(), tracesOf(user), "state left behind after erasure");

    assertEquals(2, get(engine.store().documents(other)).size(), "another user keeps documents");
    assertEquals(2, get(engine.sessions().list(other)).size(), "and sessions");
    assertEquals(2, get(handoff.activities(other)).size(), "and activities");
    assertEquals(2, get(handoff.liveOffers(other)).size(), "and offers");
    assertEquals(2, get(handoff.presence(other)).size(), "and presence");
    assertEquals(
        1, get(engine.approvals().pending(other, clock.millis())).size(), "and held sign-ins");
    assertEquals(
        ApprovalStore.Poll.Status.APPROVED,
        get(engine.approvals().poll("dc-" + other, "secret-dc-" + other, clock.millis())).status(),
        "and approved device codes");
  }

  @Test
  void erasingAUserWithNothingIsHarmlessAndTheUserCanStartAgain() throws Exception {
    get(engine.erase(user));
    assertEquals(List.of(), tracesOf(user));
    fill(user);
    get(engine.erase(user));
    fill(user);
    assertEquals(2, get(engine.store().documents(user)).size());
    assertEquals(2, get(engine.handoff().presence(user)).size());
  }
}
