package io.handoff.loadtest;

import java.io.PrintStream;
import java.util.concurrent.TimeUnit;

/**
 * The reconnect storm of a {@link WriteRun}: every connection cut at once, then the time until
 * every cut device caught up again. It waits, once due, until every device has been connected for
 * 10 s ({@link Fleet#readyForStorm}), so that the cut starts each device's reconnect backoff over,
 * and reports the device that came last with how long its connection had lasted at the cut.
 *
 * <p>Threading: the run's main thread.
 */
final class Storm {
  private static final long SECOND = TimeUnit.SECONDS.toNanos(1);

  long startNanos = -1;
  long resumedNanos = -1;
  int cut = -1;
  long[][] targets;
  // Which devices were connected when the storm started: each of them must go down and back up.
  boolean[] wasUp;
  // Each device's last-down time just before the storm: a later one means it went down since.
  long[] downBefore;
  // Devices below this index were seen down and caught up again since the cut: the check every
  // 10 ms goes on from here instead of reading all 10,000 devices again.
  int resumedBelow;
  // The device that caught up last after the cut, and when.
  int slowest = -1;
  private long slowestNanos;
  // Each device's Welcome time at the cut (meaningful for those up then).
  private long[] upSince;
  // From when the storm was due to the cut, and how many devices were not settled at the cut
  // (down, or connected for less than 10 s) all the same.
  private long waitedNanos;
  private int unsettled;
  private boolean waitPrinted;
  // CPU readings at the cut, and from then until every device resumed.
  private CpuMeter cpu;
  private CpuMeter.Usage cpuUsed;
  // JIT compiler threads' ticks (server, load tester) at the cut, and used until all resumed.
  private long[] jitAtCut;
  private long[] jitUsed;

  /**
   * Whether the storm, due, may cut at {@code now}: every device has been connected for 10 s, or
   * {@code deadline} has come. Prints once that it waits.
   */
  boolean settled(Fleet fleet, long now, long deadline, PrintStream progress) {
    if (fleet.readyForStorm(now, deadline)) {
      return true;
    }
    if (!waitPrinted) {
      waitPrinted = true;
      progress.printf(
          "storm: due, waiting for %d devices to be connected for 10 s (a cut does not start"
              + " their backoff over before)%n",
          fleet.unsettled(now));
    }
    return false;
  }

  /**
   * Cuts every connection at once ({@link Fleet#cutAll}), the storm due since {@code due}; {@code
   * targets} are the versions acked now, which every device must hold again.
   */
  void cut(Fleet fleet, long due, long[][] targets, Long serverPid, PrintStream progress) {
    this.targets = targets;
    wasUp = new boolean[fleet.size()];
    downBefore = new long[fleet.size()];
    upSince = new long[fleet.size()];
    for (int i = 0; i < fleet.size(); i++) {
      upSince[i] = fleet.device(i).upSinceNanos();
      // When it last went down, read before whether it is up: a device that a random cut takes
      // down right now either reads as down, or changes its last-down time after this read.
      // Either way it is not waited for in vain (the storm's cut skips it).
      downBefore[i] = fleet.device(i).lastDownNanos();
      wasUp[i] = fleet.device(i).isUp();
    }
    cpu = CpuMeter.start(serverPid);
    jitAtCut = jitTicks(serverPid);
    startNanos = System.nanoTime();
    waitedNanos = startNanos - due;
    unsettled = fleet.unsettled(startNanos);
    cut = fleet.cutAll();
    progress.printf(
        "storm: cut %d connections at once%s%s%n",
        cut,
        waitedNanos < SECOND
            ? ""
            : String.format(
                " (%.1f s late: waited for every connection to last 10 s)", waitedNanos / 1e9),
        unsettled == 0
            ? ""
            : "; "
                + unsettled
                + " devices were down or connected for less than 10 s: their backoff goes on");
  }

  /** Every device resumed: the CPU it took, and which of the devices cut came last. */
  void resumed(Fleet fleet, Long serverPid) {
    resumedNanos = System.nanoTime();
    for (int i = 0; i < fleet.size(); i++) {
      long synced = fleet.device(i).lastSyncedNanos();
      if (wasUp[i] && (slowest < 0 || synced > slowestNanos)) {
        slowest = i;
        slowestNanos = synced;
      }
    }
    if (cpu != null) {
      cpuUsed = cpu.since(serverPid);
      long[] now = jitTicks(serverPid);
      jitUsed = new long[2];
      for (int i = 0; i < 2; i++) {
        jitUsed[i] = now[i] < 0 || jitAtCut[i] < 0 ? -1 : now[i] - jitAtCut[i];
      }
    }
  }

  /** The storm's fields of the result. */
  void putInto(Result result) {
    result
        .put("storm_cut", Math.max(cut, 0))
        .put(
            "storm_all_resumed_ms",
            resumedNanos < 0 ? -1.0 : Math.round((resumedNanos - startNanos) / 1e4) / 100.0)
        .put("storm_wait_ms", Math.round(waitedNanos / 1e6))
        .put("storm_unsettled", unsettled);
    if (slowest >= 0) {
      // The last device to catch up, and how long its connection had lasted at the cut: under 10
      // s its backoff went on from where earlier cuts had left it.
      result
          .put("storm_slowest_device", slowest)
          .put("storm_slowest_ms", Math.round((slowestNanos - startNanos) / 1e4) / 100.0)
          .put(
              "storm_slowest_connected_before_cut_ms",
              Math.round((startNanos - upSince[slowest]) / 1e6));
    }
    if (cpuUsed != null) {
      // From the cut until every device resumed: how much CPU the server and the load tester (its
      // reconnects) took, in ms of one core, and the machine as a whole.
      double ms = (resumedNanos - startNanos) / 1e6;
      result
          .put("storm_cpu_server_ms", WriteRun.cpuMillis(cpuUsed.server(), ms))
          .put("storm_cpu_loadtest_ms", WriteRun.cpuMillis(cpuUsed.loadtest(), ms))
          .put("storm_cpu_machine_ms", WriteRun.cpuMillis(cpuUsed.machine(), ms));
      // Of that, the JIT compiler threads' (ticks of 10 ms): a storm that comes before the JVMs
      // compiled the reconnect path pays for it here.
      if (jitUsed[0] >= 0) {
        result.put("storm_cpu_server_jit_ms", jitUsed[0] * 10);
      }
      if (jitUsed[1] >= 0) {
        result.put("storm_cpu_loadtest_jit_ms", jitUsed[1] * 10);
      }
    }
  }

  private static long[] jitTicks(Long serverPid) {
    return new long[] {
      serverPid == null ? -1 : CpuMeter.compilerTicks(Long.toString(serverPid)),
      CpuMeter.compilerTicks("self")
    };
  }
}
