package io.handoff.server.devices;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.Write;
import io.handoff.server.MutableClock;
import io.handoff.server.Writes;
import io.handoff.server.devices.SessionStore.DeviceSession;
import io.handoff.server.devices.SessionStore.Rotation.Outcome;
import io.handoff.server.engine.Engine;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.sync.DocumentStore;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The {@link SessionStore} contract (and {@link DocumentStore#erase}), written once and run against
 * every engine with a {@link MutableClock}, so expiry is tested without waiting.
 */
public abstract class SessionStoreContractTest {
  protected static final Duration IDLE = Duration.ofDays(30);
  protected static final long INACTIVITY = Duration.ofDays(7).toMillis();
  protected static final StoreLimits LIMITS =
      StoreLimits.builder().maxDevicesPerUser(3).idleTtl(IDLE).build();

  protected final MutableClock clock = new MutableClock(1_700_000_000_000L);
  private Engine engine;
  private SessionStore sessions;
  private String user;

  protected abstract Engine newEngine(StoreLimits limits, MutableClock clock) throws Exception;

  @BeforeEach
  void setUp() throws Exception {
    engine = newEngine(LIMITS, clock);
    sessions = engine.sessions();
    user = "user-" + UUID.randomUUID();
  }

  @AfterEach
  void tearDown() {
    engine.close();
  }

  private static <T> T get(CompletableFuture<T> f) throws Exception {
    return f.get(10, TimeUnit.SECONDS);
  }

  private static byte[] h(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private void signIn(String sid, String device, String hash) throws Exception {
    SessionStore.Created c =
        get(sessions.create(user, sid, device, device + " name", "ios", h(hash)));
    assertFalse(c.limitReached());
  }

  @Test
  void createdSessionIsListedAndAlive() throws Exception {
    signIn("s1", "phone", "h1");
    List<DeviceSession> list = get(sessions.list(user));
    assertEquals(1, list.size());
    DeviceSession d = list.get(0);
    assertEquals("phone", d.deviceId());
    assertEquals("phone name", d.name());
    assertEquals("ios", d.platform());
    assertEquals(clock.millis(), d.createdMillis());
    assertFalse(d.online());
    SessionStore.Status st = get(sessions.status(user, "s1"));
    assertTrue(st.alive());
    assertEquals("phone", st.deviceId());
  }

  @Test
  void thePreviousTokenWithinTheReuseIntervalGetsTheSameSealedSuccessorAndLaterRevokes()
      throws Exception {
    long interval = 5_000;
    signIn("s1", "phone", "h1");
    byte[] sealed = h("sealed-h2");
    assertEquals(
        Outcome.ROTATED,
        get(sessions.rotate(user, "s1", h("h1"), h("h2"), sealed, INACTIVITY, interval)).outcome());
    SessionStore.Rotation retry =
        get(sessions.rotate(user, "s1", h("h1"), h("hX"), h("other"), INACTIVITY, interval));
    assertEquals(Outcome.RETRIED, retry.outcome());
    assertEquals("phone", retry.deviceId());
    assertEquals("sealed-h2", new String(retry.sealedSuccessor(), StandardCharsets.UTF_8));
    assertTrue(get(sessions.status(user, "s1")).alive());
    // The retry changed nothing: h2 is still current.
    clock.advance(java.time.Duration.ofMillis(interval + 1));
    assertEquals(
        Outcome.REUSED,
        get(sessions.rotate(user, "s1", h("h1"), h("hY"), h("x"), INACTIVITY, interval)).outcome());
    assertTrue(get(sessions.status(user, "s1")).revoked());
  }

  @Test
  void aZeroReuseIntervalRevokesAtOnce() throws Exception {
    signIn("s1", "phone", "h1");
    get(sessions.rotate(user, "s1", h("h1"), h("h2"), h("s"), INACTIVITY, 0));
    assertEquals(
        Outcome.REUSED,
        get(sessions.rotate(user, "s1", h("h1"), h("h3"), h("s"), INACTIVITY, 0)).outcome());
  }

  @Test
  void rotationSwapsTheTokenAndTheOldOneRevokesTheSessionWhenItComesBack() throws Exception {
    signIn("s1", "phone", "h1");
    assertEquals(
        Outcome.ROTATED, get(sessions.rotate(user, "s1", h("h1"), h("h2"), INACTIVITY)).outcome());
    assertEquals(
        Outcome.ROTATED, get(sessions.rotate(user, "s1", h("h2"), h("h3"), INACTIVITY)).outcome());
    SessionStore.Rotation reuse = get(sessions.rotate(user, "s1", h("h1"), h("h9"), INACTIVITY));
    assertEquals(Outcome.REUSED, reuse.outcome());
    assertEquals("phone", reuse.deviceId());
    assertFalse(get(sessions.status(user, "s1")).alive());
    assertTrue(get(sessions.status(user, "s1")).revoked());
    // The current token of the family is dead too.
    assertEquals(
        Outcome.REVOKED, get(sessions.rotate(user, "s1", h("h3"), h("h4"), INACTIVITY)).outcome());
    assertTrue(get(sessions.list(user)).isEmpty());
  }

  @Test
  void unknownTokenOrSessionChangesNothing() throws Exception {
    signIn("s1", "phone", "h1");
    assertEquals(
        Outcome.UNKNOWN, get(sessions.rotate(user, "s1", h("nope"), h("x"), INACTIVITY)).outcome());
    assertEquals(
        Outcome.UNKNOWN, get(sessions.rotate(user, "s2", h("h1"), h("x"), INACTIVITY)).outcome());
    assertEquals(
        Outcome.ROTATED, get(sessions.rotate(user, "s1", h("h1"), h("h2"), INACTIVITY)).outcome());
  }

  @Test
  void ofTwoUsesOfOneTokenExactlyOneRotates() throws Exception {
    signIn("s1", "phone", "h1");
    CompletableFuture<SessionStore.Rotation> a =
        sessions.rotate(user, "s1", h("h1"), h("a"), INACTIVITY);
    CompletableFuture<SessionStore.Rotation> b =
        sessions.rotate(user, "s1", h("h1"), h("b"), INACTIVITY);
    List<Outcome> outcomes = List.of(get(a).outcome(), get(b).outcome());
    assertTrue(outcomes.contains(Outcome.ROTATED), outcomes.toString());
    assertTrue(outcomes.contains(Outcome.REUSED), outcomes.toString());
    assertFalse(get(sessions.status(user, "s1")).alive());
  }

  /**
   * A rotated-out refresh token of a session already dead of inactivity is answered EXPIRED, as its
   * current token is: the session is gone, not revoked, so its tokens' later use is no anomaly and
   * revokes nothing (REUSED would revoke a session that can no longer be used and report a theft
   * for a device that was only away, say restored from a backup). An unknown token is UNKNOWN.
   */
  @Test
  void aRotatedOutTokenOfASessionDeadOfInactivityIsExpiredNotReused() throws Exception {
    signIn("s1", "phone", "h1");
    get(sessions.rotate(user, "s1", h("h1"), h("h2"), INACTIVITY));
    get(sessions.rotate(user, "s1", h("h2"), h("h3"), INACTIVITY));
    clock.advance(Duration.ofMillis(INACTIVITY + 1));
    SessionStore.Rotation older =
        get(sessions.rotate(user, "s1", h("h1"), h("x"), h("s"), INACTIVITY, 5_000));
    assertEquals(Outcome.EXPIRED, older.outcome());
    assertEquals("phone", older.deviceId());
    assertEquals(
        Outcome.EXPIRED,
        get(sessions.rotate(user, "s1", h("h2"), h("x"), h("s"), INACTIVITY, 5_000)).outcome(),
        "the previous one too");
    assertEquals(
        Outcome.UNKNOWN, get(sessions.rotate(user, "s1", h("nope"), h("x"), INACTIVITY)).outcome());
    assertFalse(get(sessions.status(user, "s1")).revoked(), "nothing revoked");
    assertEquals(
        Outcome.EXPIRED,
        get(sessions.rotate(user, "s1", h("h3"), h("x"), INACTIVITY)).outcome(),
        "the current token still finds the session dead, not revoked");
  }

  @Test
  void refreshTokenUnusedForTheInactivityLimitExpires() throws Exception {
    signIn("s1", "phone", "h1");
    clock.advance(Duration.ofMillis(INACTIVITY + 1));
    assertEquals(
        Outcome.EXPIRED, get(sessions.rotate(user, "s1", h("h1"), h("h2"), INACTIVITY)).outcome());
    SessionStore.Status st = get(sessions.status(user, "s1"));
    assertFalse(st.alive());
    assertFalse(st.revoked(), "expired, not revoked: its later use is no anomaly");
    assertTrue(get(sessions.list(user)).isEmpty());
    signIn("s2", "phone", "h2");
  }

  /**
   * A session whose refresh token was unused for the inactivity limit is dead although nobody
   * presented that token since: not alive, not listed, not counted toward the device limit, even
   * while its device is seen (connected) within the idle TTL.
   */
  @Test
  void sessionsDeadOfInactivityAreNotAliveNorListedNorCountedTowardTheDeviceLimit()
      throws Exception {
    signIn("s1", "a", "h1");
    signIn("s2", "b", "h2");
    signIn("s3", "c", "h3");
    clock.advance(Duration.ofMillis(INACTIVITY / 2));
    assertEquals(
        Outcome.ROTATED, get(sessions.rotate(user, "s2", h("h2"), h("h2b"), INACTIVITY)).outcome());
    get(sessions.seen(user, "s1", "n1", true)); // Connected, but never refreshing.
    clock.advance(Duration.ofMillis(INACTIVITY / 2 + 2));
    assertEquals(
        List.of("b"),
        get(sessions.list(user, INACTIVITY)).stream().map(DeviceSession::deviceId).toList());
    SessionStore.Status dead = get(sessions.status(user, "s1", INACTIVITY));
    assertFalse(dead.alive(), "its access tokens must be refused");
    assertFalse(dead.revoked(), "dead of inactivity, not revoked: no anomaly");
    assertTrue(get(sessions.status(user, "s2", INACTIVITY)).alive());
    SessionStore.Created d = get(sessions.create(user, "s4", "d", "d", "web", h("h4"), INACTIVITY));
    assertFalse(d.limitReached(), "dead sessions count toward the limit");
    assertEquals(2, d.devices());
    assertEquals(
        List.of("b", "d"),
        get(sessions.list(user, INACTIVITY)).stream().map(DeviceSession::deviceId).toList());
    assertTrue(get(sessions.status(user, "s2")).alive());
    assertTrue(get(sessions.status(user, "s4")).alive());
    assertEquals(
        Outcome.ROTATED,
        get(sessions.rotate(user, "s2", h("h2b"), h("h2c"), INACTIVITY)).outcome());
  }

  @Test
  void idleSessionIsGoneAfterTheIdleTtl() throws Exception {
    signIn("s1", "phone", "h1");
    clock.advance(IDLE.minusMinutes(1));
    get(sessions.seen(user, "s1", "n1", true));
    clock.advance(IDLE.minusMinutes(1));
    assertTrue(get(sessions.status(user, "s1")).alive(), "seen recently");
    clock.advance(Duration.ofMinutes(2));
    assertFalse(get(sessions.status(user, "s1")).alive());
    assertTrue(get(sessions.list(user)).isEmpty());
    assertEquals(
        Outcome.UNKNOWN,
        get(sessions.rotate(user, "s1", h("h1"), h("h2"), Long.MAX_VALUE)).outcome());
  }

  @Test
  void beingSeenAfterTheIdleTtlDoesNotBringAGoneSessionBack() throws Exception {
    signIn("s1", "phone", "h1");
    get(sessions.seen(user, "s1", "n1", true));
    clock.advance(IDLE.plusMinutes(1));
    // The connection made before ends only now: the session went while it was open.
    get(sessions.seen(user, "s1", "n1", false));
    assertFalse(get(sessions.status(user, "s1")).alive(), "gone, as if it never existed");
    assertTrue(get(sessions.list(user)).isEmpty());
    assertEquals(
        Outcome.UNKNOWN,
        get(sessions.rotate(user, "s1", h("h1"), h("h2"), Long.MAX_VALUE)).outcome());
  }

  @Test
  void signingInAgainOnTheSameDeviceReplacesItsSession() throws Exception {
    signIn("s1", "phone", "h1");
    SessionStore.Created c = get(sessions.create(user, "s2", "phone", "p", "ios", h("h2")));
    assertEquals("s1", c.replacedSessionId());
    assertFalse(get(sessions.status(user, "s1")).alive());
    assertTrue(get(sessions.status(user, "s2")).alive());
    assertEquals(1, get(sessions.list(user)).size());
  }

  @Test
  void deviceBeyondTheLimitIsRefusedAndChangesNothing() throws Exception {
    signIn("s1", "a", "h1");
    signIn("s2", "b", "h2");
    signIn("s3", "c", "h3");
    SessionStore.Created c = get(sessions.create(user, "s4", "d", "d", "web", h("h4")));
    assertTrue(c.limitReached());
    assertEquals(3, c.devices());
    assertFalse(get(sessions.status(user, "s4")).alive());
    assertEquals(3, get(sessions.list(user)).size());
    get(sessions.revoke(user, "a", false));
    signIn("s4", "d", "h4");
  }

  @Test
  void revokeOneOrAllOthers() throws Exception {
    signIn("s1", "a", "h1");
    signIn("s2", "b", "h2");
    signIn("s3", "c", "h3");
    assertEquals(List.of("b"), get(sessions.revoke(user, "b", false)));
    assertEquals(List.of(), get(sessions.revoke(user, "b", false)));
    assertEquals(
        Outcome.REVOKED, get(sessions.rotate(user, "s2", h("h2"), h("x"), INACTIVITY)).outcome());
    assertEquals(List.of("c"), get(sessions.revoke(user, "a", true)));
    List<DeviceSession> left = get(sessions.list(user));
    assertEquals(1, left.size());
    assertEquals("a", left.get(0).deviceId());
  }

  @Test
  void onlineMarkFollowsTheNodeThatHoldsTheConnection() throws Exception {
    signIn("s1", "a", "h1");
    get(sessions.seen(user, "s1", "n1", true));
    assertEquals("n1", get(sessions.list(user)).get(0).node());
    get(sessions.seen(user, "s1", "n2", true));
    get(sessions.seen(user, "s1", "n1", false)); // The old node's late disconnect.
    assertTrue(get(sessions.list(user)).get(0).online());
    get(sessions.seen(user, "s1", "n2", false));
    assertFalse(get(sessions.list(user)).get(0).online());
  }

  @Test
  void sessionsOfOneUserAreInvisibleToAnother() throws Exception {
    signIn("s1", "a", "h1");
    String other = "other-" + UUID.randomUUID();
    assertTrue(get(sessions.list(other)).isEmpty());
    assertFalse(get(sessions.status(other, "s1")).alive());
    assertEquals(
        Outcome.UNKNOWN, get(sessions.rotate(other, "s1", h("h1"), h("x"), INACTIVITY)).outcome());
    assertEquals(List.of(), get(sessions.revoke(other, "a", false)));
    get(sessions.erase(other));
    assertTrue(get(sessions.status(user, "s1")).alive());
  }

  @Test
  void eraseDeletesEverySessionAndDocumentOfTheUserOnly() throws Exception {
    signIn("s1", "a", "h1");
    signIn("s2", "b", "h2");
    get(sessions.revoke(user, "b", false));
    String other = "other-" + UUID.randomUUID();
    Write w = Writes.set("cart", 1, "x", "1");
    get(engine.store().write(user, "a", w));
    get(engine.store().write(other, "a", w));
    get(sessions.erase(user));
    get(engine.store().erase(user));
    assertTrue(get(sessions.list(user)).isEmpty());
    assertFalse(get(sessions.status(user, "s1")).alive());
    assertFalse(get(sessions.status(user, "s2")).revoked(), "tombstones are erased too");
    assertTrue(get(engine.store().documents(user)).isEmpty());
    assertEquals(0L, get(engine.store().lastClientSeq(user, "a")));
    assertEquals(Set.of("cart"), get(engine.store().documents(other)));
    assertEquals(1L, get(engine.store().lastClientSeq(other, "a")));
    // A new write after erasure starts from scratch.
    assertEquals(1, get(engine.store().write(user, "a", w)).version());
  }

  @Test
  void revokedSessionStaysRecognisableAsRevoked() throws Exception {
    signIn("s1", "a", "h1");
    get(sessions.revoke(user, "a", false));
    SessionStore.Status st = get(sessions.status(user, "s1"));
    assertFalse(st.alive());
    assertTrue(st.revoked());
    assertNull(
        get(sessions.list(user)).stream()
            .filter(d -> d.sessionId().equals("s1"))
            .findAny()
            .orElse(null));
  }
}
