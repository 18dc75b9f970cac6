package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.Offer;
import io.handoff.protocol.v1.OfferOutcome;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.protocol.v1.Welcome;
import io.handoff.server.HandoffMultiNodeTest.Inbox;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.redis.RedisEngine;
import io.handoff.server.handoff.HandoffLimits;
import io.handoff.server.util.EventLoops;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import java.time.Clock;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Handoff across two nodes on a real Redis process of this test, paused with SIGSTOP while accepts
 * are in flight or across an offer's deadline; outcomes are checked against the offer's hash in
 * Redis, and each device hears of an offer's end once.
 */
class HandoffFaultTest {
  private final Nodes nodes = new Nodes();
  private final RedisProcess redis = nodes.add(RedisProcess.start());
  private final Signal healthChanged = new Signal();
  private final String user = "u-fault";
  private String paused;

  /** Past the node's expiry attempts at the deadline: each waits out the 2 s command timeout. */
  private static final Duration LONG_HANG = Duration.ofSeconds(22);

  @AfterEach
  void stop() {
    if (paused != null) {
      RedisProcess.signal("-CONT", paused);
    }
    nodes.close();
  }

  private HandoffServer node(String name) throws Exception {
    HandoffServer n =
        nodes.redis(
            redis.url(),
            name,
            Clock.systemUTC(),
            b -> b.handoffLimits(HandoffLimits.builder().maxRequestsPerSecond(1_000_000).build()));
    ((RedisEngine) n.engine()).onHealthChange(healthChanged::fire);
    return n;
  }

  /** A node on {@code time}, its engine on the same clock. */
  private HandoffServer node(String name, FakeScheduler time) throws Exception {
    return nodes.start(
        name,
        RedisEngine.connect(redis.url(), nodes.prefix, StoreLimits.builder().build(), time.clock()),
        time,
        b -> b.handoffLimits(HandoffLimits.builder().maxRequestsPerSecond(1_000_000).build()));
  }

  private Inbox device(HandoffServer node, String name) {
    Inbox d = new Inbox(nodes.add(TestDevice.connect(node.port(), TestServer.token(user, name))));
    d.hello();
    return d;
  }

  /** The offer's hash in Redis: the ground truth. */
  private Map<String, String> stored(String offerId) {
    try (RedisClient c = RedisClient.create(redis.url());
        StatefulRedisConnection<String, String> conn = c.connect()) {
      return conn.sync().hgetall(nodes.prefix + "{" + user + "}:of:" + offerId);
    }
  }

  private static Offer offer(Inbox from, int ttlMs) {
    long req = from.device.send(HandoffProtocolTest.offer("", ttlMs));
    return from.await(f -> f.getRequestId() == req).getOfferCreated().getOffer();
  }

  private static ServerFrame accept(Inbox d, String offerId) {
    long req = d.device.send(HandoffProtocolTest.accept(offerId));
    return d.await(f -> f.getRequestId() == req);
  }

  /**
   * One handoff from {@code offerer} taken by {@code winner}, so Redis has the scripts cached as it
   * would in service.
   */
  private static void warmUp(Inbox offerer, Inbox winner, Inbox other) {
    Offer warm = offer(offerer, 60_000);
    prompted(winner, warm.getOfferId());
    prompted(other, warm.getOfferId());
    assertTrue(accept(winner, warm.getOfferId()).hasOfferGranted());
  }

  private static void prompted(Inbox d, String offerId) {
    d.await(f -> f.hasOfferPrompt() && f.getOfferPrompt().getOffer().getOfferId().equals(offerId));
  }

