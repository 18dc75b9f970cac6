package io.handoff.server.session;

import io.handoff.protocol.CloseCode;
import io.handoff.protocol.bus.v1.DeviceKick;
import io.handoff.protocol.bus.v1.UserSignal;
import io.handoff.server.handoff.HandoffService;
import io.handoff.server.sync.Broker;
import io.handoff.server.sync.DocumentEvent;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;

/**
 * This node's live sessions by user. The node holds one broker subscription per user with at least
 * one session here: opened with the first, closed after the last. A second session of the same
 * device replaces the first (which is closed with REPLACED). Thread-safe.
 */
public final class Hub {
  private final Broker broker;
  private final HandoffService handoff;
  private final ConcurrentHashMap<String, UserSessions> users = new ConcurrentHashMap<>();

  public Hub(Broker broker, HandoffService handoff) {
    this.broker = broker;
    this.handoff = handoff;
  }

  public HandoffService handoff() {
    return handoff;
  }

  /** The users with a session on this node now. */
  public List<String> userIds() {
    return new ArrayList<>(users.keySet());
  }

  /** The user's sessions on this node now. */
  public List<SessionHandler> sessionsOf(String userId) {
    UserSessions us = users.get(userId);
    return us == null ? List.of() : Arrays.asList(us.sessions);
  }

  /**
   * Adds a session; the returned future completes when the user's fan-out subscription is live, so
   * the session may read the store without missing what is written after its read. Returns null,
   * adding nothing, if the user already has {@code maxPerUser} sessions here (a session replacing
   * one of the same device always fits).
   */
  CompletableFuture<Void> register(SessionHandler session, int maxPerUser) {
    SessionHandler[] replaced = new SessionHandler[1];
    List<CompletableFuture<Void>> ready = new ArrayList<>(1);
    users.compute(
        session.userId(),
        (user, us) -> {
          if (us == null) {
            us = new UserSessions();
            us.subscription = broker.subscribe(user, us);
          } else if (us.sessions.length >= maxPerUser && !us.has(session.deviceId())) {
            return us;
          }
          replaced[0] = us.add(session);
          ready.add(us.subscription.ready());
          return us;
        });
    if (ready.isEmpty()) {
      return null;
    }
    if (replaced[0] != null) {
      replaced[0].replaced();
    }
    return ready.get(0);
  }

  void unregister(SessionHandler session) {
    users.computeIfPresent(
        session.userId(),
        (user, us) -> {
          us.remove(session);
          if (us.sessions.length == 0) {
            us.subscription.close();
            return null;
          }
          return us;
        });
  }

  /** Users with a session on this node. */
  public int users() {
    return users.size();
  }

  /** Sessions on this node (after Hello). */
  public int sessions() {
    int n = 0;
    for (UserSessions us : users.values()) {
      n += us.sessions.length;
    }
    return n;
  }

  /** One user's sessions: a copy-on-write array, read lock-free by the broker's thread. */
  private static final class UserSessions implements Broker.Listener {
    volatile SessionHandler[] sessions = new SessionHandler[0];
    Broker.Subscription subscription;

    boolean has(String deviceId) {
      for (SessionHandler s : sessions) {
        if (s.deviceId().equals(deviceId)) {
          return true;
        }
      }
      return false;
    }

    /** Adds {@code s}; returns the session of the same device it replaces, if any. */
    SessionHandler add(SessionHandler s) {
      SessionHandler[] cur = sessions;
      for (int i = 0; i < cur.length; i++) {
        if (cur[i].deviceId().equals(s.deviceId())) {
          SessionHandler old = cur[i];
          SessionHandler[] next = cur.clone();
          next[i] = s;
          sessions = next;
          return old;
        }
      }
      SessionHandler[] next = Arrays.copyOf(cur, cur.length + 1);
      next[cur.length] = s;
      sessions = next;
      return null;
    }

    void remove(SessionHandler s) {
      SessionHandler[] cur = sessions;
      for (int i = 0; i < cur.length; i++) {
        if (cur[i] == s) {
          SessionHandler[] next = new SessionHandler[cur.length - 1];
          System.arraycopy(cur, 0, next, 0, i);
          System.arraycopy(cur, i + 1, next, i, cur.length - i - 1);
          sessions = next;
          return;
        }
      }
    }

    @Override
    public void onEvent(DocumentEvent event) {
      for (SessionHandler s : sessions) {
        s.offer(event);
      }
    }

    @Override
    public void onSignal(UserSignal signal) {
      if (signal.getBodyCase() == UserSignal.BodyCase.KICK) {
        DeviceKick kick = signal.getKick();
        CloseCode code = CloseCode.of(kick.getCloseCode());
        for (SessionHandler s : sessions) {
          if (kick.getDeviceId().isEmpty() || kick.getDeviceId().equals(s.deviceId())) {
            s.kick(code == null ? CloseCode.INTERNAL_ERROR : code, kick.getReason());
          }
        }
      } else if (signal.getBodyCase().getNumber() >= 11 && signal.getBodyCase().getNumber() <= 19) {
        for (SessionHandler s : sessions) {
          s.onApprovalSignal(signal);
        }
      } else if (signal.getBodyCase().getNumber() >= 30 && signal.getBodyCase().getNumber() <= 49) {
        for (SessionHandler s : sessions) {
          s.handoff().onSignal(signal);
        }
      }
    }

    @Override
    public void onPossibleLoss() {
      for (SessionHandler s : sessions) {
        s.recheck();
        s.handoff().reconcile();
      }
    }
  }
}
