package io.handoff.server.engine;

import static io.handoff.server.Writes.numbered;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.Activity;
import io.handoff.protocol.v1.ApprovalOutcome;
import io.handoff.protocol.v1.Offer;
import io.handoff.protocol.v1.OfferOutcome;
import io.handoff.server.MutableClock;
import io.handoff.server.ServerStats;
import io.handoff.server.auth.AccessTokens;
import io.handoff.server.auth.Principal;
import io.handoff.server.auth.SigningKeys;
import io.handoff.server.auth.TokenConfig;
import io.handoff.server.devices.ApprovalConfig;
import io.handoff.server.devices.ApprovalMetrics;
import io.handoff.server.devices.ApprovalStore;
import io.handoff.server.devices.DeviceApprovals;
import io.handoff.server.devices.DeviceSessions;
import io.handoff.server.handoff.HandoffStore;
import io.handoff.server.handoff.HandoffStore.Made;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
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
    get(engine.store().write(u, "phone", numbered("player", 1)));
    get(engine.store().write(u, "phone", numbered("cart", 2)));
    get(engine.store().write(u, "laptop", numbered("player", 1)));
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
    get(handoff.online(u, "phone", 1, 0, Duration.ofSeconds(30), 8));
    get(handoff.online(u, "laptop", 2, 0, Duration.ofSeconds(30), 8));
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

  /**
   * A device code answered by a live device session of the user, the user erased in full between
   * the answer's check of that session and its decision (the steps run in that order here: the
   * erasure completes when the check has read the session alive): the erased user's approval signs
   * no device in.
   */
  @Test
  void anAnswerWhoseSessionIsErasedAfterItsCheckSignsNoDeviceIn() throws Exception {
    ErasingAfterCheck racing = new ErasingAfterCheck(engine);
    PhoneAndCode w = new PhoneAndCode(racing);

    racing.eraseAfterNextCheck(user);
    CompletableFuture<?> answered =
        w.approvals.answer(w.phone, w.code.userCode(), true, "10.0.0.8");
    get(answered.handle((v, err) -> v));
    assertTrue(racing.erased(), "the erasure ran between the check and the decision");

    w.assertNoDeviceSignedIn("");
    assertThrows(ExecutionException.class, () -> get(answered), "the answer is refused");
  }

  /**
   * A user code looked up by a device session of the user, the user erased in full between the
   * lookup's check of that session and its claim: the code is not left claimed by the erased user
   * (a request of the user the erasure never saw), so another user may still claim it.
   */
  @Test
  void aLookupWhoseSessionIsErasedAfterItsCheckLeavesTheCodeNoOnes() throws Exception {
    ErasingAfterCheck racing = new ErasingAfterCheck(engine);
    PhoneAndCode w = new PhoneAndCode(racing);

    racing.eraseAfterNextCheck(user);
    CompletableFuture<ApprovalStore.Request> looked =
        w.approvals.verify(w.phone, w.code.userCode(), "10.0.0.8");
    assertThrows(ExecutionException.class, () -> get(looked), "the lookup is refused");
    assertTrue(racing.erased(), "the erasure ran between the check and the claim");

    DeviceSessions.Tokens laptop =
        get(w.sessions.createSession(other, "laptop", "Laptop", "macos"));
    Principal q = new Principal(other, "laptop", clock.millis() + 60_000, laptop.sessionId());
    assertNotNull(
        get(w.approvals.verify(q, w.code.userCode(), "10.0.0.7")), "the code is no one's");
  }

  /**
   * An erasure whose node died after it marked the user leaves the mark until it lapses (5 min).
   * The user's device signed in again meanwhile has a live session; its lookup of a code is told to
   * try again, not that its session does not exist (INVALID_TOKEN, which has a device get a new
   * token, or sign in again, for nothing), and works once the mark is gone.
   */
  @Test
  void aLookupWhileTheMarkOfAnUnfinishedErasureHoldsIsToldToRetryNotThatItsSessionIsGone()
      throws Exception {
    DeviceSessions sessions = deviceSessions(engine);
    DeviceApprovals approvals = deviceApprovals(sessions, engine);
    get(engine.approvals().beginErasure(user, "an-erasure-whose-node-died"));
    DeviceSessions.Tokens phone = get(sessions.createSession(user, "phone", "Phone", "ios"));
    Principal p = new Principal(user, "phone", clock.millis() + 60_000, phone.sessionId());
    DeviceApprovals.Authorization code =
        get(approvals.requestCode("new-tv", "TV", "tvos", "10.0.0.9"));

    ExecutionException refused =
        assertThrows(
            ExecutionException.class, () -> get(approvals.verify(p, code.userCode(), "10.0.0.8")));
    assertTrue(
        refused.getCause() instanceof io.handoff.server.devices.ApiException a
            && a.status() == 503
            && a.error().equals("unavailable"),
        "a live session's lookup, refused for an erasure under way: " + refused.getCause());

    assertTrue(get(engine.approvals().endErasure(user, "an-erasure-whose-node-died")));
    assertNotNull(get(approvals.verify(p, code.userCode(), "10.0.0.8")), "found once it ended");
  }

  /**
   * A device code answered by a live device session of the user while the user is being erased:
   * after the erasure's first pass over the sign-in requests, before the sessions go (the answer
   * run to its end there). The approval is erased with the rest, and signs no device in.
   */
  @Test
  void anAnswerLandingBeforeTheSessionsAreErasedIsErasedWithThem() throws Exception {
    ErasingAfterCheck racing = new ErasingAfterCheck(engine);
    PhoneAndCode w = new PhoneAndCode(racing);

    AtomicReference<Object> answered = new AtomicReference<>();
    racing.beforeSessionsErased(
        () ->
            w.approvals
                .answer(w.phone, w.code.userCode(), true, "10.0.0.8")
                .handle((v, err) -> answered.getAndSet(err == null ? v : err)));
    get(racing.erase(user));
    assertEquals(
        ApprovalOutcome.APPROVAL_APPROVED, answered.get(), "the answer landed during the erasure");

    w.assertNoDeviceSignedIn("");
  }

  /**
   * As above, and the waiting device polls once the sessions are erased, before the erasure deletes
   * the requests again (the poll run to its end there: it consumes the approval, makes its session
   * and settles it while the request is still there). The session it made goes with the erasure.
   */
  @Test
  void aSessionPolledOutOfAnApprovalLandingDuringTheErasureIsErasedWithIt() throws Exception {
    ErasingAfterCheck racing = new ErasingAfterCheck(engine);
    PhoneAndCode w = new PhoneAndCode(racing);

    AtomicReference<Object> answered = new AtomicReference<>();
    AtomicReference<Object> polled = new AtomicReference<>();
    racing.beforeSessionsErased(
        () ->
            w.approvals
                .answer(w.phone, w.code.userCode(), true, "10.0.0.8")
                .handle((v, err) -> answered.getAndSet(err == null ? v : err)));
    racing.afterSessionsErased(
        () ->
            w.approvals
                .poll(w.code.deviceCode())
                .handle((v, err) -> polled.getAndSet(err == null ? v : err)));
    get(racing.erase(user));
    assertEquals(
        ApprovalOutcome.APPROVAL_APPROVED, answered.get(), "the answer landed during the erasure");
    assertTrue(
        polled.get() instanceof DeviceSessions.Tokens,
        "the poll made its session during the erasure: " + polled.get());

    assertEquals(List.of(), get(engine.sessions().list(user)), "device sessions after erasure");
  }

  /**
   * A device session made during the erasure, once the user's sessions went (a fresh sign-in),
   * answers a device code after the erasure's last pass over the sign-in requests, before its last
   * pass over the sessions: the approval signs no device in after the erasure, and nothing of it is
   * left for the user.
   */
  @Test
  void aSessionMadeDuringTheErasureApprovesNoCodeThatOutlivesIt() throws Exception {
    ErasingAfterCheck racing = new ErasingAfterCheck(engine);
    PhoneAndCode w = new PhoneAndCode(racing);

    AtomicReference<Object> answered = new AtomicReference<>();
    racing.beforeLastSessionsPass(
        () ->
            w.sessions
                .createSession(user, "laptop", "Laptop", "macos")
                .thenCompose(
                    t ->
                        w.approvals.answer(
                            new Principal(user, "laptop", clock.millis() + 60_000, t.sessionId()),
                            w.code.userCode(),
                            true,
                            "10.0.0.8"))
                .handle((v, err) -> answered.getAndSet(err == null ? v : err)));
    get(racing.erase(user));
    assertNotNull(answered.get(), "the answer ran during the erasure");

    w.assertNoDeviceSignedIn(": " + answered.get());
    assertEquals(List.of(), tracesOf(user), "state left behind after erasure");
  }

  /**
   * A device code answered by user code by a live device session of the user, the user erased in
   * full between the answer's check of that session and its counting of the attempt: the erased
   * user is left no attempt counter.
   */
  @Test
  void anAnswerByUserCodeWhoseSessionIsErasedAfterItsCheckLeavesNoCounter() throws Exception {
    ErasingAfterCheck racing = new ErasingAfterCheck(engine);
    PhoneAndCode w = new PhoneAndCode(racing);

    racing.eraseAfterNextCheck(user);
    CompletableFuture<?> answered =
        w.approvals.answer(w.phone, w.code.userCode(), true, "10.0.0.8");
    assertThrows(ExecutionException.class, () -> get(answered), "the answer is refused");
    assertTrue(racing.erased(), "the erasure ran between the check and the count");

    assertEquals(List.of(), tracesOf(user), "state left behind after erasure");
  }

  /**
   * A sign-in with new-device approval on, which saw the user's sessions (so held it for approval),
   * the user erased in full between that look and the holding: no sign-in request is left pending
   * for the erased user.
   */
  @Test
  void aHeldSignInThatSawTheSessionsBeforeTheErasureLeavesNoPendingRequest() throws Exception {
    ErasingAfterCheck racing = new ErasingAfterCheck(engine);
    try (SignIns signIns = new SignIns(racing)) {
      get(signIns.sessions.createSession(user, "phone", "Phone", "ios"));

      racing.eraseAfterNextList(user);
      CompletableFuture<DeviceApprovals.SignIn> signedIn = signIns.signIn(user, "new-tv");
      get(signedIn.handle((v, err) -> v));
      assertTrue(racing.erased(), "the erasure ran between the look at the sessions and the hold");

      assertEquals(
          List.of(),
          get(engine.approvals().pending(user, clock.millis())),
          "sign-ins held for the erased user");
    }
  }

  /**
   * An erasure whose node died after it marked the user (or whose end failed: Redis timing out)
   * leaves the mark until it lapses. Meanwhile the user signs in again on a phone (no other device:
   * at once), then a new device signs in: the phone could approve it, so it must not be signed in
   * unapproved because of the mark; it is refused, to be sent again, and held once the mark is
   * gone.
   */
  @Test
  void aHeldSignInMeetingTheMarkOfAnUnfinishedErasureIsNotSignedInUnapproved() throws Exception {
    try (SignIns signIns = new SignIns(engine)) {
      get(engine.approvals().beginErasure(user, "an-erasure-whose-node-died"));
      DeviceApprovals.SignIn phone = get(signIns.signIn(user, "phone"));
      assertNotNull(phone.tokens(), "the user's only device signs in at once");

      ExecutionException refused =
          assertThrows(ExecutionException.class, () -> get(signIns.signIn(user, "new-tv")));
      assertTrue(
          refused.getCause() instanceof io.handoff.server.devices.ApiException a
              && a.status() == 503,
          "a new device that the phone could approve, signed in unapproved or not told to retry: "
              + refused.getCause());
      assertEquals(
          List.of(),
          get(engine.approvals().pending(user, clock.millis())),
          "the refused sign-in left a request pending");

      assertTrue(get(engine.approvals().endErasure(user, "an-erasure-whose-node-died")));
      DeviceApprovals.SignIn held = get(signIns.signIn(user, "new-tv"));
      assertNotNull(
          held.held(), "once the mark is gone the sign-in waits for the phone's approval");
    }
  }

  /**
   * The user's phone with a live device session, and the device code of a new TV waiting for an
   * approval, through the engine {@code on}.
   */
  private final class PhoneAndCode {
    final DeviceSessions sessions;
    final DeviceApprovals approvals;
    final Principal phone;
    final DeviceApprovals.Authorization code;

    PhoneAndCode(Engine on) throws Exception {
      sessions = deviceSessions(on);
      approvals = deviceApprovals(sessions, on);
      DeviceSessions.Tokens tokens = get(sessions.createSession(user, "phone", "Phone", "ios"));
      phone = new Principal(user, "phone", clock.millis() + 60_000, tokens.sessionId());
      code = get(approvals.requestCode("new-tv", "TV", "tvos", "10.0.0.9"));
    }

    /**
     * The waiting TV gets no session of the erased user (the failure's message ending in {@code
     * more}), who is left no device session.
     */
    void assertNoDeviceSignedIn(String more) throws Exception {
      assertThrows(
          ExecutionException.class,
          () -> get(approvals.poll(code.deviceCode())),
          "the waiting device gets no session of the erased user" + more);
      assertEquals(List.of(), get(engine.sessions().list(user)), "device sessions after erasure");
    }
  }

  /** New-device sign-ins with identity tokens of a test app, on an engine. */
  private final class SignIns implements AutoCloseable {
    final java.security.KeyPair app = io.handoff.server.HandJws.ecKeys();
    final java.nio.file.Path jwks = java.nio.file.Files.createTempFile("jwks", ".json");
    final DeviceSessions sessions;
    final DeviceApprovals approvals;

    SignIns(Engine on) throws Exception {
      java.nio.file.Files.writeString(
          jwks,
          io.handoff.server.HandJws.jwks(io.handoff.server.HandJws.jwk(app.getPublic(), "app")));
      sessions =
          deviceSessions(
              on,
              new io.handoff.server.auth.IdentityVerifier(
                  jwks.toString(),
                  java.util.Set.of("ES256"),
                  io.handoff.server.AppBackend.ISSUER,
                  io.handoff.server.AppBackend.AUDIENCE,
                  Duration.ofSeconds(30),
                  Duration.ofSeconds(30),
                  Duration.ofHours(1),
                  java.time.Clock.systemUTC()));
      approvals =
          new DeviceApprovals(
              ApprovalConfig.builder().newDeviceApproval(true).build(),
              sessions,
              on,
              "node-a",
              new ApprovalMetrics(new SimpleMeterRegistry()),
              clock);
    }

    CompletableFuture<DeviceApprovals.SignIn> signIn(String u, String device) throws Exception {
      String identity =
          io.handoff.server.HandJws.es256(
              io.handoff.server.AppBackend.header("ES256", "app"),
              io.handoff.server.AppBackend.claims(u),
              app.getPrivate());
      return approvals.signIn(identity, device, device, "ios", "10.0.0.9");
    }

    @Override
    public void close() throws Exception {
      java.nio.file.Files.deleteIfExists(jwks);
    }
  }

  private DeviceSessions deviceSessions(Engine on) {
    return deviceSessions(on, null);
  }

  private DeviceSessions deviceSessions(
      Engine on, io.handoff.server.auth.IdentityVerifier identity) {
    TokenConfig tokens = TokenConfig.builder().build();
    return new DeviceSessions(
        tokens,
        identity,
        new AccessTokens(
            SigningKeys.ephemeral(),
            tokens.issuer(),
            tokens.accessTokenTtl(),
            Duration.ofSeconds(30),
            clock),
        on,
        "node-a",
        LIMITS.maxDevicesPerUser(),
        new ServerStats(),
        clock);
  }

  private DeviceApprovals deviceApprovals(DeviceSessions sessions, Engine on) {
    return new DeviceApprovals(
        ApprovalConfig.builder().build(),
        sessions,
        on,
        "node-a",
        new ApprovalMetrics(new SimpleMeterRegistry()),
        clock);
  }
}
