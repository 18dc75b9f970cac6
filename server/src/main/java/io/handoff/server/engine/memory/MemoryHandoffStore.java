package io.handoff.server.engine.memory;

import io.handoff.protocol.v1.Activity;
import io.handoff.protocol.v1.DevicePresence;
import io.handoff.protocol.v1.Offer;
import io.handoff.protocol.v1.OfferOutcome;
import io.handoff.server.handoff.HandoffStore;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
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

  /**
   * Runs {@code action} holding the user's monitor, creating the user's state if needed; a state
   * erased or swept while this thread waited for its monitor is replaced by a fresh one.
   */
  private <T> T update(String userId, java.util.function.Function<UserState, T> action) {
    while (true) {
      UserState u = users.computeIfAbsent(userId, k -> new UserState());
      synchronized (u) {
        if (!u.removed) {
          return action.apply(u);
        }
      }
    }
  }

  /** The user's state for reading, or an empty one that is not stored (reads create nothing). */
  private UserState read(String userId) {
    UserState u = users.get(userId);
    return u == null ? new UserState() : u;
  }

  @Override
  public CompletableFuture<Void> putActivity(
      String userId, Activity activity, Duration retention, int maxDevices) {
    update(
        userId,
        u -> {
          long now = clock.millis();
          Map<String, Timed<Activity>> all = u.activitiesForWrite();
          if (!all.containsKey(activity.getDeviceId())) {
            all.values().removeIf(t -> t.until <= now);
            while (all.size() >= maxDevices && !all.isEmpty()) {
              String oldest = null;
              long oldestMs = Long.MAX_VALUE;
              for (Map.Entry<String, Timed<Activity>> e : all.entrySet()) {
                if (e.getValue().value.getUpdatedMs() < oldestMs || oldest == null) {
                  oldestMs = e.getValue().value.getUpdatedMs();
                  oldest = e.getKey();
                }
              }
              all.remove(oldest);
            }
          }
          return all.put(activity.getDeviceId(), new Timed<>(activity, now + retention.toMillis()));
        });
    return CompletableFuture.completedFuture(null);
  }

  @Override
  public CompletableFuture<Void> clearActivity(String userId, String deviceId) {
    UserState u = users.get(userId);
    if (u != null) {
      synchronized (u) {
        u.activities.remove(deviceId);
      }
    }
    return CompletableFuture.completedFuture(null);
  }

  @Override
  public CompletableFuture<List<Activity>> activities(String userId) {
    UserState u = read(userId);
    List<Activity> out = new ArrayList<>();
    synchronized (u) {
      long now = clock.millis();
      u.activities.values().removeIf(t -> t.until <= now);
      u.activities.values().forEach(t -> out.add(t.value));
    }
    return CompletableFuture.completedFuture(out);
  }

  @Override
  public CompletableFuture<Creation> createOffer(String userId, Offer offer, int maxLive) {
    return CompletableFuture.completedFuture(update(userId, u -> create(u, offer, maxLive)));
  }

  private Creation create(UserState u, Offer offer, int maxLive) {
    {
      long now = clock.millis();
      u.prune(now);
      OfferState earlier = u.offers.get(offer.getOfferId());
      if (earlier != null) {
        return new Creation(Made.EXISTS, earlier.offer);
      }
      int live = 0;
      for (OfferState o : u.offers.values()) {
        if (o.outcome == OfferOutcome.OFFER_OUTCOME_UNSPECIFIED && o.offer.getExpiresMs() > now) {
          live++;
        }
      }
      if (live >= maxLive) {
        return new Creation(Made.TOO_MANY, null);
      }
      // Bounded: forget the oldest ended offers beyond what recentlyEnded remembers.
      Iterator<OfferState> it = u.offers.values().iterator();
      while (u.offers.size() >= MAX_RECENTLY_ENDED + maxLive && it.hasNext()) {
        OfferState o = it.next();
        if (o.outcome != OfferOutcome.OFFER_OUTCOME_UNSPECIFIED || o.offer.getExpiresMs() <= now) {
          it.remove();
        }
      }
      u.offersForWrite().put(offer.getOfferId(), new OfferState(offer));
    }
    return new Creation(Made.CREATED, offer);
  }

  @Override
  public CompletableFuture<List<Offer>> liveOffers(String userId) {
    UserState u = read(userId);
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
    UserState u = read(userId);
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
        // Recorded, as the contract says; on one clock no later call could end it otherwise anyway.
        o.outcome = OfferOutcome.EXPIRED;
        o.by = "";
        o.endedMs = offer.getExpiresMs();
        return done(EndStatus.ENDED, offer, OfferOutcome.EXPIRED, "", o.endedMs);
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
    UserState u = read(userId);
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

  /** {@code instance} is not kept: one node, whose Hub replaces connections itself. */
  @Override
  public CompletableFuture<Void> online(
      String userId,
      String deviceId,
      long connection,
      long instance,
      Duration ttl,
      int maxDevices) {
    update(userId, u -> markOnline(u, deviceId, connection, ttl, maxDevices));
    return CompletableFuture.completedFuture(null);
  }

  private Void markOnline(
      UserState u, String deviceId, long connection, Duration ttl, int maxDevices) {
    {
      long now = clock.millis();
      Presence p = u.presenceOf(deviceId);
      if (p == null && u.presence.length >= maxDevices && !evictLongestOffline(u, now)) {
        return null; // Every entry is online: none is dropped for a newcomer.
      }
      if (p == null) {
        p = new Presence(deviceId);
        Presence[] next = Arrays.copyOf(u.presence, u.presence.length + 1);
        next[u.presence.length] = p;
        u.presence = next;
      }
      p.connection = connection;
      p.lastSeen = now;
      p.deadline = now + ttl.toMillis();
    }
    return null;
  }

  /** Drops the entry offline the longest; false if every entry is online. */
  private static boolean evictLongestOffline(UserState u, long now) {
    Presence oldest = null;
    long oldestSeen = Long.MAX_VALUE;
    for (Presence p : u.presence) {
      boolean online = p.online() && p.deadline > now;
      if (!online && p.lastSeen < oldestSeen) {
        oldestSeen = p.lastSeen;
        oldest = p;
      }
    }
    if (oldest == null) {
      return false;
    }
    Presence gone = oldest;
    u.removePresenceIf(p -> p == gone);
    return true;
  }

  /** Refreshes as {@link HandoffStore#keep} says, then reads, under the user's monitor. */
  @Override
  public CompletableFuture<List<DevicePresence>> keep(
      String userId, List<Live> live, Duration ttl, int maxDevices) {
    update(
        userId,
        u -> {
          long now = clock.millis();
          for (Live l : live) {
            Presence p = u.presenceOf(l.deviceId());
            boolean refresh =
                p == null
                    || (p.connection == l.connection()
                        ? p.online()
                        : p.online() ? p.deadline <= now : p.lastSeen < l.sinceMs());
            if (refresh) {
              markOnline(u, l.deviceId(), l.connection(), ttl, maxDevices);
            }
          }
          return null;
        });
    return presence(userId);
  }

  @Override
  public CompletableFuture<Boolean> offline(String userId, String deviceId, long connection) {
    UserState u = read(userId);
    synchronized (u) {
      Presence p = u.presenceOf(deviceId);
      if (p == null || !p.online() || p.connection != connection) {
        return CompletableFuture.completedFuture(false);
      }
      long now = clock.millis();
      boolean wasOnline = p.deadline > now;
      p.markOffline();
      p.lastSeen = wasOnline ? now : p.lastSeen;
      return CompletableFuture.completedFuture(wasOnline);
    }
  }

  @Override
  public CompletableFuture<OptionalLong> heldElsewhere(
      String userId, String deviceId, long connection) {
    UserState u = read(userId);
    synchronized (u) {
      Presence p = u.presenceOf(deviceId);
      boolean held =
          p != null && p.online() && p.deadline > clock.millis() && p.connection != connection;
      return CompletableFuture.completedFuture(held ? OptionalLong.of(0) : OptionalLong.empty());
    }
  }

  @Override
  public CompletableFuture<List<DevicePresence>> presence(String userId) {
    UserState u = read(userId);
    List<DevicePresence> out = new ArrayList<>();
    synchronized (u) {
      long now = clock.millis();
      for (Presence p : u.presence) {
        out.add(
            DevicePresence.newBuilder()
                .setDeviceId(p.device)
                .setOnline(p.online() && p.deadline > now)
                .setLastSeenMs(p.lastSeen)
                .build());
      }
    }
    return CompletableFuture.completedFuture(out);
  }

  @Override
  public CompletableFuture<Void> erase(String userId) {
    UserState u = users.get(userId);
    if (u != null) {
      synchronized (u) {
        u.removed = true;
        users.remove(userId, u);
      }
    }
    return CompletableFuture.completedFuture(null);
  }

  @Override
  public CompletableFuture<Void> sweep(Instant now) {
    long ms = now.toEpochMilli();
    long presenceRetention = PRESENCE_RETENTION.toMillis();
    for (Map.Entry<String, UserState> e : users.entrySet()) {
      UserState u = e.getValue();
      synchronized (u) {
        u.activities.values().removeIf(t -> t.until <= ms);
        u.prune(ms);
        u.removePresenceIf(
            p -> Math.max(p.lastSeen, p.online() ? p.deadline : 0) + presenceRetention <= ms);
        if (u.activities.isEmpty() && u.offers.isEmpty() && u.presence.length == 0) {
          u.removed = true;
          users.remove(e.getKey(), u);
        }
      }
    }
    return CompletableFuture.completedFuture(null);
  }

  /** Users with any state held, for tests of boundedness. */
  int users() {
    return users.size();
  }

  /** Whether any state of the user is held, for tests of erasure. */
  boolean holds(String userId) {
    return users.containsKey(userId);
  }

  /** One user's state; guarded by its own monitor. */
  private static final class UserState {
    // Activities and offers are made on first use: most users' devices never publish or offer,
    // and every connected user has a state (its devices' presence).
    Map<String, Timed<Activity>> activities = Collections.emptyMap();
    Map<String, OfferState> offers = Collections.emptyMap(); // A LinkedHashMap: oldest first.
    // One entry per device, in the order they first came online: an array, not a map (a user has a
    // handful of devices, at most maxDevices; a map cost an idle user about 200 bytes more).
    Presence[] presence = NO_PRESENCE;
    // Set once the state was erased or swept; a writer that finds it starts a new one.
    boolean removed;

    Presence presenceOf(String deviceId) {
      for (Presence p : presence) {
        if (p.device.equals(deviceId)) {
          return p;
        }
      }
      return null;
    }

    void removePresenceIf(java.util.function.Predicate<Presence> gone) {
      int kept = 0;
      for (Presence p : presence) {
        if (!gone.test(p)) {
          kept++;
        }
      }
      if (kept == presence.length) {
        return;
      }
      Presence[] next = kept == 0 ? NO_PRESENCE : new Presence[kept];
      int i = 0;
      for (Presence p : presence) {
        if (!gone.test(p)) {
          next[i++] = p;
        }
      }
      presence = next;
    }

    Map<String, Timed<Activity>> activitiesForWrite() {
      if (activities.isEmpty()) {
        activities = new HashMap<>();
      }
      return activities;
    }

    Map<String, OfferState> offersForWrite() {
      if (offers.isEmpty()) {
        offers = new LinkedHashMap<>();
      }
      return offers;
    }

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

  private static final Presence[] NO_PRESENCE = new Presence[0];

  /** A device's presence entry. Under the user's monitor, as all of its {@link UserState}. */
  private static final class Presence {
    // The deadline of an entry marked offline, which nothing reads: a boolean beside the longs
    // would take 8 bytes more of every device's entry.
    private static final long OFFLINE = Long.MIN_VALUE;

    final String device;
    long connection;
    long lastSeen;
    // Until when the entry is online without a refresh; OFFLINE once marked offline.
    long deadline = OFFLINE;

    Presence(String device) {
      this.device = device;
    }

    /** Marked online (and not offline since): online now if {@link #deadline} is still ahead. */
    boolean online() {
      return deadline != OFFLINE;
    }

    void markOffline() {
      deadline = OFFLINE;
    }
  }
}