  @Test
  void acceptsOnTwoNodesInFlightWhileRedisHangsEndWithOneWinnerWhoseResendIsGranted()
      throws Exception {
    HandoffServer a = node("a");
    HandoffServer b = node("b");
    Inbox phone = device(a, "phone");
    Inbox tv = device(a, "tv");
    Inbox laptop = device(b, "laptop");
    warmUp(phone, tv, laptop);

    Offer o = offer(phone, 60_000);
    String id = o.getOfferId();
    prompted(tv, id);
    prompted(laptop, id);
    paused = redis.pid();
    RedisProcess.signal("-STOP", paused);
    long tvReq = tv.device.send(HandoffProtocolTest.accept(id));
    long laptopReq = laptop.device.send(HandoffProtocolTest.accept(id));
    for (ServerFrame f :
        List.of(
            tv.await(x -> x.getRequestId() == tvReq),
            laptop.await(x -> x.getRequestId() == laptopReq))) {
      assertEquals(ErrorCode.UNAVAILABLE, f.getError().getCode(), f.toString());
      assertTrue(f.getError().getRetryable());
    }
    RedisProcess.signal("-CONT", paused);
    paused = null;
    healthChanged.await(
        "Redis is back",
        () -> a.engine().healthy() && b.engine().healthy(),
        Duration.ofSeconds(20));
    Conditions.await(
        "Redis ran the accepts it held",
        () -> !"0".equals(stored(id).get("st")),
        Duration.ofSeconds(20));
    Map<String, String> truth = stored(id);
    assertEquals(String.valueOf(OfferOutcome.ACCEPTED.getNumber()), truth.get("st"), "" + truth);
    String winner = truth.get("by");
    assertTrue(winner.equals("tv") || winner.equals("laptop"), winner);
    Inbox won = winner.equals("tv") ? tv : laptop;
    Inbox lost = winner.equals("tv") ? laptop : tv;

    // Both send their accept again, as the error asked: the store's winner is granted, twice if
    // it asks twice; the other is told who took it.
    ServerFrame loser = accept(lost, id);
    assertEquals(ErrorCode.OFFER_WITHDRAWN, loser.getError().getCode(), loser.toString());
    assertTrue(loser.getError().getMessage().contains(winner), loser.toString());
    assertTrue(accept(won, id).hasOfferGranted());
    assertTrue(accept(won, id).hasOfferGranted());
    ServerFrame result =
        phone.await(f -> f.hasOfferResult() && f.getOfferResult().getOfferId().equals(id));
    assertEquals(OfferOutcome.ACCEPTED, result.getOfferResult().getOutcome());
    assertEquals(winner, result.getOfferResult().getByDevice());
    ServerFrame withdrawn =
        lost.await(f -> f.hasOfferWithdrawn() && f.getOfferWithdrawn().getOfferId().equals(id));
    assertEquals(winner, withdrawn.getOfferWithdrawn().getByDevice());
    phone.drain();
    lost.drain();
    won.drain();
    assertEquals(
        1, phone.count(f -> f.hasOfferResult() && f.getOfferResult().getOfferId().equals(id)));
    assertEquals(
        1, lost.count(f -> f.hasOfferWithdrawn() && f.getOfferWithdrawn().getOfferId().equals(id)));
    assertEquals(
        0, won.count(f -> f.hasOfferWithdrawn() && f.getOfferWithdrawn().getOfferId().equals(id)));
    assertEquals(truth, stored(id), "the re-sent accepts changed nothing in the store");
  }

  @Test
  void anOfferWhoseNodeDiedExpiresForItsTargetsAndItsDeviceLearnsSoOnAnotherNode()
      throws Exception {
    // Both nodes on one fake time (machines whose clocks agree), moved past the deadline by the
    // test: the deadline timer is b's, set on its loop as it prompted the laptop.
    FakeScheduler time = new FakeScheduler();
    HandoffServer a = node("a", time);
    HandoffServer b = node("b", time);
    Inbox phone = device(a, "phone");
    Inbox laptop = device(b, "laptop");
    Offer o = offer(phone, 3_000);
    String id = o.getOfferId();
    prompted(laptop, id);
    EventLoops.afterQueuedTasks(b.workers(), Duration.ofSeconds(10));
    a.abort(); // The offering device's node dies with the offer live.

    // The laptop's prompt goes at the deadline, by its own node's timer, and the store says so.
    time.advance(Duration.ofMillis(o.getExpiresMs() - time.clock().millis() + 1));
    ServerFrame withdrawn =
        laptop.await(f -> f.hasOfferWithdrawn() && f.getOfferWithdrawn().getOfferId().equals(id));
    assertEquals(OfferOutcome.EXPIRED, withdrawn.getOfferWithdrawn().getOutcome());
    assertEquals(String.valueOf(OfferOutcome.EXPIRED.getNumber()), stored(id).get("st"));
    ServerFrame late = accept(laptop, id);
    assertEquals(ErrorCode.OFFER_WITHDRAWN, late.getError().getCode(), late.toString());

    // The phone, back on the other node, hears how its offer ended, once.
    Inbox back =
        new Inbox(nodes.add(TestDevice.connect(b.port(), TestServer.token(user, "phone"))));
    Welcome w = back.hello();
    var results = w.getOfferResultsList();
    assertEquals(1, results.stream().filter(r -> r.getOfferId().equals(id)).count(), "" + results);
    assertEquals(OfferOutcome.EXPIRED, results.get(0).getOutcome());
    assertEquals(0, w.getOffersCount());
  }

