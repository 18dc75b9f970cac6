package io.handoff.server;

import io.handoff.protocol.bus.v1.UserSignal;
import io.handoff.protocol.v1.Position;
import io.handoff.protocol.v1.Write;
import io.handoff.server.devices.ForwardingSessionStore;
import io.handoff.server.devices.SessionStore;
import io.handoff.server.engine.Engine;
import io.handoff.server.engine.ForwardingEngine;
import io.handoff.server.engine.NodeIdInUseException;
import io.handoff.server.handoff.HandoffStore;
import io.handoff.server.sync.Broker;
import io.handoff.server.sync.DocumentEvent;
import io.handoff.server.sync.DocumentStore;
import io.handoff.server.sync.FollowFilter;
import io.handoff.server.sync.ForwardingDocumentStore;
import io.handoff.server.sync.SyncResult;
import io.handoff.server.sync.WriteOutcome;
import io.netty.channel.EventLoopGroup;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

/**
 * A real engine (Redis in the tests that use it) with gates a test opens and closes, to put the
 * store's answers in an order that happens under failover but rarely on cue: reads from history
 * held until released, writes whose answer never comes, an event the broker loses without noticing,
 * listings of a user's devices held until released, reads of a device session's status that fail,
 * creations of device sessions held until released, calls of the presence keeper held until
 * released, a resume's read of the documents made at once with its answer held, reads from history
 * made at once with their answers held. Everything that passes a gate is the real engine's own
 * work. It also counts the store's reads (and the most in flight at once), device listings and the
 * broker's word that events may have been lost (and when each came, and how many of the re-checks
 * it started are not done yet).
 */
final class GatedEngine extends ForwardingEngine.OverOwnStores {
  private final GatedStore store = new GatedStore();
  private final GatedSessions sessions = new GatedSessions();
  private final GatedBroker broker = new GatedBroker();
  private final GatedHandoff handoff;
  private final Gate reads;
  private final Gate readAnswers;
  private final AtomicInteger eventsHeard = new AtomicInteger();
  private final AtomicBoolean writesUnanswered = new AtomicBoolean();
  private final AtomicInteger writesLost = new AtomicInteger();
  private final AtomicBoolean dropNextEvent = new AtomicBoolean();
  private final AtomicBoolean dropEvents = new AtomicBoolean();
  private final AtomicInteger possibleLosses = new AtomicInteger();
  private final AtomicBoolean holdSyncAnswers = new AtomicBoolean();
  private final List<Runnable> heldSyncAnswers = new ArrayList<>();
  private final AtomicInteger storeReads = new AtomicInteger();
  private final AtomicInteger readsInFlight = new AtomicInteger();
  private final AtomicInteger peakReadsInFlight = new AtomicInteger();
  private final ConcurrentLinkedQueue<Long> possibleLossTimes = new ConcurrentLinkedQueue<>();
  private final AtomicInteger rechecking = new AtomicInteger();
  private final AtomicInteger peakRechecking = new AtomicInteger();
  private final AtomicInteger rechecked = new AtomicInteger();
  private final Gate lists;
  private final AtomicInteger deviceLists = new AtomicInteger();
  private final Gate statuses;
  private final Gate creates;
  private int statusesToFail;
  final Signal changed = new Signal();

  GatedEngine(Engine real) {
    super(real);
    this.handoff = new GatedHandoff(real.handoff(), changed);
    this.lists = new Gate(changed);
    this.reads = new Gate(changed);
    this.readAnswers = new Gate(changed);
    this.statuses = new Gate(changed);
    this.creates = new Gate(changed);
  }

  /** Reads from history wait from now on, unsent, until {@link #releaseReads()}. */
  void holdReads() {
    reads.hold(Integer.MAX_VALUE);
  }

  /** Sends the held reads and lets later ones through. */
  void releaseReads() {
    reads.release();
  }

  int heldReads() {
    return reads.held();
  }

  /**
   * The next {@code n} reads from history go to the store at once, and each answer, once the store
   * gave it, waits until {@link #releaseReadAnswers()}: a read whose answer the node hears of after
   * later writes of the document, whose events reached the node meanwhile.
   */
  void holdReadAnswers(int n) {
    readAnswers.hold(n);
  }

