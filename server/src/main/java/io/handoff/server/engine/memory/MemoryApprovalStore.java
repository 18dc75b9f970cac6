package io.handoff.server.engine.memory;

import io.handoff.server.devices.ApprovalStore;
import io.handoff.server.util.AddressGroups;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.function.BiPredicate;

/**
 * {@link ApprovalStore} in this process's memory, under one monitor (requests are few and every
 * operation is a few map reads). Records are dropped {@link #RETAIN_MILLIS} after their deadline,
 * when touched by a later operation. Bounded: at most {@link Bounds#total} pending requests (the
 * node is the whole store), at most twice that many records with those that ended and are kept for
 * late calls (over it, the ended ones go early), and {@value #MAX_COUNTERS} attempt counters (over
 * it, the oldest windows go first).
 *
 * <p>A claim or an answer binds an unclaimed request to its user only while the device session
 * making it is alive, asked of the session store under this store's monitor (which {@link #erase}
 * takes too), and while no erasure of the user is under way ({@link #beginErasure}): so once the
 * user's sessions are erased and the erasure marked, nothing more becomes the user's, and what
 * became the user's before is there for the erasure's pass after the sessions.
 */
public final class MemoryApprovalStore implements ApprovalStore {
  static final int MAX_COUNTERS = 100_000;

  // (user, device session id) -> whether the session is alive; called under this store's monitor.
  private final BiPredicate<String, String> sessionAlive;

  // (user, device id) -> whether the user has a live session on another device; likewise.
  private final BiPredicate<String, String> approverBesides;

  /** A store whose claims and answers name no device session, or only live ones. */
  public MemoryApprovalStore() {
    this((user, session) -> true, (user, device) -> true);
  }

  /**
   * A store asking {@code sessionAlive} (user, session id) before it binds a request to a user, and
   * {@code approverBesides} (user, device id) whether a held sign-in is {@link #approvable}.
   */
  public MemoryApprovalStore(
      BiPredicate<String, String> sessionAlive, BiPredicate<String, String> approverBesides) {
    this.sessionAlive = sessionAlive;
    this.approverBesides = approverBesides;
  }

  private final Map<String, Request> requests = new HashMap<>();
  private final Map<String, long[]> counters = new HashMap<>(); // scope -> {window end, count}
  // user -> the erasures of the user under way (beginErasure).
  private final Map<String, Set<String>> erasing = new HashMap<>();
  private long lastPurge;

  @Override
  public synchronized CompletableFuture<Created> create(Request r, Bounds bounds) {
    long now = r.createdMillis();
    purge(now);
    if (requests.containsKey(r.id())) {
      return done(Created.ID_TAKEN);
    }
    String group = r.addressGroup();
    int byAddress = 0;
    int byUser = 0;
    int pending = 0;
    for (Request q : requests.values()) {
      if (q.state() == State.PENDING && q.expiresMillis() > now) {
        pending++;
        if (AddressGroups.same(q.address(), r.address(), group)) {
          byAddress++;
        }
        if (!r.userId().isEmpty() && q.kind().equals(r.kind()) && q.userId().equals(r.userId())) {
          byUser++;
        }
      }
    }
    if (byAddress >= bounds.perAddress()) {
      return done(Created.ADDRESS_LIMIT);
    }
    if (!r.userId().isEmpty() && byUser >= bounds.perUser()) {
      return done(Created.USER_LIMIT);
    }
    if (pending >= bounds.total() || !roomFor(bounds.total(), now)) {
      return done(Created.FULL);
    }
    requests.put(r.id(), r);
    return done(Created.CREATED);
  }

  /**
   * Whether one more record fits in {@link #recordsFor}({@code total}). When it does not, the
   * records kept only to answer late calls (denied, consumed or expired requests) go at once,
   * before their retention ends: a poll of one then gets "unknown" instead of the reason.
   */
  private boolean roomFor(int total, long now) {
    int most = recordsFor(total);
    if (requests.size() < most) {
      return true;
    }
    Iterator<Request> it = requests.values().iterator();
    while (it.hasNext()) {
      Request q = it.next();
      boolean live =
          q.state() == State.APPROVED || (q.state() == State.PENDING && q.expiresMillis() > now);
      if (!live) {
        it.remove();
        lastPoll.remove(q.id());
        consumedAt.remove(q.id());
      }
    }
    return requests.size() < most;
  }

  /** The most records held with a bound of {@code total} pending requests: ended ones too. */
  static int recordsFor(int total) {
    return total > Integer.MAX_VALUE / 2 ? Integer.MAX_VALUE : 2 * total;
  }

  @Override
  public synchronized CompletableFuture<Request> claim(
      String id, String userId, String sessionId, long now) {
    Request r = requests.get(id);
    if (r == null || r.state() != State.PENDING || r.expiresMillis() <= now) {
      return done(null);
    }
    if (r.userId().isEmpty()) {
      if (!alive(userId, sessionId)) {
        return done(null);
      }
      r = r.withUser(userId);
      requests.put(id, r);
    }
    return done(r.userId().equals(userId) ? r : null);
  }

