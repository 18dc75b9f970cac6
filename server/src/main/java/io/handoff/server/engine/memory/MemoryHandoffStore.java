package io.handoff.server.engine.memory;

import io.handoff.protocol.v1.Activity;
import io.handoff.protocol.v1.DevicePresence;
import io.handoff.protocol.v1.Offer;
import io.handoff.protocol.v1.OfferOutcome;
import io.handoff.server.handoff.HandoffStore;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;

/**
 * {@link HandoffStore} in this process's memory. Each user's state is guarded by its own monitor,
 * so {@link #endOffer} is atomic per offer; futures complete before the methods return.
 */
public final class MemoryHandoffStore implements HandoffStore {
  private final Clock clock;
  private final ConcurrentHashMap<String, UserState> users = new ConcurrentHashMap<>();

  public MemoryHandoffStore(Clock clock) {
    this.clock = clock;
  }

  @Override
  public Clock clock() {
    return clock;
  }

  private UserState user(String userId) {
    return users.computeIfAbsent(userId, u -> new UserState());
  }

  @Override
  public CompletableFuture<Void> putActivity(String userId, Activity activity, Duration retention) {
    UserState u = user(userId);
    synchronized (u) {
      long now = clock.millis();
      u.activities.put(activity.getDeviceId(), new Timed<>(activity, now + retention.toMillis()));
    }
    return CompletableFuture.completedFuture(null);
  }

  @Override
  public CompletableFuture<Void> clearActivity(String userId, String deviceId) {
    UserState u = user(userId);
    synchronized (u) {
      u.activities.remove(deviceId);
    }
    return CompletableFuture.completedFuture(null);
  }

  @Override
  public CompletableFuture<List<Activity>> activities(String userId) {
    UserState u = user(userId);
    List<Activity> out = new ArrayList<>();
    synchronized (u) {
      long now = clock.millis();
      u.activities.values().removeIf(t -> t.until <= now);
      u.activities.values().forEach(t -> out.add(t.value));
    }
    return CompletableFuture.completedFuture(out);
  }

  @Override
  public CompletableFuture<Boolean> createOffer(String userId, Offer offer, int maxLive) {
    UserState u = user(userId);
    synchronized (u) {
      long now = clock.millis();
      u.prune(now);
      int live = 0;
      for (OfferState o : u.offers.values()) {
        if (o.outcome == OfferOutcome.OFFER_OUTCOME_UNSPECIFIED && o.offer.getExpiresMs() > now) {
          live++;
        }
      }
      if (live >= maxLive) {
        return CompletableFuture.completedFuture(false);
      }
      // Bounded: forget the oldest ended offers beyond what recentlyEnded remembers.
      Iterator<OfferState> it = u.offers.values().iterator();
      while (u.offers.size() >= MAX_RECENTLY_ENDED + maxLive && it.hasNext()) {
        OfferState o = it.next();
        if (o.outcome != OfferOutcome.OFFER_OUTCOME_UNSPECIFIED || o.offer.getExpiresMs() <= now) {
          it.remove();
        }
      }
      u.offers.put(offer.getOfferId(), new OfferState(offer));
    }
    return CompletableFuture.completedFuture(true);
  }

  @Override
  public CompletableFuture<List<Offer>> liveOffers(String userId) {
    UserState u = user(userId);
    List<Offer> out = new ArrayList<>();
    synchronized (u) {
      long now = clock.millis();
      for (OfferState o : u.offers.values()) {
        if (o.outcome == OfferOutcome.OFFER_OUTCOME_UNSPECIFIED && o.offer.getExpiresMs() > now) {
          out.add(o.offer);
        }
      }
    }
    return CompletableFuture.completedFuture(out);
  }

  @Override
  public CompletableFuture<OfferEnd> endOffer(
      String userId, String offerId, String deviceId, OfferOutcome outcome) {
    UserState u = user(userId);
    synchronized (u) {
      long now = clock.millis();
      u.prune(now);
      OfferState o = u.offers.get(offerId);
      if (o == null) {
        return CompletableFuture.completedFuture(OfferEnd.notFound());
      }
      Offer offer = o.offer;
      if (o.outcome != OfferOutcome.OFFER_OUTCOME_UNSPECIFIED) {
        return done(EndStatus.ALREADY_ENDED, offer, o.outcome, o.by, o.endedMs);
      }
      boolean expired = offer.getExpiresMs() <= now;
      if (outcome == OfferOutcome.EXPIRED) {
        if (!expired) {
          return done(EndStatus.NOT_YET_EXPIRED, offer, outcome, "", 0);
        }
        deviceId = "";
      } else if (expired) {
        return done(EndStatus.ALREADY_ENDED, offer, OfferOutcome.EXPIRED, "", offer.getExpiresMs());
      } else if (!permitted(offer, deviceId, outcome)) {
        return done(EndStatus.NOT_PERMITTED, offer, outcome, deviceId, 0);
      }
      if (outcome == OfferOutcome.CANCELLED) {
        deviceId = "";
      }
      o.outcome = outcome;
      o.by = deviceId;
      o.endedMs = now;
      return done(EndStatus.ENDED, offer, outcome, deviceId, now);
    }
  }