  /** Hands over the held read answers, in the order they came, and holds no more. */
  void releaseReadAnswers() {
    readAnswers.release();
  }

  /** Read answers the store gave and the gate holds now. */
  int heldReadAnswers() {
    return readAnswers.held();
  }

  /**
   * Events the broker handed to this node's listeners so far (not dropped): once counted, each is
   * in the queues of the user's connections on this node.
   */
  int eventsHeard() {
    return eventsHeard.get();
  }

  /**
   * Calls that read documents or their names from the store so far (held or not): {@code read},
   * {@code sync} (the memory resume's) and {@code documents}.
   */
  int storeReads() {
    return storeReads.get();
  }

  /**
   * The most store reads (as {@link #storeReads()} counts them) that were sent and not yet answered
   * at one moment, since the last {@link #resetPeakReadsInFlight()}.
   */
  int peakReadsInFlight() {
    return peakReadsInFlight.get();
  }

  /** Store reads (as {@link #storeReads()} counts them) sent or held and not yet answered. */
  int readsInFlight() {
    return readsInFlight.get();
  }

  void resetPeakReadsInFlight() {
    peakReadsInFlight.set(readsInFlight.get());
  }

  private <T> CompletableFuture<T> counted(java.util.function.Supplier<CompletableFuture<T>> read) {
    storeReads.incrementAndGet();
    peakReadsInFlight.accumulateAndGet(readsInFlight.incrementAndGet(), Math::max);
    CompletableFuture<T> answer;
    try {
      answer = read.get();
    } catch (RuntimeException e) {
      readsInFlight.decrementAndGet();
      throw e;
    }
    CompletableFuture<T> heard = new CompletableFuture<>();
    answer.whenComplete(
        (r, err) -> {
          readsInFlight.decrementAndGet(); // Before anyone hears it: it may send the next read.
          if (err != null) {
            heard.completeExceptionally(err);
          } else {
            heard.complete(r);
          }
        });
    return heard;
  }

  /** Reads of a user's activities (a session's re-read of its handoff state) wait, unsent. */
  void holdActivityReads() {
    handoff.holdActivityReads();
  }

  void releaseActivityReads() {
    handoff.releaseActivityReads();
  }

  int heldActivityReads() {
    return handoff.heldActivityReads();
  }

  /** The next {@code n} activity publishes wait, unsent, until released. */
  void holdActivityPuts(int n) {
    handoff.holdActivityPuts(n);
  }

  /** Sends the held activity publishes, in the order they came. */
  void releaseActivityPuts() {
    handoff.releaseActivityPuts();
  }

  int heldActivityPuts() {
    return handoff.heldActivityPuts();
  }

  /** The next {@code n} ends of offers (accept, decline, cancel) wait, unsent, until released. */
  void holdOfferEnds(int n) {
    handoff.holdEnds(n);
  }

  /** Sends the held offer ends, in the order they came. */
  void releaseOfferEnds() {
    handoff.releaseEnds();
  }

  int heldOfferEnds() {
    return handoff.heldEnds();
  }

  /** The next {@code n} calls of the presence keeper wait, unsent, until released. */
  void holdKeeps(int n) {
    handoff.holdKeeps(n);
  }

  /** Sends the held keeper calls, in the order they came. */
  void releaseKeeps() {
    handoff.releaseKeeps();
  }

  int heldKeeps() {
    return handoff.heldKeeps();
  }

  /** Calls of the presence keeper answered so far, held or not. */
  int keptCalls() {
    return handoff.keptCalls();
  }

  /** The next {@code n} creations of a device session wait, unsent, until released. */
  void holdSessionCreates(int n) {
    creates.hold(n);
  }

  /** Sends the held creations, in the order they came. */
  void releaseSessionCreates() {
    creates.release();
  }

  int heldSessionCreates() {
    return creates.held();
  }

  /** The next {@code n} listings of a user's device sessions wait, unsent, until released. */
  void holdDeviceLists(int n) {
    lists.hold(n);
  }

  /** Sends the held listings, in the order they came. */
  void releaseDeviceLists() {
    lists.release();
  }

  int heldDeviceLists() {
    return lists.held();
  }

