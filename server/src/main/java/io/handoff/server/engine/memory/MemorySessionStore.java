package io.handoff.server.engine.memory;

import io.handoff.server.devices.SessionStore;
import io.handoff.server.engine.StoreLimits;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;

/**
 * {@link SessionStore} in this process's memory. Each user's sessions are guarded by that user's
 * monitor, so rotation is atomic; futures are returned completed. Idle sessions are dropped when
 * touched and by {@link #sweep}, which the engine runs periodically. Bounded: at most {@link
 * StoreLimits#maxDevicesPerUser()} live sessions and as many tombstones per user, and {@value
 * #MAX_OLD_HASHES} rotated-out hashes per session.
 */
public final class MemorySessionStore implements SessionStore {
  static final int MAX_OLD_HASHES = 16;

  private final StoreLimits limits;
  private final Clock clock;
  private final ConcurrentHashMap<String, UserSessions> users = new ConcurrentHashMap<>();

  public MemorySessionStore(StoreLimits limits, Clock clock) {
    this.limits = limits;
    this.clock = clock;
  }

  @Override
  public CompletableFuture<Created> create(
      String userId,
      String sessionId,
      String deviceId,
      String name,
      String platform,
      byte[] refreshHash,
      long inactivityMillis) {
    long now = clock.millis();
    while (true) {
      UserSessions u = users.computeIfAbsent(userId, k -> new UserSessions());
      synchronized (u) {
        if (u.removed) {
          continue; // Swept or erased while this thread waited for it: start a new record.
        }
        return CompletableFuture.completedFuture(
            create(u, now, sessionId, deviceId, name, platform, refreshHash, inactivityMillis));
      }
    }
  }

  private Created create(
      UserSessions u,
      long now,
      String sessionId,
      String deviceId,
      String name,
      String platform,
      byte[] refreshHash,
      long inactivityMillis) {
    u.dropIdle(now, limits.idleTtl().toMillis());
    // Another device's session dead of inactivity is dropped, as rotate would; the device's own
    // is replaced (revoked and kicked) as any.
    u.sessions
        .values()
        .removeIf(
            s -> !s.revoked && !s.deviceId.equals(deviceId) && s.inactive(now, inactivityMillis));
    Session old = null;
    int live = 0;
    for (Session s : u.sessions.values()) {
      if (!s.revoked) {
        live++;
        if (s.deviceId.equals(deviceId)) {
          old = s;
        }
      }
    }
    if (old == null && live >= limits.maxDevicesPerUser()) {
      return new Created(true, live, null);
    }
    if (old != null) {
      old.revoke(now);
    }
    Session s = new Session(sessionId, deviceId, name, platform, now, refreshHash);
    u.sessions.put(sessionId, s);
    u.trimTombstones(limits.maxDevicesPerUser());
    return new Created(false, live + (old == null ? 1 : 0), old == null ? null : old.id);
  }

  @Override
  public CompletableFuture<Rotation> rotate(
      String userId,
      String sessionId,
      byte[] presented,
      byte[] newHash,
      byte[] sealedNew,
      long inactivityMillis,
      long reuseIntervalMillis) {
    long now = clock.millis();
    UserSessions u = users.get(userId);
    if (u == null) {
      return done(Rotation.Outcome.UNKNOWN, null);
    }
    synchronized (u) {
      u.dropIdle(now, limits.idleTtl().toMillis());
      Session s = u.sessions.get(sessionId);
      if (s == null) {
        return done(Rotation.Outcome.UNKNOWN, null);
      }
      if (s.revoked) {
        return done(Rotation.Outcome.REVOKED, s.deviceId);
      }
      if (Arrays.equals(s.current, presented)) {
        if (s.inactive(now, inactivityMillis)) {
          u.sessions.remove(sessionId); // Gone, not revoked: later use is no anomaly.
          return done(Rotation.Outcome.EXPIRED, s.deviceId);
        }
        s.old.addLast(s.current);
        if (s.old.size() > MAX_OLD_HASHES) {
          s.old.removeFirst();
        }
        s.previous = s.current;
        s.current = newHash;
        s.sealed = sealedNew;
        s.refreshedAt = now;
        s.lastSeen = now;
        return done(Rotation.Outcome.ROTATED, s.deviceId);
      }
      if (s.inactive(now, inactivityMillis)) {
        // Dead of inactivity: a rotated-out token of it is as expired as its current one, not
        // reused (the session is gone, not revoked). Nothing changes.
        for (byte[] h : s.old) {
          if (Arrays.equals(h, presented)) {
            return done(Rotation.Outcome.EXPIRED, s.deviceId);
          }
        }
        return done(Rotation.Outcome.UNKNOWN, null);
      }
      if (reuseIntervalMillis > 0
          && s.previous != null
          && Arrays.equals(s.previous, presented)
          && now - s.refreshedAt <= reuseIntervalMillis) {
        return CompletableFuture.completedFuture(
            new Rotation(Rotation.Outcome.RETRIED, s.deviceId, s.sealed));
      }
      for (byte[] h : s.old) {
        if (Arrays.equals(h, presented)) {
          s.revoke(now);
          return done(Rotation.Outcome.REUSED, s.deviceId);
        }
      }
      return done(Rotation.Outcome.UNKNOWN, null);
    }
  }

  private static CompletableFuture<Rotation> done(Rotation.Outcome o, String deviceId) {
    return CompletableFuture.completedFuture(new Rotation(o, deviceId));
  }

