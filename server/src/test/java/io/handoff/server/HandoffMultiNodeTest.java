package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.DevicePresence;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.Offer;
import io.handoff.protocol.v1.OfferOutcome;
import io.handoff.protocol.v1.Ping;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.protocol.v1.Welcome;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.redis.RedisEngine;
import io.handoff.server.handoff.HandoffLimits;
import io.handoff.server.handoff.HandoffStore;
import io.handoff.server.handoff.HandoffStore.Made;
import io.lettuce.core.KillArgs;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** Handoff across nodes on one real Redis: exactly-once accept, offline targets, presence. */
@ExtendWith(SampledLeakDetection.class)
class HandoffMultiNodeTest {
  private static final Duration PRESENCE_TTL = Duration.ofSeconds(3);

  private final Nodes nodes = new Nodes();
  private final String user = "u-" + UUID.randomUUID();

  @AfterEach
  void stop() {
    nodes.close();
  }

  private HandoffServer node(String name, Clock clock) throws Exception {
    return nodes.redis(
        RedisProcess.sharedUrl(),
        name,
        clock,
        b ->
            b.handoffLimits(
                HandoffLimits.builder()
                    .maxRequestsPerSecond(1_000_000)
                    .presenceTtl(PRESENCE_TTL)
                    .build()));
  }

  /** A node on {@code time}, its engine on the same clock. */
  private HandoffServer node(String name, FakeScheduler time) throws Exception {
    return nodes.start(
        name,
        RedisEngine.connect(
            RedisProcess.sharedUrl(), nodes.prefix, StoreLimits.builder().build(), time.clock()),
        time,
        b -> b.handoffLimits(HandoffLimits.builder().presenceTtl(PRESENCE_TTL).build()));
  }

  private Inbox device(HandoffServer node, String name) {
    return device(node, user, name);
  }

  private Inbox device(HandoffServer node, String owner, String name) {
    TestDevice d = TestDevice.connect(node.port(), TestServer.token(owner, name)).presenceFrames();
    nodes.add(d);
    return new Inbox(d);
  }

  /**
   * A thousand offers in all, each accepted at once by three devices on three nodes. Four users
   * race side by side, 250 offers each, so that one offer's round trips wait beside the others'
   * rather than after them; each offer's three accepts still meet at a barrier.
   */
  @Test
  void threeDevicesOnThreeNodesAcceptOneOfferAtOnceAndExactlyOneWinsEveryTime() throws Exception {
    HandoffServer a = node("a", Clock.systemUTC());
    HandoffServer b = node("b", Clock.systemUTC());
    HandoffServer c = node("c", Clock.systemUTC());
    int users = 4;
    int rounds = 1000;
    ExecutorService racers = Executors.newFixedThreadPool(users);
    try {
      List<Future<Integer>> raced = new ArrayList<>();
      for (int u = 0; u < users; u++) {
        String owner = user + "-" + u;
        Inbox phone = device(a, owner, "phone");
        phone.hello();
        Inbox[] targets = {
          device(a, owner, "tv"), device(b, owner, "laptop"), device(c, owner, "tablet")
        };
        for (Inbox t : targets) {
          t.hello();
        }
        raced.add(racers.submit(() -> race(phone, targets, rounds / users)));
      }
      int won = 0;
      for (Future<Integer> f : raced) {
        try {
          won += f.get(5, TimeUnit.MINUTES);
        } catch (ExecutionException e) {
          if (e.getCause() instanceof Error err) {
            throw err; // An assertion of that user's rounds: report it as it is.
          }
          throw e;
        }
      }
      assertEquals(rounds, won);
    } finally {
      racers.shutdownNow();
    }
    long accepted =
        a.stats().offersAccepted.sum()
            + b.stats().offersAccepted.sum()
            + c.stats().offersAccepted.sum();
    assertEquals(rounds, accepted);
  }