  /**
   * The next {@code n} reads of a device session's status (an upgrade's, a resume's or a
   * RefreshToken's check) wait, unsent, until released.
   */
  void holdSessionStatuses(int n) {
    statuses.hold(n);
  }

  /** Sends the held status reads, in the order they came. */
  void releaseSessionStatuses() {
    statuses.release();
  }

  /**
   * The next {@code n} reads of a device session's status fail without reaching the store, as they
   * do while it is unreachable.
   */
  synchronized void failSessionStatuses(int n) {
    statusesToFail = n;
  }

  /** How many of the reads {@link #failSessionStatuses} made fail are still to come. */
  synchronized int sessionStatusesLeftToFail() {
    return statusesToFail;
  }

  int heldSessionStatuses() {
    return statuses.held();
  }

  /** Listings of a user's device sessions asked of the store so far (held or not). */
  int deviceLists() {
    return deviceLists.get();
  }

  /**
   * While on, writes are neither sent to the store nor ever answered: their futures stay
   * incomplete, as an answer lost between the store and the node.
   */
  void leaveWritesUnanswered(boolean on) {
    writesUnanswered.set(on);
  }

  /** Writes left unanswered so far. */
  int writesLost() {
    return writesLost.get();
  }

  /** The broker loses the next event it would deliver, and does not know it. */
  void dropNextEvent() {
    dropNextEvent.set(true);
  }

  /** The broker loses every event it would deliver while {@code on}, and does not know it. */
  void dropEvents(boolean on) {
    dropEvents.set(on);
  }

  boolean eventDropped() {
    return !dropNextEvent.get();
  }

  /** Times the broker told a listener that events may have been lost (a resubscription). */
  int possibleLosses() {
    return possibleLosses.get();
  }

  /**
   * Users told of a possible loss whose re-check (what the listener returned) has not completed.
   */
  int rechecking() {
    return rechecking.get();
  }

  /** The most {@link #rechecking()} at one moment. */
  int peakRechecking() {
    return peakRechecking.get();
  }

  /** Users told of a possible loss whose re-check completed. */
  int rechecked() {
    return rechecked.get();
  }

  /** When ({@link System#nanoTime()}) each of {@link #possibleLosses()} was told, in order. */
  List<Long> possibleLossTimes() {
    return new ArrayList<>(possibleLossTimes);
  }

  /**
   * From now on the store's {@code sync} (a resume's read of the documents) runs at once, and its
   * answer waits until {@link #releaseSyncAnswers()}: a resume read that the node hears of late.
   */
  void holdSyncAnswers() {
    holdSyncAnswers.set(true);
  }

  /** Syncs that ran in the store and whose answers are held. */
  synchronized int heldSyncAnswers() {
    return heldSyncAnswers.size();
  }

  /** Hands over the held sync answers, in the order they came, and holds no more. */
  void releaseSyncAnswers() {
    List<Runnable> out;
    synchronized (this) {
      holdSyncAnswers.set(false);
      out = new ArrayList<>(heldSyncAnswers);
      heldSyncAnswers.clear();
    }
    out.forEach(Runnable::run);
  }

  @Override
  public DocumentStore store() {
    return store;
  }

  @Override
  public Broker broker() {
    return broker;
  }

  @Override
  public SessionStore sessions() {
    return sessions;
  }

  @Override
  public HandoffStore handoff() {
    return handoff;
  }

  @Override
  public String name() {
    return "gated-" + delegate().name();
  }

  // As an engine that shares no store: no loops bound, no node id claimed, no store reset seen.

  @Override
  public LoopBinding bindLoops(EventLoopGroup loops, String transport) {
    return LoopBinding.NONE;
  }

  @Override
  public Runnable claimNode(String nodeId, Consumer<NodeIdInUseException> taken) {
    return () -> {};
  }

  @Override
  public boolean holdsNode(String nodeId) {
    return true;
  }

  @Override
  public boolean confirmsNode(String nodeId) {
    return true;
  }

  @Override
  public long storeResets() {
    return 0;
  }

  @Override
  public void close() {
    releaseReads();
    releaseReadAnswers();
    releaseDeviceLists();
    releaseActivityReads();
    super.close();
  }

  private final class GatedStore extends ForwardingDocumentStore {
    GatedStore() {
      super(GatedEngine.this.delegate().store());
    }