  @Override
  public CompletableFuture<List<OfferEnd>> recentlyEnded(String userId) {
    UserState u = user(userId);
    List<OfferEnd> out = new ArrayList<>();
    synchronized (u) {
      long now = clock.millis();
      u.prune(now);
      for (OfferState o : u.offers.values()) {
        if (o.outcome != OfferOutcome.OFFER_OUTCOME_UNSPECIFIED) {
          out.add(new OfferEnd(EndStatus.ALREADY_ENDED, o.offer, o.outcome, o.by, o.endedMs));
        } else if (o.offer.getExpiresMs() <= now) {
          out.add(
              new OfferEnd(
                  EndStatus.ALREADY_ENDED,
                  o.offer,
                  OfferOutcome.EXPIRED,
                  "",
                  o.offer.getExpiresMs()));
        }
      }
    }
    int from = Math.max(0, out.size() - MAX_RECENTLY_ENDED);
    return CompletableFuture.completedFuture(new ArrayList<>(out.subList(from, out.size())));
  }

  /** Who may end an offer with {@code outcome}; the same rule as offer_end.lua. */
  static boolean permitted(Offer offer, String deviceId, OfferOutcome outcome) {
    return switch (outcome) {
      case ACCEPTED, DECLINED ->
          offer.getTargetDevice().isEmpty()
              ? !deviceId.equals(offer.getFromDevice())
              : deviceId.equals(offer.getTargetDevice());
      case CANCELLED -> deviceId.equals(offer.getFromDevice());
      default -> false;
    };
  }

  private static CompletableFuture<OfferEnd> done(
      EndStatus status, Offer offer, OfferOutcome outcome, String by, long endedMs) {
    return CompletableFuture.completedFuture(new OfferEnd(status, offer, outcome, by, endedMs));
  }

  @Override
  public CompletableFuture<Void> online(
      String userId, String deviceId, String connectionId, Duration ttl, int maxDevices) {
    UserState u = user(userId);
    synchronized (u) {
      long now = clock.millis();
      Presence p = u.presence.get(deviceId);
      if (p == null && u.presence.size() >= maxDevices) {
        evictLongestOffline(u.presence, now);
      }
      if (p == null) {
        p = new Presence();
        u.presence.put(deviceId, p);
      }
      p.connection = connectionId;
      p.online = true;
      p.lastSeen = now;
      p.deadline = now + ttl.toMillis();
    }
    return CompletableFuture.completedFuture(null);
  }

  private static void evictLongestOffline(Map<String, Presence> presence, long now) {
    String oldest = null;
    long oldestSeen = Long.MAX_VALUE;
    for (Map.Entry<String, Presence> e : presence.entrySet()) {
      Presence p = e.getValue();
      boolean online = p.online && p.deadline > now;
      long seen = online ? Long.MAX_VALUE - 1 : p.lastSeen;
      if (seen < oldestSeen) {
        oldestSeen = seen;
        oldest = e.getKey();
      }
    }
    if (oldest != null) {
      presence.remove(oldest);
    }
  }

  @Override
  public CompletableFuture<Boolean> offline(String userId, String deviceId, String connectionId) {
    UserState u = user(userId);
    synchronized (u) {
      Presence p = u.presence.get(deviceId);
      if (p == null || !p.online || !p.connection.equals(connectionId)) {
        return CompletableFuture.completedFuture(false);
      }
      long now = clock.millis();
      boolean wasOnline = p.deadline > now;
      p.online = false;
      p.lastSeen = wasOnline ? now : p.lastSeen;
      return CompletableFuture.completedFuture(wasOnline);
    }
  }

  @Override
  public CompletableFuture<List<DevicePresence>> presence(String userId) {
    UserState u = user(userId);
    List<DevicePresence> out = new ArrayList<>();
    synchronized (u) {
      long now = clock.millis();
      u.presence.forEach(
          (device, p) ->
              out.add(
                  DevicePresence.newBuilder()
                      .setDeviceId(device)
                      .setOnline(p.online && p.deadline > now)
                      .setLastSeenMs(p.lastSeen)
                      .build()));
    }
    return CompletableFuture.completedFuture(out);
  }

  /** Drops everything (for tests and erasure). */
  public void clear() {
    users.clear();
  }

  private static final class UserState {
    final Map<String, Timed<Activity>> activities = new HashMap<>();
    final LinkedHashMap<String, OfferState> offers = new LinkedHashMap<>();
    final Map<String, Presence> presence = new HashMap<>();

    /** Forgets offers whose retention passed. */
    void prune(long now) {
      long retention = ENDED_RETENTION.toMillis();
      Iterator<OfferState> it = offers.values().iterator();
      while (it.hasNext()) {
        OfferState o = it.next();
        if (Math.max(o.offer.getExpiresMs(), o.endedMs) + retention <= now) {
          it.remove();
        }
      }
    }
  }

  private record Timed<T>(T value, long until) {}

  private static final class OfferState {
    final Offer offer;
    OfferOutcome outcome = OfferOutcome.OFFER_OUTCOME_UNSPECIFIED;
    String by = "";
    long endedMs;

    OfferState(Offer offer) {
      this.offer = offer;
    }
  }

  private static final class Presence {
    String connection;
    boolean online;
    long lastSeen;
    long deadline;
  }
}