  /**
   * A drained node's devices are told offline to the user's devices on other nodes, even when the
   * store answers the offline mark only after the connections have closed: the node waits for the
   * mark and its signal before it closes its store connections. Presence's re-read is an hour away
   * here, so only the signal can tell.
   */
  @Test
  void aDeviceOfADrainedNodeIsToldOfflineEvenWhenTheStoreAnswersAfterItsConnectionClosed()
      throws Exception {
    var slowPresence =
        HandoffLimits.builder()
            .maxRequestsPerSecond(1_000_000)
            .presenceTtl(Duration.ofHours(1))
            .build();
    HandoffServer a =
        nodes.redis(redis.url(), "a", Clock.systemUTC(), b -> b.handoffLimits(slowPresence));
    HandoffServer b =
        nodes.redis(redis.url(), "b", Clock.systemUTC(), x -> x.handoffLimits(slowPresence));
    Inbox laptop =
        new Inbox(
            nodes.add(
                TestDevice.connect(b.port(), TestServer.token(user, "laptop")).presenceFrames()));
    laptop.hello();
    Inbox phone = device(a, "phone");
    long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    laptop.awaitPresence(p -> p.containsKey("phone") && p.get("phone").getOnline(), deadline);

    paused = redis.pid();
    RedisProcess.signal("-STOP", paused);
    Thread drain = new Thread(a::close, "drain-a");
    drain.start();
    phone.device.awaitClose(); // The session closed; its offline mark waits on the paused store.
    // Until the node waits for the marks, or has ended: one that does not wait closes its store
    // connections under them. Resumed well inside the store's command timeout (2 s), past which
    // a mark fails and is not signalled.
    Conditions.await(
        "the drain waits for the offline marks, or has ended",
        () ->
            !drain.isAlive()
                || Arrays.stream(drain.getStackTrace())
                    .anyMatch(f -> f.getMethodName().equals("awaitLeaving")),
        Duration.ofSeconds(30));
    RedisProcess.signal("-CONT", paused);
    paused = null;
    drain.join(60_000);

    laptop.awaitPresence(
        p -> !p.get("phone").getOnline(), System.nanoTime() + Duration.ofSeconds(30).toNanos());
  }

  // ---- Offers whose deadline passes while the store hangs ----

  private static Predicate<ServerFrame> resultOf(String id) {
    return f -> f.hasOfferResult() && f.getOfferResult().getOfferId().equals(id);
  }

  private static Predicate<ServerFrame> withdrawalOf(String id) {
    return f -> f.hasOfferWithdrawn() && f.getOfferWithdrawn().getOfferId().equals(id);
  }

  /** The first frame matching {@code match} within {@code bound}, reading frames as they come. */
  private static ServerFrame within(Inbox d, Predicate<ServerFrame> match, Duration bound) {
    long deadline = System.nanoTime() + bound.toNanos();
    while (System.nanoTime() < deadline) {
      ServerFrame f = d.device.poll(100);
      if (f != null) {
        d.all.add(f);
        if (match.test(f)) {
          return f;
        }
      }
    }
    return fail(d.name() + " got no matching frame within " + bound + ": " + d.all);
  }

  private void pauseRedis() {
    paused = redis.pid();
    RedisProcess.signal("-STOP", paused);
  }

  /** Keeps Redis paused until {@code hang} past the deadline. */
  private static void holdPast(long deadlineMs, Duration hang) {
    long until = deadlineMs + hang.toMillis();
    Conditions.await(
        "the hang outlasted the deadline by " + hang,
        () -> System.currentTimeMillis() >= until,
        hang.plusSeconds(60));
  }

