package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.Offer;
import io.handoff.protocol.v1.OfferOutcome;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.protocol.v1.Welcome;
import io.handoff.server.HandoffMultiNodeTest.Inbox;
import io.handoff.server.handoff.HandoffLimits;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import java.time.Clock;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * An offer's deadline as nodes whose clocks differ see it, on a real Redis process of this test:
 * once one device was told the offer expired, the store holds it expired for every node.
 */
class OfferDeadlineAcrossNodesTest {
  private final Nodes nodes = new Nodes();
  private final RedisProcess redis = nodes.add(RedisProcess.start());
  private final String user = "u-deadline";

  /**
   * Node a's clock, 5 s ahead (b's is 20 s behind): a 22 s offer made through b ends 2 s from now,
   * so it has expired by a's clock from the start, with no wait, while b holds it live for 22 s.
   */
  private static final Clock A_CLOCK = Clock.offset(Clock.systemUTC(), Duration.ofSeconds(5));

  @AfterEach
  void stop() {
    nodes.close();
  }

  private HandoffServer node(String name, Clock clock) throws Exception {
    return nodes.redis(
        redis.url(),
        name,
        clock,
        b -> b.handoffLimits(HandoffLimits.builder().maxRequestsPerSecond(1_000_000).build()));
  }

  private Inbox device(HandoffServer node, String name) {
    Inbox d = new Inbox(nodes.add(TestDevice.connect(node.port(), TestServer.token(user, name))));
    d.hello();
    return d;
  }

  private Map<String, String> stored(String offerId) {
    try (RedisClient c = RedisClient.create(redis.url());
        StatefulRedisConnection<String, String> conn = c.connect()) {
      return conn.sync().hgetall(nodes.prefix + "{" + user + "}:of:" + offerId);
    }
  }

  private static ServerFrame accept(Inbox d, String offerId) {
    long req = d.device.send(HandoffProtocolTest.accept(offerId));
    return d.await(f -> f.getRequestId() == req);
  }

  /**
   * A device that accepts past the deadline, on a node whose clock says so, is told the offer
   * expired; the target, on a node whose clock runs behind, accepting after that, must not win it:
   * the store holds it expired, and everyone hears that at once. (The laptop is not the target, and
   * its node holds no timer for the offer: its accept is the first to find the deadline passed.)
   */
  @Test
  void anOfferOneDeviceWasToldExpiredCannotBeAcceptedThroughANodeWhoseClockIsBehind()
      throws Exception {
    HandoffServer a = node("a", A_CLOCK);
    HandoffServer b = node("b", Clock.offset(Clock.systemUTC(), Duration.ofSeconds(-20)));
    Inbox laptop = device(a, "laptop");
    Inbox phone = device(b, "phone");
    Inbox tv = device(b, "tv");
    long req = phone.device.send(HandoffProtocolTest.offer("tv", 22_000)); // Past by a's clock.
    Offer o = phone.await(f -> f.getRequestId() == req).getOfferCreated().getOffer();
    String id = o.getOfferId();
    tv.await(f -> f.hasOfferPrompt() && f.getOfferPrompt().getOffer().getOfferId().equals(id));

    assertTrue(A_CLOCK.millis() > o.getExpiresMs(), "the deadline passed by a's clock");
    ServerFrame late = accept(laptop, id);
    assertEquals(ErrorCode.OFFER_WITHDRAWN, late.getError().getCode(), "" + late);
    assertTrue(late.getError().getMessage().contains("expired"), "" + late);

    // b's clock, 20 s behind, still has the offer live: the tv accepts through b.
    ServerFrame tvAccept = accept(tv, id);
    assertFalse(tvAccept.hasOfferGranted(), "granted what another device was told expired");
    assertEquals(ErrorCode.OFFER_WITHDRAWN, tvAccept.getError().getCode(), "" + tvAccept);
    ServerFrame withdrawn =
        tv.await(f -> f.hasOfferWithdrawn() && f.getOfferWithdrawn().getOfferId().equals(id));
    assertEquals(OfferOutcome.EXPIRED, withdrawn.getOfferWithdrawn().getOutcome());
    assertEquals(String.valueOf(OfferOutcome.EXPIRED.getNumber()), stored(id).get("st"));

    // The offerer hears EXPIRED, once, without waiting for its node's clock to reach the deadline.
    ServerFrame result =
        phone.await(f -> f.hasOfferResult() && f.getOfferResult().getOfferId().equals(id));
    assertEquals(OfferOutcome.EXPIRED, result.getOfferResult().getOutcome());
    phone.drain();
    tv.drain();
    assertEquals(
        1, phone.count(f -> f.hasOfferResult() && f.getOfferResult().getOfferId().equals(id)));
    assertEquals(
        1, tv.count(f -> f.hasOfferWithdrawn() && f.getOfferWithdrawn().getOfferId().equals(id)));
  }

  /**
   * An offering device that moved to another node after its offer's deadline finds the offer
   * EXPIRED in its Welcome; a target on a node whose clock is behind must not win it after that.
   */
  @Test
  void anOfferItsDeviceWasToldExpiredOnReconnectingCannotBeAcceptedThroughANodeWhoseClockIsBehind()
      throws Exception {
    HandoffServer a = node("a", A_CLOCK);
    HandoffServer b = node("b", Clock.offset(Clock.systemUTC(), Duration.ofSeconds(-20)));
    TestDevice first = nodes.add(TestDevice.connect(b.port(), TestServer.token(user, "phone")));
    Inbox phone = new Inbox(first);
    phone.hello();
    Inbox tv = device(b, "tv");
    long req = phone.device.send(HandoffProtocolTest.offer("", 22_000)); // Past by a's clock.
    Offer o = phone.await(f -> f.getRequestId() == req).getOfferCreated().getOffer();
    String id = o.getOfferId();
    tv.await(f -> f.hasOfferPrompt() && f.getOfferPrompt().getOffer().getOfferId().equals(id));
    first.close(); // The phone comes back through a, as after a drain of b.

    assertTrue(A_CLOCK.millis() > o.getExpiresMs(), "the deadline passed by a's clock");
    Inbox back =
        new Inbox(nodes.add(TestDevice.connect(a.port(), TestServer.token(user, "phone"))));
    Welcome w = back.hello();
    var results = w.getOfferResultsList().stream().filter(r -> r.getOfferId().equals(id)).toList();
    assertEquals(1, results.size(), "" + w);
    assertEquals(OfferOutcome.EXPIRED, results.get(0).getOutcome());

    // The resume recorded the expiry and signalled it: the tv's prompt goes before b's deadline.
    ServerFrame withdrawn =
        tv.await(f -> f.hasOfferWithdrawn() && f.getOfferWithdrawn().getOfferId().equals(id));
    assertEquals(OfferOutcome.EXPIRED, withdrawn.getOfferWithdrawn().getOutcome());
    ServerFrame tvAccept = accept(tv, id);
    assertFalse(tvAccept.hasOfferGranted(), "granted what its offerer was told expired");
    assertEquals(ErrorCode.OFFER_WITHDRAWN, tvAccept.getError().getCode(), "" + tvAccept);
    assertEquals(String.valueOf(OfferOutcome.EXPIRED.getNumber()), stored(id).get("st"));
    back.drain();
    assertEquals(
        0,
        back.count(f -> f.hasOfferResult() && f.getOfferResult().getOfferId().equals(id)),
        "a second result after the Welcome's: " + back.all);
  }
}
