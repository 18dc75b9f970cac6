package io.handoff.loadtest;

import java.io.PrintStream;
import java.time.Duration;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.HdrHistogram.Histogram;

/**
 * The {@code fanout} and {@code reconnect} scenarios: every device of every user connected, writes
 * at a fixed total rate on an open-loop schedule, each write delivered to the writer's other
 * devices. With {@link Churn} ({@code reconnect}), connections are cut at random while writing, and
 * optionally all at once (a storm); devices reconnect and resume by themselves.
 *
 * <p>Phases: connect every device; write for warm-up plus duration (latency is recorded only for
 * writes intended after the warm-up); drain until every write is acked and every device holds the
 * last acked version of every document, or the drain timeout passes; close every client; then
 * count. What is counted:
 *
 * <ul>
 *   <li>{@code expected}: acked writes times (devices - 1), one delivery per other device;
 *   <li>{@code received}: versions written by another device that reached a device as a delta;
 *   <li>{@code lost}: acked writes of another device that never reached a device connected and
 *       caught up at the end of the drain (for {@code reconnect}, a version that arrived inside a
 *       snapshot after a resume counts as delivered, as the protocol allows); what is missing at a
 *       device that was not is {@code missed_while_down};
 *   <li>{@code unacked}: writes sent and never acked (failed, or still unanswered at the end),
 *       apart from {@code lost};
 *   <li>{@code duplicated}: a write delivered twice to one device ({@link VersionTracker}), or
 *       applied twice by the server ({@link DocLog}); {@code resent}: writes the clients sent again
 *       with the same sequence number, which is not a duplicate;
 *   <li>{@code reordered}: see {@link VersionTracker}; {@code applied_out_of_order}: writes the
 *       server applied after a newer write of the same device to the same document;
 *   <li>{@code closes}: connections lost after a Welcome, by close code; the server's documented
 *       reconnect codes (and the cuts of {@code reconnect}) are not errors;
 *   <li>{@code unconverged}: device replicas not at the document's final version after the drain.
 * </ul>
 */
final class WriteRun {
  /**
   * Cutting connections while writing: {@code dropsPerSecond} at random, {@code
   * warmupDropsPerSecond} more and {@code warmupStorms} cuts of every connection during the warm-up
   * only, and a storm.
   */
  record Churn(
      double dropsPerSecond,
      double warmupDropsPerSecond,
      int warmupStorms,
      boolean storm,
      Duration stormAt) {}

  private static final long SECOND = TimeUnit.SECONDS.toNanos(1);
  private static final long TICK = TimeUnit.MILLISECONDS.toNanos(100);
  private static final long FAST_TICK = TimeUnit.MILLISECONDS.toNanos(10);
  // How long a due storm waits at most for every device to be connected for 10 s: the clients'
  // longest backoff, then such a connection.
  private static final long STORM_SETTLE_MAX_NANOS = TimeUnit.SECONDS.toNanos(40);

  private final LoadOptions o;
  private final Churn churn;
  private final PrintStream progress;
  // --also-pid readings at the start and the end of the measured window (null without one).
  private PeerCpu peersStart;
  private PeerCpu peersEnd;

  /**
   * @param churn null for {@code fanout}
   * @param progress where the progress lines go
   */
  WriteRun(LoadOptions o, Churn churn, PrintStream progress) {
    this.o = o;
    this.churn = churn;
    this.progress = progress;
  }

