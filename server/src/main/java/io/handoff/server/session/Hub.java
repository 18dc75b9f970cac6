package io.handoff.server.session;

import io.handoff.protocol.CloseCode;
import io.handoff.protocol.bus.v1.DeviceKick;
import io.handoff.protocol.bus.v1.UserSignal;
import io.handoff.server.sync.Broker;
import io.handoff.server.sync.DocumentEvent;
import io.handoff.server.util.CopyOnWrite;
import io.netty.channel.EventLoop;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;

/**
 * This node's live sessions by user. The node holds one broker subscription per user with at least
 * one session past Hello here: opened with the first, closed after the last. A second session of
 * the same device replaces the first (which is closed with REPLACED). Every upgraded connection
 * holds one of the user's slots from its upgrade on, Hello or not, so sockets that never say Hello
 * count toward the per-user limit too. Signals reach the sessions by their type. Thread-safe.
 */
public final class Hub {
  private final Broker broker;
  private final ConcurrentHashMap<String, UserSessions> users = new ConcurrentHashMap<>();

  public Hub(Broker broker) {
    this.broker = broker;
  }

  /**
   * Takes one of the user's slots for an upgraded connection, or returns false if the user already
   * has {@code maxPerUser} connections here (a connection of a device already connected always
   * fits: it replaces the old one at its Hello).
   */
  boolean admit(Session session, int maxPerUser) {
    boolean[] admitted = new boolean[1];
    users.compute(
        session.userId(),
        (user, us) -> {
          if (us == null) {
            us = new UserSessions();
          }
          if (us.pending + us.othersThan(session.deviceId()) >= maxPerUser) {
            return us.isEmpty() ? null : us;
          }
          us.pending++;
          admitted[0] = true;
          return us;
        });
    return admitted[0];
  }

  /**
   * Turns an admitted connection into a live session at its Hello; the returned future completes
   * when the user's fan-out subscription is live, so the session may read the store without missing
   * what is written after its read.
   */
  CompletableFuture<Void> register(Session session) {
    Session[] replaced = new Session[1];
    @SuppressWarnings("unchecked")
    CompletableFuture<Void>[] ready = new CompletableFuture[1];
    users.compute(
        session.userId(),
        (user, us) -> {
          if (us == null) {
            us = new UserSessions(); // Unreachable: admitted sessions keep the entry.
          } else {
            us.pending--;
          }
          if (us.subscription == null) {
            us.subscription = broker.subscribe(user, us);
          }
          replaced[0] = us.add(session);
          ready[0] = us.subscription.ready();
          return us;
        });
    if (replaced[0] != null) {
      replaced[0].replaced();
    }
    return ready[0];
  }

  /** Gives back the slot of a closed connection; {@code registered} if it had said Hello. */
  void leave(Session session, boolean registered) {
    users.computeIfPresent(
        session.userId(),
        (user, us) -> {
          if (registered) {
            us.remove(session);
          } else {
            us.pending--;
          }
          if (us.sessions.length == 0 && us.subscription != null) {
            us.subscription.close();
            us.subscription = null;
          }
          return us.isEmpty() ? null : us;
        });
  }

  /** Users with a session on this node. */
  public int users() {
    int n = 0;
    for (UserSessions us : users.values()) {
      if (us.sessions.length > 0) {
        n++;
      }
    }
    return n;
  }

  /**
   * The event loop of each of the user's sessions on this node (after Hello), in no order; empty if
   * it has none. With the user's loops on (see {@code ServerConfig.userLoops}), one loop repeated.
   */
  public List<EventLoop> loopsOf(String userId) {
    UserSessions us = users.get(userId);
    List<EventLoop> loops = new ArrayList<>();
    if (us != null) {
      for (Session s : us.sessions) {
        loops.add(s.loop());
      }
    }
    return loops;
  }

  /** Sessions on this node (after Hello). */
  public int sessions() {
    int n = 0;
    for (UserSessions us : users.values()) {
      n += us.sessions.length;
    }
    return n;
  }

  /**
   * One user's sessions: a copy-on-write array, read lock-free by the broker's thread; the rest is
   * changed under the map's lock for the user.
   */
  private static final class UserSessions implements Broker.Listener {
    volatile Session[] sessions = new Session[0];
    Broker.Subscription subscription;
    // Upgraded connections that have not said Hello yet.
    int pending;

    boolean isEmpty() {
      return pending == 0 && sessions.length == 0;
    }

    int othersThan(String deviceId) {
      int n = 0;
      for (Session s : sessions) {
        if (!s.deviceId().equals(deviceId)) {
          n++;
        }
      }
      return n;
    }

    /** Adds {@code s}; returns the session of the same device it replaces, if any. */
    Session add(Session s) {
      Session[] cur = sessions;
      for (int i = 0; i < cur.length; i++) {
        if (cur[i].deviceId().equals(s.deviceId())) {
          Session old = cur[i];
          Session[] next = cur.clone();
          next[i] = s;
          sessions = next;
          return old;
        }
      }
      Session[] next = Arrays.copyOf(cur, cur.length + 1);
      next[cur.length] = s;
      sessions = next;
      return null;
    }

    void remove(Session s) {
      sessions = CopyOnWrite.without(sessions, s);
    }

    @Override
    public void onEvent(DocumentEvent event) {
      for (Session s : sessions) {
        s.offer(event);
      }
    }

    @Override
    public void onSignal(UserSignal signal) {
      switch (signal.getBodyCase()) {
        case KICK -> {
          DeviceKick kick = signal.getKick();
          CloseCode code = CloseCode.of(kick.getCloseCode());
          CloseCode shown = code == null ? CloseCode.INTERNAL_ERROR : code;
          for (Session s : sessions) {
            if (kick.getDeviceId().isEmpty() || kick.getDeviceId().equals(s.deviceId())) {
              if (kick.getSessionId().isEmpty()) {
                s.kick(shown, kick.getReason());
              } else {
                s.kickSession(kick.getSessionId(), shown, kick.getReason());
              }
            }
          }
        }
        case ACTIVITY_CHANGED, OFFER_PROMPTED, OFFER_ENDED, PRESENCE_CHANGED -> {
          for (Session s : sessions) {
            s.signal(signal);
          }
        }
        case APPROVAL_PROMPTED, APPROVAL_ENDED -> {
          for (Session s : sessions) {
            s.approvalSignal(signal);
          }
        }
        default -> {} // A signal of a kind this node does not know (a newer node sent it).
      }
    }

    @Override
    public CompletableFuture<?> onPossibleLoss() {
      Session[] all = sessions;
      CompletableFuture<?>[] rereads = new CompletableFuture<?>[all.length];
      for (int i = 0; i < all.length; i++) {
        rereads[i] = all[i].recheck();
      }
      return CompletableFuture.allOf(rereads);
    }
  }
}
