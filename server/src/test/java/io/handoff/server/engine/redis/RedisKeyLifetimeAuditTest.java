package io.handoff.server.engine.redis;

import static io.handoff.server.Writes.numbered;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.Activity;
import io.handoff.protocol.v1.Offer;
import io.handoff.protocol.v1.OfferOutcome;
import io.handoff.server.MutableClock;
import io.handoff.server.RedisProcess;
import io.handoff.server.devices.ApprovalStore;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.handoff.HandoffStore;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Review: every key any store path creates has a TTL, none immortal (PTTL -1). */
class RedisKeyLifetimeAuditTest {
  private static final Duration IDLE = Duration.ofHours(1);
  private final String prefix = "audit-" + UUID.randomUUID() + ":";
  private final MutableClock clock = new MutableClock();
  private EngineWithRawRedis fx;
  private final String user = "u-" + UUID.randomUUID();

  @BeforeEach
  void start() {
    fx =
        new EngineWithRawRedis(
            prefix,
            StoreLimits.builder().idleTtl(IDLE).maxDevicesPerUser(3).maxDocumentsPerUser(2).build(),
            clock);
  }

  @AfterEach
  void stop() {
    fx.close();
  }

  static <T> T get(CompletableFuture<T> f) throws Exception {
    return f.get(10, TimeUnit.SECONDS);
  }

