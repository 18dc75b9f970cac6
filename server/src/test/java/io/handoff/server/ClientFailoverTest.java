package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.handoff.client.ConnectionState;
import io.handoff.client.HandoffClient;
import io.handoff.client.HandoffListener;
import io.handoff.client.OutgoingOffer;
import io.handoff.protocol.v1.Activity;
import io.handoff.protocol.v1.Offer;
import io.handoff.server.ClientHandoffTest.Events;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The Java client moving between two nodes on one Redis: what it knows of the user's other devices
 * (activities, prompts, presence) is the new node's from the moment it says it is connected.
 */
class ClientFailoverTest {
  private final Nodes nodes = new Nodes();

  @AfterEach
  void stop() {
    nodes.close();
  }

  private static String url(int port) {
    return "ws://127.0.0.1:" + port + "/ws";
  }

  private static int freePort() throws Exception {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    }
  }

  @Test
  void whatChangedWhileTheClientMovedIsWhatItHoldsOnceConnected() throws Exception {
    String redis = RedisProcess.sharedUrl();
    HandoffServer n1 = nodes.redis(redis, "n1");
    HandoffServer phoneNode = nodes.redis(redis, "n3");
    // The tv's second node is not up yet: the tv finds it only once the phone has changed things.
    int secondPort = freePort();

    Events tvEvents = new Events();
    // What the tv holds each time it says it is connected.
    List<String> heldWhenConnected = new CopyOnWriteArrayList<>();
    HandoffClient[] tvRef = new HandoffClient[1];
    HandoffListener onConnected =
        new HandoffListener() {
          @Override
          public void onStateChanged(ConnectionState state, int closeCode, String reason) {
            if (state == ConnectionState.CONNECTED) {
              HandoffClient tv = tvRef[0];
              Activity a = tv.activities().get("phone");
              heldWhenConnected.add(
                  "activity "
                      + (a == null ? "none" : a.getTitle())
                      + ", prompts "
                      + tv.prompts().stream()
                          .map(Offer::getActivity)
                          .map(Activity::getTitle)
                          .toList());
              tvEvents.signal.fire();
            }
          }
        };
    HandoffClient tv =
        nodes.add(
            HandoffClient.builder()
                .urls(List.of(URI.create(url(n1.port())), URI.create(url(secondPort))))
                .token(TestServer.token("eva", "tv"))
                .reconnectBackoff(Duration.ofMillis(20), Duration.ofMillis(200))
                .listener(onConnected)
                .offerListener(tvEvents)
                .build());
    tvRef[0] = tv;
    tv.connect().get(10, TimeUnit.SECONDS);

    HandoffClient phone =
        nodes.add(TestServer.clientBuilder(url(phoneNode.port()), "eva", "phone").build());
    phone.connect().get(10, TimeUnit.SECONDS);
    Activity episode3 = Activity.newBuilder().setDocument("player").setTitle("Episode 3").build();
    phone.publishActivity(episode3).get(10, TimeUnit.SECONDS);
    OutgoingOffer offer = phone.offer("tv", episode3, Duration.ofMinutes(1));
    offer.created().get(10, TimeUnit.SECONDS);
    tvEvents.signal.await(
        "the tv hears the activity and the offer",
        () -> tvEvents.activities.containsKey("phone") && !tvEvents.prompts.isEmpty());

    n1.abort();
    // While the tv has no node: the phone moves on to another episode and takes its offer back.
    phone
        .publishActivity(episode3.toBuilder().setTitle("Episode 4").build())
        .get(10, TimeUnit.SECONDS);
    offer.cancel().get(10, TimeUnit.SECONDS);
    nodes.redis(redis, "n2", Clock.systemUTC(), b -> b.port(secondPort));

    tvEvents.signal.await("the tv is connected again", () -> heldWhenConnected.size() == 2);
    assertEquals("activity none, prompts []", heldWhenConnected.get(0));
    assertEquals(
        "activity Episode 4, prompts []",
        heldWhenConnected.get(1),
        "what the tv holds when it says it is connected again");
  }
}