  private void resumeRedis(HandoffServer... all) throws InterruptedException {
    RedisProcess.signal("-CONT", paused);
    paused = null;
    healthChanged.await(
        "Redis is back",
        () -> Arrays.stream(all).allMatch(n -> n.engine().healthy()),
        Duration.ofSeconds(30));
  }

  /**
   * The offering device is told how its offer ended once the store is back, however long the store
   * hung at the deadline: its node keeps asking, and nothing else would tell it while it stays
   * connected.
   */
  @Test
  @Tag("fault") // Redis hangs for 22 s: in the faults profile, not the default run.
  void anOfferWhoseDeadlinePassesWhileRedisHangsLongEndsForItsDeviceOnceRedisIsBack()
      throws Exception {
    HandoffServer a = node("a");
    HandoffServer b = node("b");
    Inbox phone = device(a, "phone");
    Inbox laptop = device(b, "laptop");
    Offer o = offer(phone, 2_000);
    String id = o.getOfferId();
    prompted(laptop, id);

    pauseRedis();
    holdPast(o.getExpiresMs(), LONG_HANG);
    resumeRedis(a, b);

    ServerFrame result = within(phone, resultOf(id), Duration.ofSeconds(30));
    assertEquals(OfferOutcome.EXPIRED, result.getOfferResult().getOutcome());
    ServerFrame withdrawn = within(laptop, withdrawalOf(id), Duration.ofSeconds(30));
    assertEquals(OfferOutcome.EXPIRED, withdrawn.getOfferWithdrawn().getOutcome());
    Conditions.await(
        "the store holds the offer expired",
        () -> String.valueOf(OfferOutcome.EXPIRED.getNumber()).equals(stored(id).get("st")),
        Duration.ofSeconds(30));
    phone.drain();
    laptop.drain();
    assertEquals(1, phone.count(resultOf(id)), "" + phone.all);
    assertEquals(1, laptop.count(withdrawalOf(id)), "" + laptop.all);
  }

  /**
   * An accept sent before the deadline while Redis hangs wins when Redis runs it; the deadline's
   * expiry, which could not reach the store, must not have told anyone the offer expired. The other
   * target is told who took it, the winner gets its grant on sending the accept again and no
   * withdrawal, and the offerer one ACCEPTED result: all as the store holds it.
   *
   * <p>Redis runs what one connection sent in order, but not what several sent while it was paused;
   * so the targets' node uses one Redis connection, and the offerer's node runs 8 s behind (its own
   * deadline timer fires after Redis is back), which makes the accept reach Redis first.
   */
  @Test
  @Tag("fault") // With the winner's test below in the default run; this one in the fault suite.
  void anAcceptInFlightAtTheDeadlineWhileRedisHangsWinsAndNobodyIsToldItExpired() throws Exception {
    HandoffLimits limits = HandoffLimits.builder().maxRequestsPerSecond(1_000_000).build();
    HandoffServer a =
        nodes.redis(
            redis.url(),
            "a",
            Clock.offset(Clock.systemUTC(), Duration.ofSeconds(-8)),
            x -> x.handoffLimits(limits));
    HandoffServer b =
        nodes.redis(
            redis.url(), "b", Clock.systemUTC(), x -> x.handoffLimits(limits).redisOnLoops(false));
    ((RedisEngine) a.engine()).onHealthChange(healthChanged::fire);
    ((RedisEngine) b.engine()).onHealthChange(healthChanged::fire);
    Inbox phone = device(a, "phone");
    Inbox tv = device(b, "tv");
    Inbox laptop = device(b, "laptop");
    // One handoff first, so Redis has the scripts cached as it would in service.
    warmUp(phone, tv, laptop);

    Offer o = offer(phone, 12_000); // 4 s left by the targets' node's clock.
    String id = o.getOfferId();
    prompted(tv, id);
    prompted(laptop, id);
    pauseRedis();
    long req = tv.device.send(HandoffProtocolTest.accept(id));
    ServerFrame unavailable = tv.await(f -> f.getRequestId() == req);
    assertEquals(ErrorCode.UNAVAILABLE, unavailable.getError().getCode(), "" + unavailable);
    // Past the deadline and the targets' node's first expiry attempts, which time out.
    holdPast(o.getExpiresMs(), Duration.ofSeconds(5));
    resumeRedis(a, b);
    Conditions.await(
        "Redis ran the accept it held",
        () -> !"0".equals(stored(id).get("st")),
        Duration.ofSeconds(20));
    Map<String, String> truth = stored(id);
    assertEquals(String.valueOf(OfferOutcome.ACCEPTED.getNumber()), truth.get("st"), "" + truth);
    assertEquals("tv", truth.get("by"));

    ServerFrame withdrawn = within(laptop, withdrawalOf(id), Duration.ofSeconds(30));
    assertEquals(OfferOutcome.ACCEPTED, withdrawn.getOfferWithdrawn().getOutcome(), "" + withdrawn);
    assertEquals("tv", withdrawn.getOfferWithdrawn().getByDevice());
    ServerFrame result = within(phone, resultOf(id), Duration.ofSeconds(30));
    assertEquals(OfferOutcome.ACCEPTED, result.getOfferResult().getOutcome(), "" + result);
    assertEquals("tv", result.getOfferResult().getByDevice());
    long again = tv.device.send(HandoffProtocolTest.accept(id));
    assertTrue(tv.await(f -> f.getRequestId() == again).hasOfferGranted());

    phone.drain();
    tv.drain();
    laptop.drain();
    assertEquals(1, phone.count(resultOf(id)), "" + phone.all);
    assertEquals(1, laptop.count(withdrawalOf(id)), "" + laptop.all);
    assertEquals(0, tv.count(withdrawalOf(id)), "the winner was told it lost: " + tv.all);
    assertEquals(truth, stored(id));
  }