  static byte[] h(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  TreeMap<String, Long> lifetimes() {
    TreeMap<String, Long> out = new TreeMap<>();
    for (String k : RedisKeyspace.keys(List.of(RedisProcess.sharedUrl()), prefix + "*")) {
      out.put(k.substring(prefix.length()), fx.redis.pttl(k));
    }
    return out;
  }

  @Test
  void everyPathLeavesOnlyKeysWithATtl() throws Exception {
    var store = fx.engine.store();
    // Refused writes of devices that never wrote before: a conflict, the document limit.
    get(store.write(user, "conflicting", numbered("a", 1, 5L)));
    get(store.write(user, "d1", numbered("a", 1)));
    get(store.write(user, "d1", numbered("b", 2)));
    get(store.write(user, "limited", numbered("c", 1)));
    get(store.write(user, "d1", numbered("a", 1))); // duplicate
    get(store.write(user, "d1", numbered("a", 0))); // stale / out of order

    var sessions = fx.engine.sessions();
    get(sessions.create(user, "s1", "phone", "P", "ios", h("r1")));
    get(sessions.rotate(user, "s1", h("r1"), h("r2"), IDLE.toMillis()));
    get(sessions.rotate(user, "s1", h("r1"), h("r3"), IDLE.toMillis())); // reuse: revoked
    get(sessions.create(user, "s2", "laptop", "L", "mac", h("l1")));
    get(sessions.seen(user, "s2", "node-a", true));
    get(sessions.seen(user, "s2", "node-a", false));
    get(sessions.create(user, "s3", "tv", "T", "tv", h("t1")));
    get(sessions.create(user, "s4", "watch", "W", "os", h("w1")));
    get(sessions.create(user, "s5", "car", "C", "os", h("c1"))); // over the limit
    get(sessions.revoke(user, "tv", false));
    get(sessions.create(user, "s6", "laptop", "L", "mac", h("l2"))); // replaces s2
    clock.advance(Duration.ofMinutes(2));
    get(sessions.rotate(user, "s6", h("l2"), h("l3"), 1)); // refresh inactivity: EXPIRED

    var approvals = fx.engine.approvals();
    long now = clock.millis();
    var bounds = new ApprovalStore.Bounds(100, 8, 8);
    get(approvals.create(req("nd-" + user, "new_device", user, now), bounds));
    get(approvals.create(req("dc1-" + user, "device_code", "", now), bounds));
    get(approvals.create(req("dc2-" + user, "device_code", "", now), bounds));
    get(approvals.create(req("dc3-" + user, "device_code", "", now), bounds));
    get(approvals.claim("dc1-" + user, user, now));
    get(approvals.decide("dc1-" + user, user, "phone", true, now));
    get(approvals.poll("dc1-" + user, "secret-dc1-" + user, now));
    get(approvals.unconsume("dc1-" + user, "secret-dc1-" + user));
    get(approvals.decide("dc2-" + user, user, "phone", false, now)); // never claimed
    get(approvals.poll("dc3-" + user, "secret-dc3-" + user, now));
    get(approvals.poll("dc3-" + user, "secret-dc3-" + user, now)); // slow down
    get(approvals.fail(ApprovalStore.userScope(user), 60_000, now));
    get(approvals.forgive(ApprovalStore.userScope(user), now));
    get(approvals.fail("a:10.0.0.9", 60_000, now));

    HandoffStore handoff = fx.engine.handoff();
    get(
        handoff.putActivity(
            user, Activity.newBuilder().setDeviceId("phone").build(), Duration.ofDays(1), 8));
    get(handoff.clearActivity(user, "laptop"));
    get(handoff.createOffer(user, offer("o1", "phone", clock.millis(), Duration.ofMinutes(1)), 2));
    get(handoff.createOffer(user, offer("o2", "phone", clock.millis(), Duration.ofSeconds(5)), 2));
    get(handoff.createOffer(user, offer("o3", "phone", clock.millis(), Duration.ofMinutes(1)), 2));
    get(handoff.endOffer(user, "o1", "laptop", OfferOutcome.ACCEPTED));
    clock.advance(Duration.ofSeconds(10));
    get(handoff.endOffer(user, "o2", "laptop", OfferOutcome.EXPIRED));
    get(handoff.createOffer(user, offer("o4", "phone", clock.millis(), Duration.ofMinutes(1)), 2));
    get(handoff.online(user, "phone", 1, 0, Duration.ofSeconds(30), 8));
    get(handoff.offline(user, "phone", 1));
    get(
        handoff.keep(
            user, List.of(new HandoffStore.Live("laptop", 2, 0, 0)), Duration.ofSeconds(30), 8));

    // A node's claim on its id (NodeLease), which is no user's.
    fx.engine.claimNode("audit-node");

    TreeMap<String, Long> all = lifetimes();
    assertTrue(all.containsKey("{node:audit-node}:lease"), "the node lease is audited: " + all);
    List<String> immortal = new ArrayList<>();
    all.forEach(
        (k, v) -> {
          // The store's life marker is the one key kept for good (StoreLife): one per deployment,
          // or per Cluster master, and its going is what tells the nodes the store was wiped.
          // -2: gone since it was listed (a mark of a second, as dscan, expired meanwhile).
          if (v == -1 && !k.matches("\\{life(:\\d+)?}:life")) {
            immortal.add(k);
          }
        });
    System.out.println("AUDIT keys: " + all);
    assertEquals(List.of(), immortal, "keys without a TTL: " + all);
    long ceiling = Duration.ofDays(7).toMillis() + 60_000;
    all.forEach((k, v) -> assertTrue(v <= ceiling, k + " lives " + v + " ms"));
  }

  private ApprovalStore.Request req(String id, String kind, String u, long now) {
    return new ApprovalStore.Request(
        id,
        kind,
        u,
        "new-tv",
        "TV",
        "tvos",
        "10.0.0.9",
        now,
        now + 60_000,
        5_000,
        "secret-" + id,
        ApprovalStore.State.PENDING,
        "",
        0);
  }

  static Offer offer(String id, String from, long now, Duration ttl) {
    return Offer.newBuilder()
        .setOfferId(id)
        .setFromDevice(from)
        .setActivity(Activity.newBuilder().setDeviceId(from).setDocument("player"))
        .setCreatedMs(now)
        .setExpiresMs(now + ttl.toMillis())
        .build();
  }
}