    @Override
    public CompletableFuture<WriteOutcome> write(String userId, String deviceId, Write write) {
      if (writesUnanswered.get()) {
        writesLost.incrementAndGet();
        changed.fire();
        return new CompletableFuture<>();
      }
      return delegate().write(userId, deviceId, write);
    }

    @Override
    public CompletableFuture<SyncResult> read(
        String userId, String document, long epoch, long version, long fingerprint) {
      return counted(
          () ->
              reads.pass(
                  () ->
                      readAnswers.passAnswer(
                          () -> delegate().read(userId, document, epoch, version, fingerprint))));
    }

    @Override
    public CompletableFuture<List<SyncResult>> sync(
        String userId, FollowFilter filter, Collection<Position> positions) {
      CompletableFuture<List<SyncResult>> answer =
          counted(() -> delegate().sync(userId, filter, positions));
      if (!holdSyncAnswers.get()) {
        return answer;
      }
      CompletableFuture<List<SyncResult>> out = new CompletableFuture<>();
      answer.whenComplete(
          (r, err) -> {
            Runnable hand = () -> Gate.settle(out, r, err);
            synchronized (GatedEngine.this) {
              if (holdSyncAnswers.get()) {
                heldSyncAnswers.add(hand);
                hand = null;
              }
            }
            if (hand == null) {
              changed.fire();
            } else {
              hand.run();
            }
          });
      return out;
    }

    @Override
    public CompletableFuture<Set<String>> documents(String userId) {
      return counted(() -> delegate().documents(userId));
    }
  }

  private final class GatedSessions extends ForwardingSessionStore {
    GatedSessions() {
      super(GatedEngine.this.delegate().sessions());
    }

    @Override
    public CompletableFuture<List<DeviceSession>> list(String userId, long inactivityMillis) {
      deviceLists.incrementAndGet();
      return lists.pass(() -> delegate().list(userId, inactivityMillis));
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
      return creates.pass(
          () ->
              delegate()
                  .create(
                      userId, sessionId, deviceId, name, platform, refreshHash, inactivityMillis));
    }

    @Override
    public CompletableFuture<Status> status(
        String userId, String sessionId, long inactivityMillis) {
      synchronized (GatedEngine.this) {
        if (statusesToFail > 0) {
          statusesToFail--;
          return CompletableFuture.failedFuture(
              new IllegalStateException("session store unreachable (a test's gate)"));
        }
      }
      return statuses.pass(() -> delegate().status(userId, sessionId, inactivityMillis));
    }
  }

  private final class GatedBroker implements Broker {
    @Override
    public Subscription subscribe(String userId, Listener listener) {
      return delegate()
          .broker()
          .subscribe(
              userId,
              new Listener() {
                @Override
                public void onEvent(DocumentEvent event) {
                  if (dropEvents.get() || dropNextEvent.compareAndSet(true, false)) {
                    changed.fire();
                    return;
                  }
                  listener.onEvent(event);
                  eventsHeard.incrementAndGet();
                }

                @Override
                public void onSignal(UserSignal signal) {
                  listener.onSignal(signal);
                }

                @Override
                public CompletableFuture<?> onPossibleLoss() {
                  possibleLossTimes.add(System.nanoTime());
                  possibleLosses.incrementAndGet();
                  peakRechecking.accumulateAndGet(rechecking.incrementAndGet(), Math::max);
                  changed.fire();
                  CompletableFuture<?> done;
                  try {
                    done = listener.onPossibleLoss();
                  } catch (RuntimeException e) {
                    rechecking.decrementAndGet();
                    throw e;
                  }
                  done.whenComplete(
                      (v, err) -> {
                        rechecking.decrementAndGet();
                        rechecked.incrementAndGet();
                        changed.fire();
                      });
                  return done;
                }
              });
    }

    @Override
    public void publish(DocumentEvent event) {
      delegate().broker().publish(event);
    }

    @Override
    public CompletableFuture<?> signal(String userId, UserSignal signal) {
      return delegate().broker().signal(userId, signal);
    }

    @Override
    public void useTime(io.handoff.server.Scheduler time) {
      delegate().broker().useTime(time);
    }

    @Override
    public void close() {
      delegate().broker().close();
    }
  }
}
