package io.handoff.loadtest;

import com.google.protobuf.UnsafeByteOperations;
import io.handoff.client.OutgoingOffer;
import io.handoff.protocol.v1.Activity;
import io.handoff.protocol.v1.Offer;
import io.handoff.protocol.v1.OfferOutcome;
import java.io.PrintStream;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.HdrHistogram.Histogram;

/**
 * The {@code handoff} scenario: U users x D devices (D at least 2), all connected. Offers at a
 * fixed total rate on an open-loop schedule: offer {@code i} belongs to user {@code i % U} and is
 * made by its device {@code (i / U) % D} (the offerer rotates) to all the user's other devices.
 * Every target that gets the prompt accepts at once, so the D-1 accepts race; exactly one must win.
 *
 * <p>A user has at most one offer in flight (far below the server's 16 live offers per user): an
 * offer due while its user's previous one is still going waits for it and is sent late, its latency
 * still measured from its intended time (coordinated omission avoided as in {@link WriteRun}). An
 * offer is finished when the offerer has its {@link OutgoingOffer#result()} and every target has
 * had its prompt and the answer to its accept, or when {@code --drain-timeout} has passed since it
 * was sent.
 *
 * <p>What is measured: offer-to-prompt latency, from the offer's intended send time to the prompt's
 * arrival at each target ({@link Stats#latency}, the {@code p*_ms} fields); accept-to-granted
 * latency, from the winner's accept to its {@code OfferGranted} ({@code accept_*_ms}). What is
 * checked, per offer: every target got the prompt once; exactly one accept was granted; the other
 * accepts failed with {@code OFFER_WITHDRAWN}; a withdrawal pushed to a loser names the winner and
 * none reaches the winner; the offerer's result is ACCEPTED by the winner.
 *
 * <p>Threading: the scheduler thread and the event loops start offers and report what arrives; each
 * offer's bookkeeping is guarded by its {@link OfferTrack}'s monitor, each user's queue by its
 * {@link UserSlot}'s. The main thread prints, sweeps timed-out offers and counts.
 */
final class HandoffRun {
  /** The document the offered activity names (it does not exist: the grant carries no snapshot). */
  static final String DOCUMENT = "handoff";

  /** The activity kind of every load-test offer. */
  static final String KIND = "loadtest";

  /** The server's default limit on an activity's payload (Welcome.max_activity_payload_bytes). */
  static final int MAX_PAYLOAD = 4096;

  private static final long SECOND = TimeUnit.SECONDS.toNanos(1);
  private static final long TICK = TimeUnit.MILLISECONDS.toNanos(50);

  private final LoadOptions o;
  private final PrintStream progress;
  private final Stats stats = new Stats();
  private final HandoffCounts counts;

  private Fleet fleet;
  private UserSlot[] slots;
  private volatile boolean stopped;

  HandoffRun(LoadOptions o, PrintStream progress) {
    this.o = o;
    this.progress = progress;
    this.counts = new HandoffCounts(o, stats);
  }

  /**
   * Checks what only this scenario needs.
   *
   * @throws IllegalArgumentException naming the option
   */
  static void validate(LoadOptions o) {
    if (o.devices < 2) {
      throw new IllegalArgumentException(
          "--devices must be at least 2 for handoff (an offerer and a target), was " + o.devices);
    }
    if (o.payload > MAX_PAYLOAD) {
      throw new IllegalArgumentException(
          "--payload is the activity's payload for handoff: at most "
              + MAX_PAYLOAD
              + " bytes (the server's limit), was "
              + o.payload);
    }
  }

