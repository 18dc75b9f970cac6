package io.handoff.server.engine.redis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.server.Conditions;
import io.handoff.server.MutableClock;
import io.handoff.server.devices.ApprovalStore;
import io.handoff.server.devices.ApprovalStore.Approvable;
import io.handoff.server.engine.StoreLimits;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * An erasure marks its user ({@code {user}:er}, ApprovalStore.beginErasure) until its end, or,
 * should its node die first, until the mark lapses. Each erasure's mark lapses on its own, by
 * Redis's clock: a later erasure of the same user does not stretch an earlier one's. Marks are made
 * short here ({@link StoreLimits.Builder#erasureMark}) or written straight into the shared real
 * Redis, so no test waits the real 5 minutes.
 */
class RedisErasureMarkTest {
  private static final Duration SHORT = Duration.ofMillis(20);

  private final MutableClock clock = new MutableClock(1_700_000_000_000L);
  private final String prefix = "test-" + UUID.randomUUID() + ":";
  private final String user = "user-" + UUID.randomUUID();
  private final String marks = prefix + "{" + RedisKeys.escape(user) + "}:er";
  // The real lifetime (5 min), and a node whose erasures' marks hold for SHORT.
  private final EngineWithRawRedis e =
      new EngineWithRawRedis(prefix, StoreLimits.builder().build(), clock);
  private final EngineWithRawRedis shortLived =
      new EngineWithRawRedis(prefix, StoreLimits.builder().erasureMark(SHORT).build(), clock);
  private final ApprovalStore approvals = e.engine.approvals();

  @AfterEach
  void close() {
    shortLived.close();
    e.close();
  }

  private static <T> T get(CompletableFuture<T> f) throws Exception {
    return f.get(10, TimeUnit.SECONDS);
  }

  /** Whether approval_approvable.lua finds the mark holding. */
  private boolean erasing() {
    try {
      return get(approvals.approvable(user, "tv")) == Approvable.ERASING;
    } catch (Exception err) {
      throw new IllegalStateException(err);
    }
  }

  /**
   * Whether attempt_fail.lua, asked for a session that does not exist, finds the mark holding (-2)
   * before it finds the session gone (-1); asked only where the mark cannot lapse meanwhile.
   */
  private boolean countingRefused() throws Exception {
    long counted = get(approvals.failBySession(user, "no-such-session", 60_000, clock.millis()));
    assertTrue(counted < 0, "counted for no session: " + counted);
    return counted == ApprovalStore.ERASING;
  }

  private long redisMillis() {
    List<String> t = e.redis.time();
    return Long.parseLong(t.get(0)) * 1000 + Long.parseLong(t.get(1)) / 1000;
  }

  @Test
  void aMarkLeftByADeadErasureLapsesOnItsOwnThoughALaterErasureOfTheUserRenewedTheKey()
      throws Exception {
    get(shortLived.engine.approvals().beginErasure(user, "died-mid-erasure"));
    get(approvals.beginErasure(user, "a-later-one"));
    assertTrue(erasing(), "the later erasure's mark holds");
    assertTrue(countingRefused());
    assertTrue(get(approvals.endErasure(user, "a-later-one")), "ended while its mark held");

    Conditions.await(
        "the dead erasure's mark lapses after its own lifetime, not the later erasure's",
        () -> !erasing(),
        Duration.ofSeconds(10),
        Duration.ofMillis(10));
    assertFalse(countingRefused(), "a wrong code is counted again");
    assertEquals(0L, e.redis.exists(marks), "the lapsed mark is dropped, and the key with it");
  }

  @Test
  void aMarkWhoseEndPassedHoldsNoMoreWhateverTheKeysTtl() throws Exception {
    // As a dead erasure's mark looks once its time is up while another erasure renewed the key.
    e.redis.hset(marks, "died-mid-erasure", Long.toString(redisMillis() - 1_000));
    e.redis.pexpire(marks, ApprovalStore.ERASING_MILLIS);

    assertFalse(countingRefused(), "a mark past its end refuses nothing");
    e.redis.hset(marks, "died-mid-erasure", Long.toString(redisMillis() - 1_000));
    e.redis.pexpire(marks, ApprovalStore.ERASING_MILLIS);
    assertFalse(erasing(), "nor holds back a sign-in");
    assertEquals(0L, e.redis.exists(marks), "and is dropped");
  }

  @Test
  void aLoneMarkOfADeadErasureLapsesAndItsEndSaysItOutlastedIt() throws Exception {
    ApprovalStore node = shortLived.engine.approvals();
    get(node.beginErasure(user, "slow"));
    long pttl = e.redis.pttl(marks);
    assertTrue(pttl <= SHORT.toMillis(), "the key lives no longer than the mark: PTTL " + pttl);

    Conditions.await("the mark lapses", () -> !erasing(), Duration.ofSeconds(10));
    assertFalse(countingRefused());
    assertFalse(get(node.endErasure(user, "slow")), "the erasure outlasted its mark");
  }

  @Test
  void aMarkEndsWithItsErasureAndHoldsItsLifetimeByRedissClock() throws Exception {
    long before = redisMillis();
    get(approvals.beginErasure(user, "one"));
    long ends = Long.parseLong(e.redis.hget(marks, "one"));
    long after = redisMillis();
    assertTrue(
        ends >= before + ApprovalStore.ERASING_MILLIS
            && ends <= after + ApprovalStore.ERASING_MILLIS,
        "the mark's end, by Redis TIME: " + ends);
    assertTrue(e.redis.pttl(marks) > 0, "the key has a lifetime, a backstop");
    assertTrue(erasing());
    assertTrue(countingRefused());

    assertTrue(get(approvals.endErasure(user, "one")), "it held at its end");
    assertFalse(erasing());
    assertFalse(countingRefused());
    assertEquals(0L, e.redis.exists(marks));
  }

  @Test
  void aMarkOfAnEarlierReleaseHoldsAsLongAsItsKeyAndIsNotShortened() throws Exception {
    // A node of the release before writes '1' and gives the key 5 minutes (a rolling upgrade).
    e.redis.hset(marks, "old-node", "1");
    e.redis.pexpire(marks, ApprovalStore.ERASING_MILLIS);
    assertTrue(erasing(), "the earlier release's mark holds");
    assertTrue(countingRefused());

    get(shortLived.engine.approvals().beginErasure(user, "short"));
    get(shortLived.engine.approvals().endErasure(user, "short"));
    assertTrue(erasing(), "still holds after a later erasure came and went");
    assertTrue(countingRefused());
    assertTrue(
        e.redis.pttl(marks) > SHORT.toMillis(), "a shorter mark does not shorten the key's life");
  }
}