  /**
   * A target whose accept won in the store while its answer was lost (UNAVAILABLE) is not told, at
   * the deadline, that the offer was taken: it took it, and its accept sent again gets the grant.
   * The other target and the offerer learn who took it from their own deadline timers. About 8 s:
   * in the fault suite (the default run keeps the two-node accept during a Redis hang).
   */
  @Test
  @Tag("fault")
  void aWinnerWhoseAnswerWasLostIsNotToldItWasWithdrawnWhenTheDeadlineComes() throws Exception {
    HandoffServer a = node("a");
    HandoffServer b = node("b");
    Inbox phone = device(a, "phone");
    Inbox tv = device(b, "tv");
    Inbox laptop = device(b, "laptop");
    warmUp(phone, tv, laptop);

    Offer o = offer(phone, 6_000);
    String id = o.getOfferId();
    prompted(tv, id);
    prompted(laptop, id);
    pauseRedis();
    long req = tv.device.send(HandoffProtocolTest.accept(id));
    ServerFrame unavailable = tv.await(f -> f.getRequestId() == req);
    assertEquals(ErrorCode.UNAVAILABLE, unavailable.getError().getCode(), "" + unavailable);
    resumeRedis(a, b);
    Conditions.await(
        "Redis ran the accept it held",
        () -> !"0".equals(stored(id).get("st")),
        Duration.ofSeconds(20));
    assertEquals("tv", stored(id).get("by"));

    // Nothing signalled the end (the accept's node had given up on it): the deadline timers tell.
    ServerFrame withdrawn = within(laptop, withdrawalOf(id), Duration.ofSeconds(30));
    assertEquals(OfferOutcome.ACCEPTED, withdrawn.getOfferWithdrawn().getOutcome());
    assertEquals("tv", withdrawn.getOfferWithdrawn().getByDevice());
    ServerFrame result = within(phone, resultOf(id), Duration.ofSeconds(30));
    assertEquals("tv", result.getOfferResult().getByDevice());
    // The tv's timer, on the laptop's node, fires at the same deadline; give it time to answer.
    long settled = o.getExpiresMs() + 2_000;
    Conditions.await(
        "the deadline timers ran",
        () -> System.currentTimeMillis() >= settled,
        Duration.ofMinutes(1));
    tv.drain();
    assertEquals(0, tv.count(withdrawalOf(id)), "the winner was told it lost: " + tv.all);
    long again = tv.device.send(HandoffProtocolTest.accept(id));
    assertTrue(tv.await(f -> f.getRequestId() == again).hasOfferGranted());
    tv.drain();
    assertEquals(0, tv.count(withdrawalOf(id)), "the winner was told it lost: " + tv.all);
  }
}