  Result run() {
    Result result = new Result("handoff");
    result.load(o);
    Duration ttl =
        o.connectTimeout
            .plus(o.warmup)
            .plus(o.duration)
            .plus(o.drainTimeout.multipliedBy(2))
            .plusHours(1);
    fleet = new Fleet(o, stats, false, ttl, false);
    slots = new UserSlot[o.users];
    for (int u = 0; u < o.users; u++) {
      slots[u] = new UserSlot();
    }
    for (int i = 0; i < fleet.size(); i++) {
      fleet.device(i).handoff(this);
    }
    Timeline timeline = null;
    int connected = 0;
    long scheduled = 0;
    long unsent = 0;
    CpuMeter.Usage cpu = null;
    try {
      connected = fleet.connectAll(o.connectTimeout, o.connectConcurrency, progress);
      if (connected == fleet.size()) {
        long start = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(100);
        RateSchedule schedule = new RateSchedule(start, o.rate, o.warmup.plus(o.duration), o.tick);
        scheduled = schedule.count();
        stats.measureFromNanos = start + o.warmup.toNanos();
        stats.measureToNanos = schedule.endNanos();
        timeline = new Timeline(start);
        Thread scheduler = new Thread(() -> schedule(schedule), "loadtest-offers");
        scheduler.setDaemon(true);
        scheduler.start();
        cpu = offer(schedule, timeline);
        scheduler.join(o.drainTimeout.toMillis());
        drain(timeline, System.nanoTime() + o.drainTimeout.toNanos());
        stopped = true;
        unsent = finishAll();
        timeline.sample(stats, System.nanoTime());
        counts.sampleAccept();
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      result.problem("interrupted");
    } finally {
      stopped = true;
      fleet.close();
    }
    counts.fill(result, fleet, connected, scheduled, unsent, timeline, cpu);
    return result;
  }

  /** The scheduler thread: hands each offer to its user when it is due. */
  private void schedule(RateSchedule schedule) {
    long count = schedule.count();
    long users = slots.length;
    long i = 0;
    while (i < count && !stopped) {
      long due = schedule.dueBy(System.nanoTime());
      for (; i < due && !stopped; i++) {
        slots[(int) (i % users)].due(i, schedule.intendedNanos(i));
      }
      if (i < count) {
        long wait = schedule.intendedNanos(i) - System.nanoTime();
        if (wait > 0) {
          LockSupport.parkNanos(wait);
        }
      }
    }
  }

  /** The offering phase, on the main thread: sweeps and prints until the schedule ends. */
  private CpuMeter.Usage offer(RateSchedule schedule, Timeline timeline)
      throws InterruptedException {
    long nextPrint = schedule.startNanos() + SECOND;
    CpuMeter cpuStart = null;
    while (true) {
      long now = System.nanoTime();
      if (now >= schedule.endNanos()) {
        break;
      }
      if (cpuStart == null && now >= stats.measureFromNanos) {
        cpuStart = CpuMeter.start(o.serverPid);
      }
      sweep(now);
      if (now >= nextPrint) {
        nextPrint += SECOND;
        print("", timeline, now);
      }
      TimeUnit.NANOSECONDS.sleep(Math.min(TICK, schedule.endNanos() - now));
    }
    return cpuStart == null ? null : cpuStart.since(o.serverPid);
  }

  /** Waits until every user is idle with nothing queued, or the deadline. */
  private void drain(Timeline timeline, long deadline) throws InterruptedException {
    long nextPrint = System.nanoTime() + SECOND;
    while (busyUsers() > 0) {
      long now = System.nanoTime();
      if (now >= deadline) {
        return;
      }
      sweep(now);
      if (now >= nextPrint) {
        nextPrint += SECOND;
        print("draining  ", timeline, now);
      }
      TimeUnit.MILLISECONDS.sleep(10);
    }
  }

  private int busyUsers() {
    int busy = 0;
    for (UserSlot s : slots) {
      if (s.busy()) {
        busy++;
      }
    }
    return busy;
  }

  /** Ends offers that have been going for longer than the drain timeout. */
  private void sweep(long now) {
    long limit = o.drainTimeout.toNanos();
    for (UserSlot s : slots) {
      OfferTrack t = s.current;
      if (t != null && now - t.sentNanos > limit) {
        t.end(true);
      }
    }
  }

  /** After the drain: ends what is still going; returns the offers never sent. */
  private long finishAll() {
    long unsent = 0;
    for (UserSlot s : slots) {
      OfferTrack t = s.current;
      if (t != null) {
        t.end(true);
      }
      unsent += s.dropBacklog();
    }
    return unsent;
  }

  private void print(String prefix, Timeline timeline, long now) {
    Timeline.Sample s = timeline.sample(stats, now);
    counts.sampleAccept();
    Histogram total = timeline.total();
    progress.printf(
        "%s%6.1fs  conn %d/%d  offers %d  prompts %d  winners %d  prompt p50 %.3f ms  p99 %.3f"
            + " ms  accept p99 %.3f ms  errors %d  busy users %d%n",
        prefix,
        s.seconds(),
        s.connected(),
        fleet.size(),
        s.sent(),
        s.received(),
        counts.winners.sum(),
        Timeline.ms(total.getValueAtPercentile(50)),
        Timeline.ms(total.getValueAtPercentile(99)),
        Timeline.ms(counts.acceptTotal.getValueAtPercentile(99)),
        counts.errors(),
        busyUsers());
  }

  // ---------------------------------------------------------------------------------------------
  // Called by devices, on their event loops
  // ---------------------------------------------------------------------------------------------

  /** A prompt reached {@code target}: time it and accept at once. */
  void onPrompt(Device target, Offer offer, long nowNanos) {
    long index = indexOf(offer);
    OfferTrack t = slots[target.user].current;
    if (t == null || t.index != index || target.slot == t.offerer) {
      counts.unknownPrompts.increment();
      stats.sample(
          "device "
              + target.index
              + " got a prompt for offer "
              + offer.getActivity().getTitle()
              + ", which is not its user's offer in flight");
      return;
    }
    if (!t.prompted(target.slot, offer.getOfferId(), nowNanos)) {
      counts.duplicatePrompts.increment();
      stats.sample("device " + target.index + " got the prompt of " + t + " twice");
      return;
    }
    stats.received.increment();
    if (nowNanos >= stats.measureFromNanos && nowNanos < stats.measureToNanos) {
      stats.receivedInWindow.increment();
    }
    if (t.intendedNanos >= stats.measureFromNanos) {
      stats.latency.recordValue(Math.max(0, nowNanos - t.intendedNanos) / 1_000);
    }
    target
        .client()
        .accept(offer.getOfferId())
        .whenComplete((granted, error) -> t.answered(target, error, System.nanoTime()));
  }

  /**
   * The server pushed {@code target} a prompt it already showed (the client passes it on only as
   * {@link io.handoff.client.OfferListener#onPromptRepeated}).
   */
  void onPromptRepeated(Device target, Offer offer) {
    counts.duplicatePrompts.increment();
    stats.sample(
        "device "
            + target.index
            + " got the prompt of "
            + offer.getActivity().getTitle()
            + " twice");
  }

  /**
   * The server pushed {@code target} a withdrawal of a prompt its client no longer shows (the
   * client passes it on only as {@link io.handoff.client.OfferListener#onWithdrawnUnheld}): after
   * the target won that offer, a wrong withdrawal; otherwise a stray one.
   */
  void onWithdrawnUnheld(Device target, String offerId, OfferOutcome outcome, String byDevice) {
    OfferTrack t = slots[target.user].find(offerId);
    if (t == null || !t.withdrawnAfterTheEnd(target.slot, outcome, byDevice)) {
      counts.strayWithdrawals.increment();
    }
  }

  /** The prompt of {@code offerId} was withdrawn from {@code target}. */
  void onWithdrawn(Device target, String offerId, OfferOutcome outcome, String byDevice) {
    OfferTrack t = slots[target.user].current;
    if (t == null || !offerId.equals(t.offerId())) {
      counts.strayWithdrawals.increment();
      return;
    }
    t.withdrawn(target.slot, outcome, byDevice);
  }

  private static long indexOf(Offer offer) {
    String title = offer.getActivity().getTitle();
    if (title.length() < 2 || title.charAt(0) != 'o') {
      return -1;
    }
    try {
      return Long.parseLong(title, 1, title.length(), 10);
    } catch (NumberFormatException e) {
      return -1;
    }
  }

  /** One user's offers: the one in flight and those due while it was. */
  private final class UserSlot {
    /** Ended offers kept for a withdrawal that comes after the end: the last few. */
    private static final int RECENT = 8;

    volatile OfferTrack current;
    private final ArrayDeque<OfferTrack> recent = new ArrayDeque<>();
    // Offer indices due while an offer was in flight, oldest first. Bounded by the schedule: at
    // most
    // rate x duration / users entries.
    private final ArrayDeque<long[]> backlog = new ArrayDeque<>();

    /** The scheduler thread: offer {@code index} is due. */
    void due(long index, long intendedNanos) {
      OfferTrack start = null;
      synchronized (this) {
        if (current == null && backlog.isEmpty()) {
          start = track(index, intendedNanos);
          current = start;
        } else {
          backlog.add(new long[] {index, intendedNanos});
          counts.lateSends.increment();
        }
      }
      if (start != null) {
        send(start);
      }
    }

    /** {@code t} ended: send the next offer that is due, if any. Any thread. */
    void ended(OfferTrack t) {
      OfferTrack next = null;
      synchronized (this) {
        if (current != t) {
          return;
        }
        current = null;
        recent.addFirst(t);
        if (recent.size() > RECENT) {
          recent.removeLast();
        }
        if (!stopped && !backlog.isEmpty()) {
          long[] n = backlog.poll();
          next = track(n[0], n[1]);
          current = next;
        }
      }
      if (next != null) {
        send(next);
      }
    }

    /** The offer in flight or one of the last few ended, by its id; null if none. */
    synchronized OfferTrack find(String offerId) {
      OfferTrack c = current;
      if (c != null && offerId.equals(c.offerId())) {
        return c;
      }
      for (OfferTrack t : recent) {
        if (offerId.equals(t.offerId())) {
          return t;
        }
      }
      return null;
    }

    synchronized boolean busy() {
      return current != null || !backlog.isEmpty();
    }

    synchronized int dropBacklog() {
      int n = backlog.size();
      backlog.clear();
      return n;
    }
  }

  /** Offer {@code index}, due at {@code intendedNanos}: its user, offerer and bookkeeping. */
  private OfferTrack track(long index, long intendedNanos) {
    int devices = fleet.devicesPerUser();
    int user = (int) (index % slots.length);
    int offerer = (int) ((index / slots.length) % devices);
    return new OfferTrack(
        index, intendedNanos, user, offerer, devices, counts, stats, t -> slots[t.user].ended(t));
  }

  private void send(OfferTrack t) {
    stats.sent.increment();
    Device offerer = fleet.device(t.user, t.offerer);
    Activity activity =
        Activity.newBuilder()
            .setDocument(DOCUMENT)
            .setKind(KIND)
            .setTitle("o" + t.index)
            .setPayload(
                UnsafeByteOperations.unsafeWrap(
                    Payload.encode(t.intendedNanos, offerer.index, o.payload)))
            .build();
    OutgoingOffer out = offerer.client().offer(null, activity, null);
    out.created().whenComplete((offer, error) -> t.created(offer, error));
    out.result().whenComplete((r, error) -> t.result(r, error));
  }
}