  @Override
  public CompletableFuture<Status> status(String userId, String sessionId, long inactivityMillis) {
    long now = clock.millis();
    UserSessions u = users.get(userId);
    if (u == null) {
      return CompletableFuture.completedFuture(new Status(false, false, null));
    }
    synchronized (u) {
      u.dropIdle(now, limits.idleTtl().toMillis());
      Session s = u.sessions.get(sessionId);
      if (s == null || (!s.revoked && s.inactive(now, inactivityMillis))) {
        return CompletableFuture.completedFuture(new Status(false, false, null));
      }
      return CompletableFuture.completedFuture(new Status(!s.revoked, s.revoked, s.deviceId));
    }
  }

  @Override
  public CompletableFuture<Void> seen(
      String userId, String sessionId, String node, boolean connected) {
    long now = clock.millis();
    UserSessions u = users.get(userId);
    if (u != null) {
      synchronized (u) {
        // A session idle for the idle TTL is gone, even while a connection made before is open.
        u.dropIdle(now, limits.idleTtl().toMillis());
        Session s = u.sessions.get(sessionId);
        if (s != null && !s.revoked) {
          s.lastSeen = now;
          if (connected) {
            s.node = node;
          } else if (node.equals(s.node)) {
            s.node = "";
          }
        }
      }
    }
    return CompletableFuture.completedFuture(null);
  }

  @Override
  public CompletableFuture<List<DeviceSession>> list(String userId, long inactivityMillis) {
    long now = clock.millis();
    List<DeviceSession> out = new ArrayList<>();
    UserSessions u = users.get(userId);
    if (u != null) {
      synchronized (u) {
        u.dropIdle(now, limits.idleTtl().toMillis());
        for (Session s : u.sessions.values()) {
          if (!s.revoked && !s.inactive(now, inactivityMillis)) {
            out.add(
                new DeviceSession(
                    s.id, s.deviceId, s.name, s.platform, s.created, s.lastSeen, s.node));
          }
        }
      }
    }
    return CompletableFuture.completedFuture(out);
  }

  @Override
  public CompletableFuture<List<String>> revoke(String userId, String deviceId, boolean allOthers) {
    long now = clock.millis();
    List<String> revoked = new ArrayList<>();
    UserSessions u = users.get(userId);
    if (u != null) {
      synchronized (u) {
        u.dropIdle(now, limits.idleTtl().toMillis());
        for (Session s : u.sessions.values()) {
          if (!s.revoked && (allOthers != s.deviceId.equals(deviceId))) {
            s.revoke(now);
            revoked.add(s.deviceId);
          }
        }
        u.trimTombstones(limits.maxDevicesPerUser());
      }
    }
    return CompletableFuture.completedFuture(revoked);
  }

  @Override
  public CompletableFuture<Void> erase(String userId) {
    UserSessions u = users.get(userId);
    if (u != null) {
      synchronized (u) {
        u.removed = true;
        users.remove(userId, u);
      }
    }
    return CompletableFuture.completedFuture(null);
  }

  /** Drops sessions idle for longer than the idle TTL, and users left with none. */
  @Override
  public CompletableFuture<Void> sweep(Instant at) {
    long now = at.toEpochMilli();
    long idle = limits.idleTtl().toMillis();
    for (Map.Entry<String, UserSessions> e : users.entrySet()) {
      UserSessions u = e.getValue();
      synchronized (u) {
        u.dropIdle(now, idle);
        if (u.sessions.isEmpty()) {
          u.removed = true;
          users.remove(e.getKey(), u);
        }
      }
    }
    return CompletableFuture.completedFuture(null);
  }

  /** Users with any session record, tombstones included. */
  int users() {
    return users.size();
  }

  /** Whether any state of the user is held, for tests of erasure. */
  boolean holds(String userId) {
    return users.containsKey(userId);
  }

  private static final class UserSessions {
    // Insertion order: oldest session first.
    final LinkedHashMap<String, Session> sessions = new LinkedHashMap<>();
    // Set once the record was swept or erased; a sign-in that finds it starts a new one (a session
    // put into a record no longer in the map would be lost).
    boolean removed;

    void dropIdle(long now, long idleMillis) {
      sessions.values().removeIf(s -> now - s.lastSeen >= idleMillis);
    }

    void trimTombstones(int max) {
      int tombstones = 0;
      for (Session s : sessions.values()) {
        if (s.revoked) {
          tombstones++;
        }
      }
      Iterator<Session> it = sessions.values().iterator();
      while (tombstones > max && it.hasNext()) {
        if (it.next().revoked) {
          it.remove();
          tombstones--;
        }
      }
    }
  }

  private static final class Session {
    final String id;
    final String deviceId;
    final String name;
    final String platform;
    final long created;
    final ArrayDeque<byte[]> old = new ArrayDeque<>();
    byte[] current;
    // The hash the current one replaced, and the sealed copy of the current token (reuse interval).
    byte[] previous;
    byte[] sealed;
    long refreshedAt;
    long lastSeen;
    boolean revoked;
    String node = "";

    Session(String id, String deviceId, String name, String platform, long now, byte[] hash) {
      this.id = id;
      this.deviceId = deviceId;
      this.name = name;
      this.platform = platform;
      this.created = now;
      this.refreshedAt = now;
      this.lastSeen = now;
      this.current = hash;
    }

    /** Whether its refresh token was unused for longer than {@code inactivityMillis}. */
    boolean inactive(long now, long inactivityMillis) {
      return now - refreshedAt > inactivityMillis;
    }

    void revoke(long now) {
      revoked = true;
      lastSeen = now; // The tombstone lives for one idle TTL from now.
      node = "";
      old.clear();
      current = new byte[0];
      previous = null;
      sealed = null;
    }
  }
}