  /**
   * {@code rounds} offers of {@code phone}'s, each accepted by the three {@code targets} at once:
   * checks that exactly one wins each, that the others and the offerer are told, and that nothing
   * more came; returns how many rounds were won.
   */
  private static int race(Inbox phone, Inbox[] targets, int rounds) throws Exception {
    Map<String, Integer> wins = new HashMap<>();
    ExecutorService pool = Executors.newFixedThreadPool(3);
    try {
      for (int round = 0; round < rounds; round++) {
        long req = phone.device.send(HandoffProtocolTest.offer("", 0));
        Offer offer = phone.await(f -> f.getRequestId() == req).getOfferCreated().getOffer();
        String id = offer.getOfferId();
        for (Inbox t : targets) {
          t.await(f -> f.hasOfferPrompt() && f.getOfferPrompt().getOffer().getOfferId().equals(id));
        }
        CyclicBarrier together = new CyclicBarrier(3);
        List<Future<Long>> sent = new ArrayList<>();
        for (Inbox t : targets) {
          sent.add(
              pool.submit(
                  () -> {
                    together.await(10, TimeUnit.SECONDS);
                    return t.device.send(HandoffProtocolTest.accept(id));
                  }));
        }
        String winner = null;
        List<Inbox> losers = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
          long acceptId = sent.get(i).get(10, TimeUnit.SECONDS);
          ServerFrame answer = targets[i].await(f -> f.getRequestId() == acceptId && !f.hasPong());
          if (answer.hasOfferGranted()) {
            assertEquals(null, winner, "a second winner in round " + round);
            winner = targets[i].name();
          } else {
            assertEquals(ErrorCode.OFFER_WITHDRAWN, answer.getError().getCode(), answer.toString());
            losers.add(targets[i]);
          }
        }
        assertTrue(winner != null, "nobody won round " + round);
        assertEquals(2, losers.size());
        String w = winner;
        for (Inbox l : losers) {
          ServerFrame withdrawn =
              l.await(f -> f.hasOfferWithdrawn() && f.getOfferWithdrawn().getOfferId().equals(id));
          assertEquals(OfferOutcome.ACCEPTED, withdrawn.getOfferWithdrawn().getOutcome());
          assertEquals(w, withdrawn.getOfferWithdrawn().getByDevice());
        }
        ServerFrame result =
            phone.await(f -> f.hasOfferResult() && f.getOfferResult().getOfferId().equals(id));
        assertEquals(w, result.getOfferResult().getByDevice());
        wins.merge(w, 1, Integer::sum);
      }
    } finally {
      pool.shutdownNow();
    }
    // Nothing more was coming: each target saw each offer withdrawn at most once, the offerer
    // heard of every offer exactly once.
    phone.drain();
    assertEquals(rounds, phone.count(ServerFrame::hasOfferResult));
    int withdrawals = 0;
    for (Inbox t : targets) {
      t.drain();
      withdrawals += t.count(ServerFrame::hasOfferWithdrawn);
      assertEquals(
          t.count(ServerFrame::hasOfferWithdrawn),
          t.all.stream()
              .filter(ServerFrame::hasOfferWithdrawn)
              .map(f -> f.getOfferWithdrawn().getOfferId())
              .distinct()
              .count());
    }
    assertEquals(2 * rounds, withdrawals);
    return wins.values().stream().mapToInt(Integer::intValue).sum();
  }

  @Test
  void offerToAnOfflineDeviceReachesItOnAnotherNodeWithinTheTtlAndNeverAfter() throws Exception {
    MutableClock clock = new MutableClock();
    HandoffServer a = node("a", clock);
    HandoffServer b = node("b", clock);
    Inbox phone = device(a, "phone");
    phone.hello();
    phone.device.send(Writes.frame("player", 1, "position", "42"));
    phone.await(ServerFrame::hasAck);
    long first = phone.device.send(HandoffProtocolTest.offer("tv", 30_000));
    Offer live = phone.await(f -> f.getRequestId() == first).getOfferCreated().getOffer();
    long second = phone.device.send(HandoffProtocolTest.offer("tv", 60_000));
    Offer later = phone.await(f -> f.getRequestId() == second).getOfferCreated().getOffer();

    clock.advance(Duration.ofMillis(30_000));
    Inbox tv = device(b, "tv");
    Welcome w = tv.hello();
    assertEquals(
        List.of(later.getOfferId()), w.getOffersList().stream().map(Offer::getOfferId).toList());
    tv.drain();
    assertEquals(0, tv.count(f -> f.hasOfferPrompt()), "the expired offer never reaches it");
    long late = tv.device.send(HandoffProtocolTest.accept(live.getOfferId()));
    assertEquals(
        ErrorCode.OFFER_WITHDRAWN, tv.await(f -> f.getRequestId() == late).getError().getCode());

    long take = tv.device.send(HandoffProtocolTest.accept(later.getOfferId()));
    ServerFrame granted = tv.await(f -> f.getRequestId() == take);
    assertEquals(
        ByteString.copyFromUtf8("42"),
        granted.getOfferGranted().getSnapshot().getFieldsOrThrow("position"));
    ServerFrame result =
        phone.await(
            f -> f.hasOfferResult() && f.getOfferResult().getOfferId().equals(later.getOfferId()));
    assertEquals("tv", result.getOfferResult().getByDevice());
    assertEquals(OfferOutcome.ACCEPTED, result.getOfferResult().getOutcome());
  }

  /**
   * The three nodes share one fake time (machines whose clocks agree), moved only by the test: a
   * stopped node's devices must read offline on the others once the TTL has passed since it
   * stopped, however late a loaded machine runs the keepers. What the nodes push then is waited
   * for.
   */
  @Test
  void presenceConvergesAcrossNodesAndAStoppedNodesDevicesTurnOfflineWithinTheTtl()
      throws Exception {
    FakeScheduler time = new FakeScheduler();
    HandoffServer a = node("a", time);
    HandoffServer b = node("b", time);
    HandoffServer c = node("c", time);
    Inbox pa = device(a, "pa");
    Inbox pb = device(b, "pb");
    Inbox pc = device(c, "pc");
    pa.hello();
    pb.hello();
    pc.hello();
    long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
    for (Inbox d : List.of(pa, pb, pc)) {
      d.awaitPresence(
          p -> p.size() == 2 && p.values().stream().allMatch(DevicePresence::getOnline), deadline);
    }

    c.abort();
    time.advance(PRESENCE_TTL);
    deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
    for (Inbox d : List.of(pa, pb)) {
      d.awaitPresence(p -> !p.get("pc").getOnline(), deadline);
    }
    assertTrue(pa.presence.get("pb").getOnline(), "live devices stay online");
    assertTrue(pb.presence.get("pa").getOnline());
  }

  @Test
  void offersWhoseSignalsWereLostReachTheDeviceOnceTheBrokerIsBack() throws Exception {
    HandoffServer a = node("a", Clock.systemUTC());
    Inbox tv = device(a, "tv");
    tv.hello();
    // Written to the store behind the nodes' backs: as if its signals were lost.
    HandoffStore store = a.engine().handoff();
    long now = store.clock().millis();
    Offer offer =
        Offer.newBuilder()
            .setOfferId("lost-1")
            .setFromDevice("phone")
            .setActivity(HandoffProtocolTest.activity("player", "Episode 4"))
            .setCreatedMs(now)
            .setExpiresMs(now + 60_000)
            .build();
    assertEquals(Made.CREATED, store.createOffer(user, offer, 16).get(10, TimeUnit.SECONDS).made());
    RedisClient admin = RedisClient.create(RedisProcess.sharedUrl());
    nodes.add(admin::shutdown);
    try (StatefulRedisConnection<String, String> c = admin.connect()) {
      c.sync().clientKill(KillArgs.Builder.typePubsub());
      ServerFrame prompt = tv.await(ServerFrame::hasOfferPrompt);
      assertEquals("lost-1", prompt.getOfferPrompt().getOffer().getOfferId());

      assertEquals(
          HandoffStore.EndStatus.ENDED,
          store
              .endOffer(user, "lost-1", "laptop", OfferOutcome.ACCEPTED)
              .get(10, TimeUnit.SECONDS)
              .status());
      c.sync().clientKill(KillArgs.Builder.typePubsub());
      ServerFrame withdrawn = tv.await(ServerFrame::hasOfferWithdrawn);
      assertEquals(OfferOutcome.ACCEPTED, withdrawn.getOfferWithdrawn().getOutcome());
      assertEquals("laptop", withdrawn.getOfferWithdrawn().getByDevice());
    }
  }

  /** A device's frames: awaited ones are consumed, the rest kept for later awaits and counts. */
  static final class Inbox {
    final TestDevice device;
    final List<ServerFrame> all = new ArrayList<>();
    private final List<ServerFrame> pending = new ArrayList<>();
    final Map<String, DevicePresence> presence = new HashMap<>();
    private String name;

    Inbox(TestDevice device) {
      this.device = device;
    }

    String name() {
      return name;
    }

    Welcome hello() {
      ServerFrame f = device.hello();
      Welcome w = f.getWelcome();
      name = w.getDeviceId();
      w.getPresenceList().forEach(p -> presence.put(p.getDeviceId(), p));
      return w;
    }

    private void record(ServerFrame f) {
      all.add(f);
      if (f.hasPresenceUpdate()) {
        for (DevicePresence p : f.getPresenceUpdate().getDevicesList()) {
          presence.put(p.getDeviceId(), p);
        }
      }
    }

    ServerFrame await(Predicate<ServerFrame> match) {
      for (Iterator<ServerFrame> it = pending.iterator(); it.hasNext(); ) {
        ServerFrame f = it.next();
        if (match.test(f)) {
          it.remove();
          return f;
        }
      }
      while (true) {
        ServerFrame f = device.next();
        record(f);
        if (match.test(f)) {
          return f;
        }
        pending.add(f);
      }
    }

    void awaitPresence(Predicate<Map<String, DevicePresence>> condition, long deadlineNanos) {
      while (!condition.test(presence)) {
        long left = (deadlineNanos - System.nanoTime()) / 1_000_000;
        assertTrue(left > 0, "presence on " + name + " did not converge: " + presence);
        ServerFrame f = device.poll(left);
        if (f != null) {
          record(f);
          pending.add(f);
        }
      }
    }

    /** Reads everything the server sent before the answer to a Ping. */
    void drain() {
      long id = device.send(ClientFrame.newBuilder().setPing(Ping.newBuilder().setNonce(7)));
      while (true) {
        ServerFrame f = device.next();
        if (f.hasPong() && f.getRequestId() == id) {
          return;
        }
        record(f);
        pending.add(f);
      }
    }

    long count(Predicate<ServerFrame> match) {
      return all.stream().filter(match).count();
    }
  }
}