  @Override
  public synchronized CompletableFuture<Decision> decide(
      String id, String userId, String byDevice, String sessionId, boolean approve, long now) {
    Request r = requests.get(id);
    if (r == null || !(r.userId().equals(userId) || r.userId().isEmpty())) {
      return done(new Decision(Decision.Status.NOT_FOUND, null, false));
    }
    if (r.userId().isEmpty()) {
      if (!alive(userId, sessionId)) {
        return done(new Decision(Decision.Status.SESSION_GONE, null, false));
      }
      r = r.withUser(userId);
    }
    if (r.state() == State.PENDING && r.expiresMillis() <= now) {
      r = r.withState(State.EXPIRED, "", now);
      requests.put(id, r);
      return done(new Decision(Decision.Status.EXPIRED, r, true));
    }
    if (r.state() == State.EXPIRED) {
      return done(new Decision(Decision.Status.EXPIRED, r, false));
    }
    if (r.state() != State.PENDING) {
      return done(new Decision(Decision.Status.ALREADY_DECIDED, r, false));
    }
    r = r.withState(approve ? State.APPROVED : State.DENIED, byDevice, now);
    requests.put(id, r);
    return done(new Decision(Decision.Status.DECIDED, r, false));
  }

  private boolean alive(String userId, String sessionId) {
    return sessionId.isEmpty()
        || (!erasing.containsKey(userId) && sessionAlive.test(userId, sessionId));
  }

  @Override
  public synchronized CompletableFuture<Long> failBySession(
      String userId, String sessionId, long windowMillis, long now) {
    if (!sessionId.isEmpty() && erasing.containsKey(userId)) {
      return done(ERASING);
    }
    if (!alive(userId, sessionId)) {
      return done(-1L);
    }
    return fail(ApprovalStore.userScope(userId), windowMillis, now);
  }

  @Override
  public synchronized CompletableFuture<Approvable> approvable(String userId, String deviceId) {
    if (erasing.containsKey(userId)) {
      return done(Approvable.ERASING);
    }
    return done(approverBesides.test(userId, deviceId) ? Approvable.YES : Approvable.NO_APPROVER);
  }

  @Override
  public synchronized CompletableFuture<Void> withdraw(Request r) {
    Request held = requests.get(r.id());
    if (held != null && held.userId().equals(r.userId())) {
      requests.remove(r.id());
      lastPoll.remove(r.id());
      consumedAt.remove(r.id());
    }
    return done(null);
  }

  // One process: a mark cannot outlive the erasure that made it (Engine#erase ends it, failed or
  // not), so it needs no deadline here.
  @Override
  public synchronized CompletableFuture<Void> beginErasure(String userId, String erasureId) {
    erasing.computeIfAbsent(userId, u -> new HashSet<>()).add(erasureId);
    return done(null);
  }

  @Override
  public synchronized CompletableFuture<Boolean> endErasure(String userId, String erasureId) {
    Set<String> marks = erasing.get(userId);
    boolean held = marks != null && marks.remove(erasureId);
    if (marks != null && marks.isEmpty()) {
      erasing.remove(userId);
    }
    return done(held);
  }

  @Override
  public synchronized CompletableFuture<Poll> poll(String id, String secretHash, long now) {
    purge(now);
    Request r = requests.get(id);
    if (r == null || !r.secretHash().equals(secretHash)) {
      return done(new Poll(Poll.Status.UNKNOWN, null, false));
    }
    switch (r.state()) {
      case APPROVED -> {
        return consume(r, now);
      }
      case DENIED -> {
        return done(new Poll(Poll.Status.DENIED, r, false));
      }
      case CONSUMED -> {
        Long at = consumedAt.get(id);
        if (at == null) {
          return done(new Poll(Poll.Status.CONSUMED, r, false));
        }
        return now - at >= CONSUME_LEASE_MILLIS
            ? consume(r, now)
            : done(new Poll(Poll.Status.SETTLING, r, false));
      }
      case EXPIRED -> {
        return done(new Poll(Poll.Status.EXPIRED, r, false));
      }
      default -> {}
    }
    if (r.expiresMillis() <= now) {
      r = r.withState(State.EXPIRED, "", now);
      requests.put(id, r);
      return done(new Poll(Poll.Status.EXPIRED, r, true));
    }
    Long last = lastPoll.get(id);
    lastPoll.put(id, now);
    if (last != null && now - last < r.intervalMillis()) {
      r =
          new Request(
              r.id(),
              r.kind(),
              r.userId(),
              r.deviceId(),
              r.name(),
              r.platform(),
              r.address(),
              r.createdMillis(),
              r.expiresMillis(),
              r.intervalMillis() + SLOW_DOWN_STEP_MILLIS,
              r.secretHash(),
              r.state(),
              r.byDevice(),
              r.decidedMillis());
      requests.put(id, r);
      return done(new Poll(Poll.Status.SLOW_DOWN, r, false));
    }
    return done(new Poll(Poll.Status.PENDING, r, false));
  }

  private final Map<String, Long> lastPoll = new HashMap<>();
  // Consumed approvals not settled yet: request id -> when a poll consumed it.
  private final Map<String, Long> consumedAt = new HashMap<>();