  Result run() {
    Result result = new Result(churn == null ? "fanout" : "reconnect");
    result.load(o).put("documents", o.documents);
    Stats stats = new Stats();
    Duration ttl =
        o.connectTimeout.plus(o.warmup).plus(o.duration).plus(o.drainTimeout).plusHours(1);
    Fleet fleet = new Fleet(o, stats, churn != null, ttl, churn == null && !o.fullClient);
    Timeline timeline = null;
    int connected = 0;
    Storm storm = new Storm();
    CpuMeter.Usage cpu = null;
    long drainNanos = -1;
    boolean drained = false;
    try {
      connected = fleet.connectAll(o.connectTimeout, o.connectConcurrency, progress);
      if (connected == fleet.size()) {
        long start = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(100);
        RateSchedule schedule = new RateSchedule(start, o.rate, o.warmup.plus(o.duration), o.tick);
        stats.measureFromNanos = start + o.warmup.toNanos();
        stats.measureToNanos = schedule.endNanos();
        timeline = new Timeline(start);
        WriteScheduler writer = new WriteScheduler(schedule, fleet, o.payload, o.documents, stats);
        writer.start();
        cpu = write(fleet, stats, schedule, timeline, storm);
        writer.join(o.drainTimeout.toMillis());
        writer.stop();
        long drainStart = System.nanoTime();
        drained = drain(fleet, stats, timeline, storm, drainStart + o.drainTimeout.toNanos());
        drainNanos = System.nanoTime() - drainStart;
        fleet.markEnd();
        timeline.sample(stats, System.nanoTime());
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      result.problem("interrupted");
    } finally {
      fleet.close();
    }
    count(result, fleet, stats, connected, timeline, storm, cpu, drained, drainNanos);
    return result;
  }

  /**
   * The writing phase: cuts connections (reconnect) and prints progress until the schedule ends.
   *
   * @return the CPU used from the end of the warm-up to the end of the schedule
   */
  private CpuMeter.Usage write(
      Fleet fleet, Stats stats, RateSchedule schedule, Timeline timeline, Storm storm)
      throws InterruptedException {
    Random random = new Random(42);
    long stormAt =
        churn != null && churn.storm()
            ? stats.measureFromNanos + churn.stormAt().toNanos()
            : Long.MAX_VALUE;
    double dropDebt = 0;
    double userDebt = 0;
    int warmupStormsDone = 0;
    long last = System.nanoTime();
    long nextPrint = schedule.startNanos() + SECOND;
    CpuMeter cpuStart = null;
    while (true) {
      long now = System.nanoTime();
      if (now >= schedule.endNanos()) {
        break;
      }
      // No random cuts from the storm until every device resumed: storm_all_resumed_ms is the
      // time from the cut to the last resume of the storm, not to a moment when no device that a
      // later random cut took down happens to be reconnecting.
      boolean stormGoing = storm.startNanos >= 0 && storm.resumedNanos < 0;
      if (churn != null && now >= schedule.startNanos() && !stormGoing) {
        // Half of the warm-up's extra cuts take whole users (Fleet#cutRandomUsers).
        double warmup = now < stats.measureFromNanos ? churn.warmupDropsPerSecond() / 2 : 0;
        dropDebt += (churn.dropsPerSecond() + warmup) * (now - last) / 1e9;
        int n = (int) dropDebt;
        if (n > 0) {
          dropDebt -= fleet.cutRandom(n, random);
          dropDebt = Math.min(dropDebt, 1);
        }
        userDebt += warmup / fleet.devicesPerUser() * (now - last) / 1e9;
        int u = (int) userDebt;
        if (u > 0) {
          userDebt -= fleet.cutRandomUsers(u, random) / (double) fleet.devicesPerUser();
          userDebt = Math.min(userDebt, 1);
        }
      }
      last = now;
      if (churn != null
          && warmupStormsDone < churn.warmupStorms()
          && now >= warmupStormAt(schedule, stats, warmupStormsDone)) {
        warmupStormsDone++;
        progress.printf(
            "warm-up storm %d of %d: cut %d connections at once%n",
            warmupStormsDone, churn.warmupStorms(), fleet.cutAll());
      }
      if (cpuStart == null && now >= stats.measureFromNanos) {
        cpuStart = CpuMeter.start(o.serverPid);
        peersStart = PeerCpu.start(o.alsoPids);
      }
      if (now >= stormAt
          && storm.startNanos < 0
          && storm.settled(fleet, now, stormDeadline(stormAt, schedule), progress)) {
        storm.cut(fleet, stormAt, targets(fleet), o.serverPid, progress);
      }
      if (storm.startNanos >= 0 && storm.resumedNanos < 0 && resumed(fleet, storm)) {
        storm.resumed(fleet, o.serverPid);
        progress.printf(
            "storm: every device resumed %.1f ms after the cut; the last was device %d%n",
            (storm.resumedNanos - storm.startNanos) / 1e6, storm.slowest);
      }
      if (now >= nextPrint) {
        nextPrint += SECOND;
        print(timeline.sample(stats, now), fleet, stats, timeline);
      }
      boolean stormPending = storm.startNanos >= 0 && storm.resumedNanos < 0;
      long sleep = Math.min(stormPending ? FAST_TICK : TICK, schedule.endNanos() - now);
      if (sleep > 0) {
        TimeUnit.NANOSECONDS.sleep(sleep);
      }
    }
    if (cpuStart != null) {
      CpuMeter.Usage usage = cpuStart.since(o.serverPid);
      peersEnd = PeerCpu.start(o.alsoPids);
      return usage;
    }
    return null;
  }

  /**
   * Until when a storm due at {@code stormAt} waits for every device to be connected for 10 s
   * ({@link Storm#settled}): {@link #STORM_SETTLE_MAX_NANOS} (a 30 s backoff, then a connection
   * that lasts 10 s), and never into the schedule's last second. With random cuts during the
   * measurement it does not wait: devices mid-backoff are then part of the run.
   */
  private long stormDeadline(long stormAt, RateSchedule schedule) {
    return churn.dropsPerSecond() > 0
        ? stormAt
        : Math.min(stormAt + STORM_SETTLE_MAX_NANOS, schedule.endNanos() - SECOND);
  }

  /** When the warm-up's storm {@code k} (from 0) comes: the warm-up divided evenly. */
  private long warmupStormAt(RateSchedule schedule, Stats stats, int k) {
    long warmup = stats.measureFromNanos - schedule.startNanos();
    return schedule.startNanos() + warmup * (k + 1) / (churn.warmupStorms() + 1);
  }

  /** Waits until everything is acked and every device is caught up, or the deadline. */
  private boolean drain(Fleet fleet, Stats stats, Timeline timeline, Storm storm, long deadline)
      throws InterruptedException {
    long nextPrint = System.nanoTime() + SECOND;
    while (true) {
      if (storm.startNanos >= 0 && storm.resumedNanos < 0 && resumed(fleet, storm)) {
        storm.resumed(fleet, o.serverPid);
      }
      boolean settled = stats.acked.sum() + stats.writeErrors.sum() >= stats.sent.sum();
      if (settled && caughtUp(fleet, null)) {
        // A device may have come up between the storm check above and this one.
        if (storm.startNanos >= 0 && storm.resumedNanos < 0 && resumed(fleet, storm)) {
          storm.resumed(fleet, o.serverPid);
        }
        return true;
      }
      long now = System.nanoTime();
      if (now >= deadline) {
        return false;
      }
      if (now >= nextPrint) {
        nextPrint += SECOND;
        progress.print("draining  ");
        print(timeline.sample(stats, now), fleet, stats, timeline);
      }
      TimeUnit.MILLISECONDS.sleep(10);
    }
  }

  private void print(Timeline.Sample s, Fleet fleet, Stats stats, Timeline timeline) {
    Histogram total = timeline.total();
    progress.printf(
        "%6.1fs  conn %d/%d  sent %d  recv %d  p50 %.3f ms  p99 %.3f ms  errors %d%s%n",
        s.seconds(),
        s.connected(),
        fleet.size(),
        s.sent(),
        s.received(),
        Timeline.ms(total.getValueAtPercentile(50)),
        Timeline.ms(total.getValueAtPercentile(99)),
        errors(stats),
        churn == null ? "" : "  cut " + stats.drops.sum() + "  resumed " + stats.resumes.sum());
  }

  /** For each user and document, the highest version acked so far. */
  private static long[][] targets(Fleet fleet) {
    long[][] t = new long[fleet.users()][];
    for (int u = 0; u < fleet.users(); u++) {
      DocLog[] logs = fleet.logs(u);
      t[u] = new long[logs.length];
      for (int k = 0; k < logs.length; k++) {
        t[u][k] = logs[k].maxAcked();
      }
    }
    return t;
  }

  /**
   * Whether every device that was up when the storm started has lost its connection since (the cut
   * is asynchronous) and caught up on a new connection since ({@link Device#onSynced()}), and every
   * device holds what was acked before the storm. A device seen so is not read again (no cuts come
   * after the storm); the last step reads every device ({@link #caughtUp}).
   */
  private static boolean resumed(Fleet fleet, Storm storm) {
    for (; storm.resumedBelow < fleet.size(); storm.resumedBelow++) {
      int i = storm.resumedBelow;
      Device d = fleet.device(i);
      long down = d.lastDownNanos();
      if (storm.wasUp[i] && (down == storm.downBefore[i] || d.lastSyncedNanos() < down)) {
        return false;
      }
    }
    return caughtUp(fleet, storm.targets);
  }

  /**
   * Whether every device is connected and holds, of every document, at least the given version (or,
   * with null targets, the highest version acked now).
   */
  private static boolean caughtUp(Fleet fleet, long[][] targets) {
    for (int i = 0; i < fleet.size(); i++) {
      Device d = fleet.device(i);
      if (!d.isUp()) {
        return false;
      }
      DocLog[] logs = fleet.logs(d.user);
      for (int k = 0; k < logs.length; k++) {
        long target = targets == null ? logs[k].maxAcked() : targets[d.user][k];
        if (d.trackers[k].high() < target) {
          return false;
        }
      }
    }
    return true;
  }

  /** What counts in {@code errors}; never-acked writes are apart ({@code unacked}). */
  private static long errors(Stats stats) {
    return stats.writeErrors.sum()
        + stats.clientErrors.sum()
        + stats.unexpectedDisconnects.sum()
        + stats.terminalCloses.sum()
        + stats.gone.sum();
  }

  /** Counts, after every client is closed, and fills the result. */
  private void count(
      Result result,
      Fleet fleet,
      Stats stats,
      int connected,
      Timeline timeline,
      Storm storm,
      CpuMeter.Usage cpu,
      boolean drained,
      long drainNanos) {
    int devices = fleet.devicesPerUser();
    long sent = stats.sent.sum();
    long acked = stats.acked.sum();
    long expected = acked * (devices - 1);
    long received = stats.received.sum();
    // Devices connected and caught up at the end of the drain, and the others.
    VersionTracker.Walk walk = new VersionTracker.Walk();
    VersionTracker.Walk down = new VersionTracker.Walk();
    long unconverged = 0;
    long diverged = 0;
    long reused = 0;
    long outOfWriteOrder = 0;
    for (int u = 0; u < fleet.users(); u++) {
      DocLog[] logs = fleet.logs(u);
      for (int k = 0; k < logs.length; k++) {
        long last = logs[k].maxAcked();
        for (int s = 0; s < devices; s++) {
          last = Math.max(last, fleet.device(u, s).trackers[k].high());
        }
        reused += logs[k].reused();
        outOfWriteOrder += logs[k].appliedOutOfOrder(last);
        Object reference = null;
        for (int s = 0; s < devices; s++) {
          Device d = fleet.device(u, s);
          d.trackers[k].walk(last, logs[k], s, d.upAtEnd() ? walk : down);
          if (d.replicaVersion(k) != last) {
            unconverged++;
          }
          Object fields = d.replicaContent(k);
          if (reference == null) {
            reference = fields;
          } else if (!reference.equals(fields)) {
            diverged++;
          }
        }
      }
    }
    boolean snapshotsCount = churn != null;
    long delivered = received + (snapshotsCount ? walk.othersViaSnapshot : 0);
    long lost = walk.othersMissing + (snapshotsCount ? 0 : walk.othersViaSnapshot);
    long missedWhileDown = down.othersMissing + down.ownMissing;
    long unacked = Math.max(0, sent - acked);
    long unsettled = Math.max(0, unacked - stats.writeErrors.sum());
    long notConnected = fleet.size() - connected;
    long errors = errors(stats) + notConnected;
    long duplicated = stats.duplicated.sum();
    long reordered = stats.outOfOrder.sum();

    Histogram latency = timeline == null ? new Histogram(3) : timeline.total();
    Histogram connect = stats.connect.getIntervalHistogram();
    double window = o.duration.toNanos() / 1e9;
    result
        .put("connections", connected)
        .put("sent", sent)
        .put("acked", acked)
        .put("expected", expected)
        .put("received", received)
        .put("lost", lost)
        .put("duplicated", duplicated)
        .put("reordered", reordered)
        .put("errors", errors)
        .put("unacked", unacked)
        .put("resent", fleet.writesResent())
        .put("closes", stats.closes())
        .put("applied_out_of_order", outOfWriteOrder)
        .put("version_reused", reused)
        .put("missed_while_down", missedWhileDown)
        .latency(latency, stats.receivedInWindow.sum(), window)
        .put("timed", latency.getTotalCount())
        .put("via_snapshot", walk.othersViaSnapshot)
        .put("snapshots", stats.snapshots.sum())
        .put("unconverged", unconverged)
        .put("diverged", diverged)
        .put("connect_retries", stats.connectRetries.sum())
        .put("connect_p50_ms", Timeline.ms(connect.getValueAtPercentile(50)))
        .put("connect_p99_ms", Timeline.ms(connect.getValueAtPercentile(99)))
        .put("drain_ms", drainNanos < 0 ? -1 : Math.round(drainNanos / 1e6));
    if (churn != null) {
      Histogram resume = stats.resume.getIntervalHistogram();
      result
          .put("cut", stats.drops.sum())
          .put("disconnects", stats.disconnects.sum())
          .put("resumes", stats.resumes.sum())
          .put("resume_p50_ms", Timeline.ms(resume.getValueAtPercentile(50)))
          .put("resume_p99_ms", Timeline.ms(resume.getValueAtPercentile(99)))
          .put("resume_max_ms", Timeline.ms(resume.getMaxValue()));
      if (churn.storm()) {
        storm.putInto(result);
      }
      result.note(
          "resume time: from the connection loss to the new connection's catch-up (onSynced:"
              + " Welcome processed, every document at its reported version; includes the client's"
              + " reconnect backoff, up to 100 ms at first)");
    }
    if (cpu != null) {
      cpu.putInto(result, stats.receivedInWindow.sum() / window);
      if (peersStart != null && !o.alsoPids.isEmpty()) {
        peersStart.putInto(result, peersEnd, stats.receivedInWindow.sum() / window);
      }
      result.note(
          "cpu_*_pct: CPU used while measuring, in percent of one core: the machine, this load"
              + " tester, the server, interrupts and softirqs (on loopback mostly the kernel moving"
              + " this run's packets), time stolen by the hypervisor, and any other process");
    }
    if (walk.ownMissing > 0) {
      result.put("own_missing", walk.ownMissing);
    }
    if (walk.unknownMissing > 0) {
      result.put("unacked_missing", walk.unknownMissing);
    }
    result.timeline(timeline);

    if (notConnected > 0) {
      result.problem(fleet.connectShortfall(connected, o.connectTimeout) + "; nothing was written");
    }
    if (lost > 0) {
      result.problem(
          lost
              + " acked writes never reached a device that was connected at the end (expected "
              + expected
              + " deliveries, "
              + delivered
              + " arrived)");
    }
    if (unacked > 0) {
      result.problem(
          unacked
              + " writes never acked ("
              + stats.writeErrors.sum()
              + " failed, "
              + unsettled
              + " unanswered at the end)");
    }
    if (duplicated > 0) {
      result.problem(duplicated + " writes delivered twice to a device or applied twice");
    }
    if (outOfWriteOrder > 0) {
      result.problem(
          outOfWriteOrder + " writes applied after a newer write of the same device and document");
    }
    if (reused > 0) {
      result.problem(reused + " versions given to two different writes");
    }
    if (reordered > 0) {
      result.problem(reordered + " deliveries out of order");
    }
    if (errors > 0) {
      result.problem(
          errors
              + " errors ("
              + stats.writeErrors.sum()
              + " failed writes, "
              + stats.unexpectedDisconnects.sum()
              + " connections lost without a documented close code, "
              + stats.terminalCloses.sum()
              + " terminal closes, "
              + stats.clientErrors.sum()
              + " client errors, "
              + stats.gone.sum()
              + " GONE, "
              + notConnected
              + " not connected)");
    }
    if (unconverged > 0 || walk.ownMissing > 0) {
      result.problem(
          unconverged + " device replicas not at their document's final version after the drain");
    }
    if (diverged > 0) {
      result.problem(diverged + " device replicas differ from their user's other devices");
    }
    if (connected == fleet.size() && !drained) {
      result.problem(
          "not every device caught up within the drain timeout of "
              + Durations.format(o.drainTimeout));
    }
    if (storm.startNanos >= 0 && storm.resumedNanos < 0) {
      result.problem("not every device resumed after the storm");
    }
    for (String sample : stats.samples()) {
      result.note("error: " + sample);
    }
  }

  /** {@code pct} percent of one core over {@code ms} milliseconds, in ms of CPU; -1 if unknown. */
  static double cpuMillis(double pct, double ms) {
    return Double.isNaN(pct) || pct < 0 ? -1 : Math.round(pct * ms / 100);
  }
}
