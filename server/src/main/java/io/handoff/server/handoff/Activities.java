package io.handoff.server.handoff;

import io.handoff.protocol.bus.v1.ActivityChanged;
import io.handoff.protocol.bus.v1.UserSignal;
import io.handoff.protocol.v1.Activity;
import io.handoff.protocol.v1.ActivityUpdate;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.protocol.v1.Welcome;
import io.handoff.server.session.Connection;
import io.handoff.server.sync.WriteValidator;
import io.handoff.server.transport.TokenBucket;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.function.BiConsumer;

/**
 * One connection's activities: publishing this device's, and telling it of the other devices' as
 * they change (it is told only of changes: {@code seen} is what it was last told). Event loop only.
 */
final class Activities {
  private final Connection connection;
  private final HandoffService service;
  // Allocated on first use; until then the shared empty map.
  private Map<String, Activity> seen = Collections.emptyMap();
  // The connection's activity and offer request rate limit (HandoffSession#takeToken), made by the
  // first request (full then, as it would be by then anyway). Here rather than in HandoffSession:
  // every request makes this object, and an idle connection holds neither.
  private TokenBucket requests;
  // Store calls of the connection's activity and offer requests not answered yet (onLoop), at most
  // HandoffLimits.MAX_REQUESTS_IN_FLIGHT.
  private int inFlight;

  Activities(Connection connection, HandoffService service) {
    this.connection = connection;
    this.service = service;
  }

  /** Takes one of the connection's request tokens if there is one. */
  boolean takeToken(long nanos) {
    if (requests == null) {
      int rate = service.limits.maxRequestsPerSecond();
      requests = new TokenBucket(rate, rate, nanos);
    }
    return requests.tryTake(nanos);
  }

  /** The connection's requests waiting for the store, if at their bound; else -1. */
  int full() {
    return inFlight >= HandoffLimits.MAX_REQUESTS_IN_FLIGHT ? inFlight : -1;
  }

  /**
   * {@link Connection#onLoop} for a store call of an activity or offer request: counted against the
   * connection's bound until answered.
   */
  <T> void onLoop(CompletableFuture<T> f, BiConsumer<T, Throwable> action) {
    inFlight++;
    connection.onLoop(
        f,
        (v, err) -> {
          inFlight--;
          action.accept(v, err);
        });
  }

  private String user() {
    return connection.userId();
  }

  private String device() {
    return connection.deviceId();
  }

  private long now() {
    return service.store.clock().millis();
  }

  /** Fills the Welcome's activities of the other devices. */
  void welcome(Welcome.Builder w, List<Activity> all) {
    for (Activity a : all) {
      if (!a.getDeviceId().equals(device()) && current(a)) {
        seenForWrite().put(a.getDeviceId(), a);
        w.addActivities(a);
      }
    }
  }

  /**
   * Whether {@code a} is within its retention. A store may keep a device's activity longer (Redis
   * keeps the user's activities in one hash, whose lifetime each publish of any device renews), so
   * the age is judged here, from the time the activity was stamped.
   */
  private boolean current(Activity a) {
    return a.getUpdatedMs() + service.limits.activityRetention().toMillis()
        > service.store.clock().millis();
  }

  /** Brings what the device was told in line with the store's activities. */
  void reread(List<Activity> all) {
    Map<String, Activity> now = new HashMap<>();
    for (Activity a : all) {
      if (current(a)) {
        now.put(a.getDeviceId(), a);
      }
    }
    for (String d : List.copyOf(seen.keySet())) {
      if (!now.containsKey(d)) {
        push(d, null);
      }
    }
    now.forEach(
        (d, a) -> {
          if (!d.equals(device())) {
            push(d, a);
          }
        });
  }

  /** PublishActivity: sets or clears this device's activity. */
  void publish(long id, Activity activity, boolean present) {
    String user = user();
    String device = device();
    if (!present) {
      onLoop(
          service.store.clearActivity(user, device),
          (v, err) -> {
            if (HandoffSession.failed(connection, id, err)) {
              return;
            }
            service.signal(
                user,
                UserSignal.newBuilder()
                    .setActivityChanged(ActivityChanged.newBuilder().setDeviceId(device)));
            HandoffSession.reply(
                connection,
                id,
                ServerFrame.newBuilder()
                    .setActivityUpdate(ActivityUpdate.newBuilder().setDeviceId(device)));
          });
      return;
    }
    Refusal bad = check(activity);
    if (bad != null) {
      connection.error(id, bad.code(), bad.message(), false);
      return;
    }
    Activity stamped = activity.toBuilder().setDeviceId(device).setUpdatedMs(now()).build();
    onLoop(
        service.store.putActivity(
            user,
            stamped,
            service.limits.activityRetention(),
            service.config.storeLimits().maxDevicesPerUser()),
        (v, err) -> {
          if (HandoffSession.failed(connection, id, err)) {
            return;
          }
          service.stats.activitiesPublished.increment();
          service.signal(
              user,
              UserSignal.newBuilder()
                  .setActivityChanged(
                      ActivityChanged.newBuilder().setDeviceId(device).setActivity(stamped)));
          HandoffSession.reply(
              connection,
              id,
              ServerFrame.newBuilder()
                  .setActivityUpdate(
                      ActivityUpdate.newBuilder().setDeviceId(device).setActivity(stamped)));
        });
  }

  /** Null if the activity is within bounds, else why it is refused. */
  Refusal check(Activity a) {
    if (a.getPayload().size() > service.limits.maxActivityPayloadBytes()) {
      return new Refusal(
          ErrorCode.PAYLOAD_TOO_LARGE,
          "payload is "
              + a.getPayload().size()
              + " bytes; the limit is "
              + service.limits.maxActivityPayloadBytes());
    }
    if (!a.getDocument().isEmpty()) {
      String p = service.validator.checkName("activity document", a.getDocument());
      if (p != null) {
        return new Refusal(ErrorCode.BAD_REQUEST, p);
      }
    }
    if (WriteValidator.utf8Length(a.getKind()) > service.limits.maxTextBytes()
        || WriteValidator.utf8Length(a.getTitle()) > service.limits.maxTextBytes()) {
      return new Refusal(
          ErrorCode.BAD_REQUEST,
          "activity kind and title may have at most " + service.limits.maxTextBytes() + " bytes");
    }
    return null;
  }

  /** Tells the device of another device's activity ({@code null}: cleared), if it changed. */
  void push(String device, Activity a) {
    Activity before = a == null ? seen.remove(device) : seenForWrite().put(device, a);
    if (a == null ? before == null : a.equals(before)) {
      return;
    }
    ActivityUpdate.Builder u = ActivityUpdate.newBuilder().setDeviceId(device);
    if (a != null) {
      u.setActivity(a);
    }
    connection.push(ServerFrame.newBuilder().setActivityUpdate(u).build());
  }

  private Map<String, Activity> seenForWrite() {
    if (seen.isEmpty() && !(seen instanceof HashMap)) {
      seen = new HashMap<>();
    }
    return seen;
  }
}
