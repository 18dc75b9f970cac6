package io.handoff.server.engine.memory;

import io.handoff.server.devices.SessionStore;
import io.handoff.server.engine.Engine;
import io.handoff.server.engine.ResumeStore;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.sync.SyncResult;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The embedded single-node engine: {@link MemoryDocumentStore} publishing to {@link MemoryBroker},
 * {@link MemorySessionStore} and {@link MemoryHandoffStore}. Every map they hold shrinks back on
 * {@link #sweep}: memory is bounded by live and retained state, never by how many users came.
 */
public final class MemoryEngine implements Engine {
  private final MemoryBroker broker = new MemoryBroker();
  private final MemoryDocumentStore store;
  private final MemorySessionStore sessions;
  private final ScheduledExecutorService sweeper;
  private final MemoryHandoffStore handoff;
  private final MemoryApprovalStore approvals;
  private final Clock clock;

  public MemoryEngine(StoreLimits limits) {
    this(limits, Clock.systemUTC());
  }

  /**
   * An engine on {@code clock}. Idle users and device sessions are swept once per {@link
   * #SWEEP_INTERVAL} by a daemon thread; {@link #sweep()} runs a sweep at once.
   */
  public MemoryEngine(StoreLimits limits, Clock clock) {
    this.clock = clock;
    this.store = new MemoryDocumentStore(limits, broker, clock);
    this.handoff = new MemoryHandoffStore(clock);
    this.sessions = new MemorySessionStore(limits, clock);
    this.approvals =
        new MemoryApprovalStore(
            (user, session) -> sessions.status(user, session).join().alive(),
            (user, device) ->
                sessions.list(user).join().stream().anyMatch(s -> !s.deviceId().equals(device)));
    this.sweeper =
        Executors.newSingleThreadScheduledExecutor(
            r -> {
              Thread t = new Thread(r, "handoff-memory-sweep");
              t.setDaemon(true);
              return t;
            });
    long every = SWEEP_INTERVAL.toMillis();
    sweeper.scheduleWithFixedDelay(() -> sweep(), every, every, TimeUnit.MILLISECONDS);
  }

  /** How often idle state is dropped. */
  public static final Duration SWEEP_INTERVAL = Duration.ofMinutes(1);

  /**
   * Sweeps every store on this engine's clock: users and device sessions idle for longer than the
   * idle TTL, and activities, offers and presence past their retention.
   */
  public void sweep() {
    sweep(clock.instant());
  }

  @Override
  public MemorySessionStore sessions() {
    return sessions;
  }

  @Override
  public MemoryDocumentStore store() {
    return store;
  }

  @Override
  public MemoryBroker broker() {
    return broker;
  }

  @Override
  public MemoryHandoffStore handoff() {
    return handoff;
  }

  @Override
  public MemoryApprovalStore approvals() {
    return approvals;
  }

  /**
   * The resume as one call: every part is read on the caller's thread, under each user's lock in
   * turn, with no future between the parts (the memory stores answer with completed futures). It
   * counts the user's pending sign-in requests too: the Welcome reads them only if there are any.
   */
  @Override
  public CompletableFuture<Resumed> resume(Request r) {
    String user = r.userId();
    SessionStore.Status status = null;
    if (!r.sessionId().isEmpty()) {
      status = sessions.status(user, r.sessionId(), r.sessionInactivityMillis()).join();
      if (!ResumeStore.aliveFor(status, r.deviceId())) {
        return CompletableFuture.completedFuture(Resumed.sessionNotAlive(status));
      }
    }
    long seq = store.lastClientSeq(user, r.deviceId()).join();
    List<SyncResult> documents = store.sync(user, r.follow(), r.positions()).join();
    handoff.online(
        user, r.deviceId(), r.connection(), r.instance(), r.presenceTtl(), r.maxDevices());
    return CompletableFuture.completedFuture(
        new Resumed(
            status,
            true,
            seq,
            documents,
            handoff.activities(user).join(),
            handoff.liveOffers(user).join(),
            handoff.presence(user).join(),
            handoff.recentlyEnded(user).join(),
            approvals.countPending(user, clock.millis())));
  }

  @Override
  public String name() {
    return "memory";
  }

  @Override
  public String durability() {
    return "in-memory engine: documents, history, write sequences and device sessions live only in"
        + " this process; nothing survives a restart: devices sign in again, and drop their copy of"
        + " each document (GONE) until it is written again, in a new epoch. Use --redis-url for"
        + " durable state.";
  }

  @Override
  public void close() {
    sweeper.shutdownNow();
    store.close();
    broker.close();
  }
}