  /** Consumes {@code r}, an approved request (or an unsettled one past its lease). */
  private CompletableFuture<Poll> consume(Request r, long now) {
    requests.put(r.id(), r.withState(State.CONSUMED, r.byDevice(), r.decidedMillis()));
    consumedAt.put(r.id(), now);
    Request approved = r.withState(State.APPROVED, r.byDevice(), r.decidedMillis());
    return done(new Poll(Poll.Status.APPROVED, approved, false));
  }

  @Override
  public synchronized CompletableFuture<Boolean> settle(String id, String secretHash) {
    Request r = requests.get(id);
    if (r == null || r.state() != State.CONSUMED || !r.secretHash().equals(secretHash)) {
      return done(false);
    }
    consumedAt.remove(id);
    return done(true);
  }

  @Override
  public synchronized CompletableFuture<List<Request>> pending(String userId, long now) {
    List<Request> out = new ArrayList<>();
    for (Request r : requests.values()) {
      if (pendingFor(r, userId, now)) {
        out.add(r);
      }
    }
    out.sort(Comparator.comparingLong(Request::createdMillis).thenComparing(Request::id));
    return done(out);
  }

  /** How many requests {@link #pending} would list, as a resume counts them. */
  synchronized int countPending(String userId, long now) {
    int n = 0;
    for (Request r : requests.values()) {
      if (pendingFor(r, userId, now)) {
        n++;
      }
    }
    return n;
  }

  private static boolean pendingFor(Request r, String userId, long now) {
    return r.userId().equals(userId)
        && r.kind().equals("new_device")
        && r.state() == State.PENDING
        && r.expiresMillis() > now;
  }

  @Override
  public synchronized CompletableFuture<Long> failures(String scope, long now) {
    long[] c = counters.get(scope);
    return done(c == null || c[0] <= now ? 0L : c[1]);
  }

  @Override
  public synchronized CompletableFuture<Long> fail(String scope, long windowMillis, long now) {
    long[] c = counters.get(scope);
    if (c == null || c[0] <= now) {
      if (counters.size() >= MAX_COUNTERS) {
        counters.values().removeIf(x -> x[0] <= now);
        if (counters.size() >= MAX_COUNTERS) {
          // Still full of live windows: forget the one ending soonest.
          String soonest = null;
          long end = Long.MAX_VALUE;
          for (Map.Entry<String, long[]> e : counters.entrySet()) {
            if (e.getValue()[0] < end) {
              end = e.getValue()[0];
              soonest = e.getKey();
            }
          }
          counters.remove(soonest);
        }
      }
      c = new long[] {now + windowMillis, 0};
      counters.put(scope, c);
    }
    c[1]++;
    return done(c[1]);
  }

  @Override
  public synchronized CompletableFuture<Boolean> unconsume(String id, String secretHash) {
    Request r = requests.get(id);
    if (r == null || r.state() != State.CONSUMED || !r.secretHash().equals(secretHash)) {
      return done(false);
    }
    requests.put(id, r.withState(State.APPROVED, r.byDevice(), r.decidedMillis()));
    return done(true);
  }

  @Override
  public synchronized CompletableFuture<Long> forgive(String scope, long now) {
    long[] c = counters.get(scope);
    if (c == null || c[0] <= now) {
      return done(0L);
    }
    c[1] = Math.max(0, c[1] - 1);
    return done(c[1]);
  }

  @Override
  public synchronized CompletableFuture<Void> erase(String userId) {
    Iterator<Request> it = requests.values().iterator();
    while (it.hasNext()) {
      Request r = it.next();
      if (r.userId().equals(userId)) {
        it.remove();
        lastPoll.remove(r.id());
        consumedAt.remove(r.id());
      }
    }
    counters.remove(ApprovalStore.userScope(userId));
    return done(null);
  }

  @Override
  public synchronized CompletableFuture<Void> sweep(java.time.Instant now) {
    long millis = now.toEpochMilli();
    lastPurge = Long.MIN_VALUE / 2;
    purge(millis);
    counters.values().removeIf(c -> c[0] <= millis);
    return done(null);
  }

  /** True while anything of {@code userId} is held (for erasure tests). */
  public synchronized boolean holds(String userId) {
    return counters.containsKey(ApprovalStore.userScope(userId))
        || erasing.containsKey(userId)
        || requests.values().stream().anyMatch(r -> r.userId().equals(userId));
  }

  /** Drops records past their retention, at most once a second. Under the monitor. */
  private void purge(long now) {
    if (now - lastPurge < 1_000) {
      return;
    }
    lastPurge = now;
    Iterator<Request> it = requests.values().iterator();
    while (it.hasNext()) {
      Request r = it.next();
      if (r.expiresMillis() + RETAIN_MILLIS <= now) {
        it.remove();
        lastPoll.remove(r.id());
        consumedAt.remove(r.id());
      }
    }
  }

  private static <T> CompletableFuture<T> done(T v) {
    return CompletableFuture.completedFuture(v);
  }
}
