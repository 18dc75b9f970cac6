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
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.RejectedExecutionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * This node's live sessions by user. The node holds one broker subscription per user with at least
 * one session past Hello here: opened with the first, closed after the last. A second session of
 * the same device replaces the first (which is closed with REPLACED). Every upgraded connection
 * holds one of the user's slots from its upgrade on, Hello or not, so sockets that never say Hello
 * count toward the per-user limit too. Signals reach the sessions by their type, each session
 * guarded on its own: one that cannot take its part (its event loop refuses tasks on the way down)
 * does not keep the user's others from theirs. Thread-safe.
 */
public final class Hub {
  private static final Logger log = LoggerFactory.getLogger(Hub.class);
  private final Broker broker;
  private final ConcurrentHashMap<String, UserSessions> users = new ConcurrentHashMap<>();

  public Hub(Broker broker) {
    this.broker = broker;
  }

  /** A hub on {@code broker}, whose timers then run on the node's {@code time}. */
  public Hub(Broker broker, io.handoff.server.Scheduler time) {
    this(broker);
    broker.useTime(time);
  }

  /**
   * Takes one of the user's slots for an upgraded connection, or returns false if the user already
   * has {@code maxPerUser} connections here (a connection of a device already connected always
   * fits: it replaces the old one once its Hello has its turn to resume, and until then the two
   * take one slot).
   */
  boolean admit(Session session, int maxPerUser) {
    boolean[] admitted = new boolean[1];
    users.compute(
        session.userId(),
        (user, us) -> {
          if (us == null) {
            us = new UserSessions();
          }
          if (us.taken(session.deviceId()) >= maxPerUser) {
            return us.isEmpty() ? null : us;
          }
          us.pending(session.deviceId(), 1);
          admitted[0] = true;
          return us;
        });
    return admitted[0];
  }

  /**
   * Turns an admitted connection into a live session at its Hello; the returned future completes
   * when the user's fan-out subscription is live, so the session may read the store without missing
   * what is written after its read. Returns null, registering nothing, if a later connection of the
   * same device is registered already (Hellos wait for their turn in the node's line, and a later
   * one can get its turn first): an earlier connection never replaces a later one.
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
            us.pending(session.deviceId(), -1);
          }
          if (us.subscription == null) {
            us.subscription = broker.subscribe(user, us);
          }
          replaced[0] = us.add(session);
          ready[0] = replaced[0] == session ? null : us.subscription.ready();
          return us;
        });
    if (replaced[0] != null && replaced[0] != session) {
      replaced[0].replaced(session.instance);
    }
    return ready[0];
  }

  /**
   * The Hello instance of the session registered for {@code session}'s device on this node, other
   * than {@code session}; 0 if none. For the Disconnect of a connection {@link #register} refused:
   * the one that took over may itself be replaced or gone by now, and then the newer one or 0 is
   * named, which tells the device no less.
   */
  long instanceOf(Session session) {
    UserSessions us = users.get(session.userId());
    if (us != null) {
      for (Session s : us.sessions) {
        if (s != session && s.deviceId().equals(session.deviceId())) {
          return s.instance;
        }
      }
    }
    return 0;
  }

  /** Gives back the slot of a closed connection; {@code registered} if it had said Hello. */
  void leave(Session session, boolean registered) {
    users.computeIfPresent(
        session.userId(),
        (user, us) -> {
          if (registered) {
            us.remove(session);
          } else {
            us.pending(session.deviceId(), -1);
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
    // Upgraded connections not registered yet (before their Hello, or waiting for their turn to
    // resume, ResumeSlots), in all and by device.
    int pending;
    // Null while no connection is pending: most users have none most of the time, and an idle
    // node holds one of these per user (an emptied HashMap keeps its table).
    private Map<String, Integer> pendingByDevice;

    boolean isEmpty() {
      return pending == 0 && sessions.length == 0;
    }

    void pending(String deviceId, int change) {
      pending += change;
      if (pendingByDevice == null) {
        pendingByDevice = new HashMap<>(4);
      }
      pendingByDevice.merge(deviceId, change, (a, b) -> a + b == 0 ? null : a + b);
      if (pendingByDevice.isEmpty()) {
        pendingByDevice = null;
      }
    }

    /**
     * The user's slots a connection of {@code deviceId} would find taken: every connection not
     * registered yet, and each session of another device that has none. A device's connection
     * waiting to replace its session (it saw its old connection die before the node did) takes that
     * session's slot, not a second one: its turn to resume may be a while in a storm.
     */
    int taken(String deviceId) {
      int n = pending;
      for (Session s : sessions) {
        String d = s.deviceId();
        if (!d.equals(deviceId) && (pendingByDevice == null || !pendingByDevice.containsKey(d))) {
          n++;
        }
      }
      return n;
    }

    /**
     * Adds {@code s}; returns the session of the same device it replaces, if any, or {@code s}
     * itself, not added, if that session is of a later connection.
     */
    Session add(Session s) {
      Session[] cur = sessions;
      for (int i = 0; i < cur.length; i++) {
        if (cur[i].deviceId().equals(s.deviceId())) {
          Session old = cur[i];
          if (old.opened > s.opened) {
            return s;
          }
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
        try {
          s.offer(event);
        } catch (RuntimeException e) {
          failed(s, "an event", e);
        }
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
              try {
                if (kick.getSessionId().isEmpty()) {
                  s.kick(shown, kick.getReason());
                } else {
                  s.kickSession(kick.getSessionId(), shown, kick.getReason());
                }
              } catch (RuntimeException e) {
                failed(s, "a kick", e);
              }
            }
          }
        }
        case ACTIVITY_CHANGED, OFFER_PROMPTED, OFFER_ENDED, PRESENCE_CHANGED -> {
          for (Session s : sessions) {
            try {
              s.signal(signal);
            } catch (RuntimeException e) {
              failed(s, "a signal", e);
            }
          }
        }
        case APPROVAL_PROMPTED, APPROVAL_ENDED -> {
          for (Session s : sessions) {
            try {
              s.approvalSignal(signal);
            } catch (RuntimeException e) {
              failed(s, "an approval signal", e);
            }
          }
        }
        default -> {} // A signal of a kind this node does not know (a newer node sent it).
      }
    }

    /**
     * One session could not take its part of a broker message; the user's other sessions still get
     * theirs (the hub tells each in turn, on the broker's thread). A loop that refuses tasks is
     * stopping, and its session with it: not worth a warning each.
     */
    private static void failed(Session s, String what, RuntimeException e) {
      if (e instanceof RejectedExecutionException) {
        log.debug(
            "{}/{} not told of {}: its event loop is stopping", s.userId(), s.deviceId(), what);
      } else {
        log.warn("{}/{} not told of {}", s.userId(), s.deviceId(), what, e);
      }
    }

    @Override
    public CompletableFuture<?> onPossibleLoss() {
      Session[] all = sessions;
      CompletableFuture<?>[] rereads = new CompletableFuture<?>[all.length];
      for (int i = 0; i < all.length; i++) {
        try {
          rereads[i] = all[i].recheck();
        } catch (RuntimeException e) {
          // One session's fault does not keep the user's others from re-reading.
          log.warn("re-read of {}/{} failed", all[i].userId(), all[i].deviceId(), e);
          rereads[i] = CompletableFuture.completedFuture(null);
        }
      }
      return CompletableFuture.allOf(rereads);
    }
  }
}
