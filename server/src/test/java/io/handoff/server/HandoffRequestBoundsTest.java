package io.handoff.server;

import static io.handoff.server.TestServer.token;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.handoff.protocol.v1.Activity;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.OfferActivity;
import io.handoff.protocol.v1.Ping;
import io.handoff.protocol.v1.PublishActivity;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.server.handoff.HandoffLimits;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Promise 9: a connection's activity and offer requests waiting for the store are bounded ({@link
 * HandoffLimits#MAX_REQUESTS_IN_FLIGHT}), not only rated. A store that holds its calls (a paused
 * Redis holds each for its command timeout, one in failover for the 10 s trouble is waited out)
 * made the node hold every request the connection sent meanwhile, each with its payload of up to 4
 * KiB, and no bound of the node's covered them. Real sockets; the memory engine behind a {@link
 * GatedEngine} that holds the activity publishes it is asked to.
 */
class HandoffRequestBoundsTest extends OnGatedNode {
  private static final int SENT = 100;

  private void start() throws Exception {
    startNode(
        "handoff-bounds",
        // A rate far above what this test sends: the rate is not what bounds the requests a store
        // holds (at the default 20/s it bounds them only by how long the store holds).
        b -> b.handoffLimits(HandoffLimits.builder().maxRequestsPerSecond(10_000).build()));
  }

  private TestDevice device(String user, String device) {
    TestDevice d = nodes.add(TestDevice.connect(node.port(), token(user, device)));
    d.hello();
    return d;
  }

  private static ClientFrame.Builder publish(int i) {
    return ClientFrame.newBuilder()
        .setPublishActivity(
            PublishActivity.newBuilder()
                .setActivity(
                    Activity.newBuilder()
                        .setKind("video")
                        .setTitle("episode " + i)
                        .setPayload(ByteString.copyFromUtf8("x".repeat(4000)))));
  }

  /**
   * The frames {@code d} gets until the Pong of a Ping sent now, which is answered once every frame
   * sent before it was handled.
   */
  private static List<ServerFrame> handled(TestDevice d) {
    long id = d.send(ClientFrame.newBuilder().setPing(Ping.newBuilder().setNonce(7)));
    List<ServerFrame> got = new ArrayList<>();
    for (ServerFrame f = d.next(); !(f.hasPong() && f.getRequestId() == id); f = d.next()) {
      got.add(f);
    }
    return got;
  }

  @Test
  void activityAndOfferRequestsWaitingForTheStoreAreBoundedPerConnection() throws Exception {
    start();
    TestDevice phone = device("ann", "phone");
    TestDevice laptop = device("bob", "laptop");
    engine.holdActivityPuts(Integer.MAX_VALUE); // The store holds every publish.

    Set<Long> sent = new HashSet<>();
    for (int i = 0; i < SENT; i++) {
      sent.add(phone.send(publish(i)));
    }
    List<ServerFrame> answers = handled(phone);
    assertEquals(
        HandoffLimits.MAX_REQUESTS_IN_FLIGHT,
        engine.heldActivityPuts(),
        "publishes of one connection the store holds at once");

    // The rest were refused at once, retryable, naming the bound; none of them reached the store.
    int refused = 0;
    Set<Long> held = new HashSet<>(sent);
    for (ServerFrame f : answers) {
      if (f.hasError() && sent.contains(f.getRequestId())) {
        held.remove(f.getRequestId());
        assertEquals(ErrorCode.TOO_MANY_IN_FLIGHT, f.getError().getCode(), f.toString());
        assertTrue(f.getError().getRetryable(), f.toString());
        assertTrue(
            f.getError()
                .getMessage()
                .startsWith(HandoffLimits.MAX_REQUESTS_IN_FLIGHT + " activity and offer requests"),
            f.getError().getMessage());
        refused++;
      }
    }
    assertEquals(SENT - HandoffLimits.MAX_REQUESTS_IN_FLIGHT, refused);

    // An offer shares the bound: refused too while the publishes wait, the store not asked.
    long offer =
        phone.send(
            ClientFrame.newBuilder()
                .setOfferActivity(
                    OfferActivity.newBuilder()
                        .setActivity(Activity.newBuilder().setKind("video"))));
    ServerFrame offerAnswer = phone.next(x -> x.getRequestId() == offer);
    assertEquals(ErrorCode.TOO_MANY_IN_FLIGHT, offerAnswer.getError().getCode(), offerAnswer + "");

    // Another connection of the node is not touched by it.
    laptop.send(publish(0));
    Conditions.await(
        "the laptop's publish reached the store",
        () -> engine.heldActivityPuts() == HandoffLimits.MAX_REQUESTS_IN_FLIGHT + 1,
        TestDevice.TIMEOUT);

    // Once the store answers, the connection's requests go through again: the held ones are
    // answered (each answer sent once its request no longer counts), then a new one is taken.
    engine.releaseActivityPuts();
    while (!held.isEmpty()) {
      held.remove(phone.next(x -> held.contains(x.getRequestId())).getRequestId());
    }
    long again = phone.send(publish(SENT));
    ServerFrame answer = phone.next(x -> x.getRequestId() == again);
    assertTrue(answer.hasActivityUpdate(), answer.toString());
  }
}
