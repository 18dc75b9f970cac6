package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.handoff.client.HandoffClient;
import io.handoff.client.HandoffException;
import io.handoff.client.OfferListener;
import io.handoff.client.OutgoingOffer;
import io.handoff.client.PresenceListener;
import io.handoff.protocol.v1.Activity;
import io.handoff.protocol.v1.DevicePresence;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.Offer;
import io.handoff.protocol.v1.OfferGranted;
import io.handoff.protocol.v1.OfferOutcome;
import io.handoff.protocol.v1.OfferResult;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The Java client's activity, offer and presence API against a real node. */
class ClientHandoffTest {
  private final String user = "u-" + UUID.randomUUID();
  private final List<AutoCloseable> closeables = new ArrayList<>();
  private TestServer server;

  @AfterEach
  void stop() throws Exception {
    for (int i = closeables.size() - 1; i >= 0; i--) {
      closeables.get(i).close();
    }
  }

  /** Records what a client's offer and presence listeners hear. */
  static final class Events implements OfferListener, PresenceListener {
    final Signal signal = new Signal();
    final Map<String, Activity> activities = new ConcurrentHashMap<>();
    final List<Offer> prompts = new CopyOnWriteArrayList<>();
    final List<String> withdrawn = new CopyOnWriteArrayList<>();
    final Map<String, Boolean> online = new ConcurrentHashMap<>();

    @Override
    public void onActivity(String deviceId, Activity activity) {
      if (activity == null) {
        activities.remove(deviceId);
      } else {
        activities.put(deviceId, activity);
      }
      signal.fire();
    }

    @Override
    public void onPrompt(Offer offer) {
      prompts.add(offer);
      signal.fire();
    }

    @Override
    public void onWithdrawn(String offerId, OfferOutcome outcome, String byDevice) {
      withdrawn.add(offerId + ":" + outcome + ":" + byDevice);
      signal.fire();
    }

    @Override
    public void onPresence(List<DevicePresence> changed) {
      changed.forEach(p -> online.put(p.getDeviceId(), p.getOnline()));
      signal.fire();
    }
  }

  private HandoffClient client(String device, Events events) throws Exception {
    HandoffClient c =
        HandoffClient.builder()
            .url(URI.create(server.url()))
            .token(TestServer.token(user, device))
            .offerListener(events)
            .presenceListener(events)
            .build();
    closeables.add(c);
    c.connect().get(10, TimeUnit.SECONDS);
    return c;
  }

  @Test
  void clientOffersAcceptsAndHearsWhoTookIt() throws Exception {
    server = TestServer.start();
    closeables.add(server);
    Events phoneEvents = new Events();
    Events tvEvents = new Events();
    Events laptopEvents = new Events();
    HandoffClient phone = client("phone", phoneEvents);
    HandoffClient tv = client("tv", tvEvents);
    HandoffClient laptop = client("laptop", laptopEvents);

    phone
        .document("player")
        .set("position", "1:02:03".getBytes(StandardCharsets.UTF_8))
        .get(10, TimeUnit.SECONDS);
    Activity watching =
        Activity.newBuilder()
            .setDocument("player")
            .setKind("video")
            .setTitle("Episode 3")
            .setPayload(ByteString.copyFromUtf8("t=3723"))
            .build();
    Activity stored = phone.publishActivity(watching).get(10, TimeUnit.SECONDS);
    assertEquals("phone", stored.getDeviceId());
    tvEvents.signal.await("tv hears the activity", () -> tvEvents.activities.containsKey("phone"));
    assertEquals("Episode 3", tv.activities().get("phone").getTitle());

    OutgoingOffer offer = phone.offer(null, watching, Duration.ofSeconds(30));
    String id = offer.created().get(10, TimeUnit.SECONDS).getOfferId();
    tvEvents.signal.await("tv is prompted", () -> !tvEvents.prompts.isEmpty());
    laptopEvents.signal.await("laptop is prompted", () -> !laptopEvents.prompts.isEmpty());
    assertEquals(id, tv.prompts().get(0).getOfferId());

    OfferGranted granted = tv.accept(id).get(10, TimeUnit.SECONDS);
    assertEquals(
        ByteString.copyFromUtf8("1:02:03"), granted.getSnapshot().getFieldsOrThrow("position"));
    OfferResult result = offer.result().get(10, TimeUnit.SECONDS);
    assertEquals(OfferOutcome.ACCEPTED, result.getOutcome());
    assertEquals("tv", result.getByDevice());
    laptopEvents.signal.await(
        "laptop sees the prompt withdrawn",
        () -> laptopEvents.withdrawn.contains(id + ":ACCEPTED:tv"));
    assertTrue(laptop.prompts().isEmpty());

    ExecutionException late =
        org.junit.jupiter.api.Assertions.assertThrows(
            ExecutionException.class, () -> laptop.accept(id).get(10, TimeUnit.SECONDS));
    HandoffException e = assertInstanceOf(HandoffException.class, late.getCause());
    assertEquals(ErrorCode.OFFER_WITHDRAWN, e.errorCode());

    OutgoingOffer second = phone.offer("laptop", watching, null);
    second.created().get(10, TimeUnit.SECONDS);
    assertEquals(OfferOutcome.CANCELLED, second.cancel().get(10, TimeUnit.SECONDS).getOutcome());
    laptopEvents.signal.await(
        "laptop sees the cancel",
        () -> laptopEvents.withdrawn.stream().anyMatch(w -> w.contains("CANCELLED")));

    tv.close();
    phoneEvents.signal.await(
        "phone sees tv go offline", () -> Boolean.FALSE.equals(phoneEvents.online.get("tv")));
    assertTrue(phone.presence().get("laptop").getOnline());
  }
}
