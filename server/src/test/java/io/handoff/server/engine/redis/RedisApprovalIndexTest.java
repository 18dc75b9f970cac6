package io.handoff.server.engine.redis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.handoff.server.MutableClock;
import io.handoff.server.devices.ApprovalStore;
import io.handoff.server.devices.ApprovalStore.Bounds;
import io.handoff.server.devices.ApprovalStore.Created;
import io.handoff.server.devices.ApprovalStore.Request;
import io.handoff.server.devices.ApprovalStore.State;
import io.handoff.server.engine.StoreLimits;
import io.lettuce.core.ScriptOutputType;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A sign-in request is bound to a user (made with the user, or claimed or answered by one) in one
 * call on its key and noted in the user's request index ({@code apk}, another slot) in another, and
 * erasure finds the user's requests only through that index. The node may die, or lose its
 * connection, between the two: here the index call fails (the index key made a string behind the
 * engine's back, so Redis refuses it, WRONGTYPE) on the shared real Redis, and the erasure that
 * follows must still leave no request of the user.
 */
class RedisApprovalIndexTest {
  private final MutableClock clock = new MutableClock(1_700_000_000_000L);
  private final String prefix = "test-" + UUID.randomUUID() + ":";
  private final EngineWithRawRedis e =
      new EngineWithRawRedis(prefix, StoreLimits.builder().build(), clock);
  private final ApprovalStore store = e.engine.approvals();

  @AfterEach
  void close() {
    e.close();
  }

  private static <T> T get(CompletableFuture<T> f) throws Exception {
    return f.get(10, TimeUnit.SECONDS);
  }

  private Request request(String id, String kind, String user) {
    long now = clock.millis();
    return new Request(
        id,
        kind,
        user,
        "tv",
        "Living room",
        "tv",
        "10.0.0.7",
        now,
        now + 60_000,
        5_000,
        "secret-" + id,
        State.PENDING,
        "",
        0);
  }

  private String requestKey(String id) {
    return prefix + "{ap:" + id + "}:r";
  }

  /** Makes every call on the user's request index fail until {@link #heal}. */
  private void breakIndex(String user) {
    e.redis.set(prefix + "{" + user + "}:apk", "not a sorted set");
  }

  private void heal(String user) {
    e.redis.del(prefix + "{" + user + "}:apk");
  }

  private void assertNoRequestOf(String user, String id) {
    assertNotEquals(
        user,
        e.redis.hget(requestKey(id), "user"),
        "the request stays bound to the erased user: " + e.redis.hgetall(requestKey(id)));
  }

  @Test
  void aHeldSignInWhoseIndexingFailedIsErasedWithItsUser() throws Exception {
    breakIndex("ann");
    Request r = request("held", "new_device", "ann");
    assertThrows(ExecutionException.class, () -> get(store.create(r, new Bounds(100, 10, 10))));
    heal("ann");
    get(e.engine.erase("ann"));
    assertNoRequestOf("ann", r.id());
  }

  @Test
  void aCodeClaimedWhileItsIndexingFailedIsErasedWithItsUser() throws Exception {
    Request r = request("claimed", "device_code", "");
    assertEquals(Created.CREATED, get(store.create(r, new Bounds(100, 10, 10))));
    breakIndex("ann");
    assertThrows(ExecutionException.class, () -> get(store.claim(r.id(), "ann", clock.millis())));
    heal("ann");
    get(e.engine.erase("ann"));
    assertNoRequestOf("ann", r.id());
  }

  @Test
  void aCodeAnsweredWhileItsIndexingFailedIsErasedWithItsUser() throws Exception {
    Request r = request("answered", "device_code", "");
    assertEquals(Created.CREATED, get(store.create(r, new Bounds(100, 10, 10))));
    breakIndex("ann");
    assertThrows(
        ExecutionException.class,
        () -> get(store.decide(r.id(), "ann", "phone", true, clock.millis())));
    heal("ann");
    get(e.engine.erase("ann"));
    assertNoRequestOf("ann", r.id());
    // Nor is there an approval of the erased user for the device to turn into a session.
    assertNotEquals(
        ApprovalStore.Poll.Status.APPROVED,
        get(store.poll(r.id(), r.secretHash(), clock.millis())).status());
  }

  /**
   * An index may name a request that is not the user's (noted before a claim that another user
   * won): erasing the user leaves that request alone.
   */
  @Test
  void anErasureLeavesARequestOfAnotherUserItsIndexNames() throws Exception {
    Request r = request("theirs", "device_code", "");
    assertEquals(Created.CREATED, get(store.create(r, new Bounds(100, 10, 10))));
    assertEquals("bob", get(store.claim(r.id(), "bob", clock.millis())).userId());
    e.redis.zadd(prefix + "{eve}:apk", clock.millis() + 3_600_000.0, r.id());
    get(e.engine.erase("eve"));
    assertEquals("bob", e.redis.hget(requestKey(r.id()), "user"));
    assertEquals(
        ApprovalStore.Decision.Status.DECIDED,
        get(store.decide(r.id(), "bob", "phone", true, clock.millis())).status());
  }

  /**
   * An answer to a code nobody claimed runs in three calls: the decision finds the code unbound,
   * the code is noted in the user's index, the decision runs again and binds it. Here the user is
   * erased in full between the second and the third (the steps run by hand in that order, as the
   * store makes them): the third must not approve the code for the erased user.
   */
  @Test
  void aCodeNotedForAnAnswerIsNotApprovedOnceItsUserIsErased() throws Exception {
    Request r = request("raced", "device_code", "");
    assertEquals(Created.CREATED, get(store.create(r, new Bounds(100, 10, 10))));
    long now = clock.millis();
    // The index step, as approval_index.lua makes it while the answering session is alive.
    e.redis.zadd(prefix + "{ann}:apk", r.expiresMillis() + ApprovalStore.RETAIN_MILLIS, r.id());

    get(e.engine.erase("ann"));

    // The decision again, the code now noted (approval_decide.lua's last argument "1").
    List<Object> decided =
        e.redis.eval(
            script("approval_decide.lua"),
            ScriptOutputType.MULTI,
            new String[] {requestKey(r.id())},
            "ann",
            "phone",
            "1",
            Long.toString(now),
            "1");
    assertNotEquals("DECIDED", decided.get(0), "approved for the erased user: " + decided);
    assertNotEquals(
        ApprovalStore.Poll.Status.APPROVED,
        get(store.poll(r.id(), r.secretHash(), now)).status(),
        "a device signed in by the erased user's approval");
  }

  private static String script(String name) throws Exception {
    try (InputStream in =
        RedisApprovalIndexTest.class.getResourceAsStream(
            "/io/handoff/server/engine/redis/" + name)) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }
}
