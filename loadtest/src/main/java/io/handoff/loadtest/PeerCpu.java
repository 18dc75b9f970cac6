package io.handoff.loadtest;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * CPU of other processes a run loads besides the server ({@code --also-pid}: a second node, Redis),
 * read from {@code /proc/PID/stat} at the same moments as {@link CpuMeter}, so a multi-process
 * setup's CPU per delivery is the sum over the same window. Immutable.
 */
final class PeerCpu {
  private final long nanos;
  private final Map<String, Long> ticks;

  PeerCpu(long nanos, Map<String, Long> ticks) {
    this.nanos = nanos;
    this.ticks = ticks;
  }

  /** Reads the counters of {@code pids} (name to process id) now. */
  static PeerCpu start(Map<String, Long> pids) {
    Map<String, Long> ticks = new LinkedHashMap<>();
    pids.forEach((name, pid) -> ticks.put(name, CpuMeter.processTicks(Long.toString(pid))));
    return new PeerCpu(System.nanoTime(), ticks);
  }

  /**
   * Adds, per process, {@code cpu_NAME_pct} and {@code NAME_cpu_us_per_delivery} from this reading
   * until {@code now}; and {@code total_cpu_us_per_delivery}: the server's figure plus all of
   * theirs; and {@code cpu_outside_run_pct}: {@code cpu_other_pct} less all of them, the CPU no
   * process of the run used (work outside the run that disturbed it), when every figure is known.
   */
  void putInto(Result result, PeerCpu now, double deliveriesPerSecond) {
    double seconds = (now.nanos - nanos) / 1e9;
    Object server = result.get("server_cpu_us_per_delivery");
    double total = server instanceof Number n ? n.doubleValue() : Double.NaN;
    Object other = result.get("cpu_other_pct");
    double outside = other instanceof Number n ? n.doubleValue() : Double.NaN;
    for (Map.Entry<String, Long> e : ticks.entrySet()) {
      long before = e.getValue();
      long after = now.ticks.getOrDefault(e.getKey(), -1L);
      if (before < 0 || after < 0 || seconds <= 0 || deliveriesPerSecond <= 0) {
        total = Double.NaN;
        outside = Double.NaN;
        continue;
      }
      double pct = Math.round((after - before) / 100.0 / seconds * 1000) / 10.0;
      double us = CpuMeter.perDelivery(pct, deliveriesPerSecond);
      result.put("cpu_" + e.getKey() + "_pct", pct).put(e.getKey() + "_cpu_us_per_delivery", us);
      total += us;
      outside -= pct;
    }
    if (!Double.isNaN(total)) {
      result.put("total_cpu_us_per_delivery", Math.round(total * 10) / 10.0);
    }
    if (!ticks.isEmpty() && !Double.isNaN(outside)) {
      result.put("cpu_outside_run_pct", Math.max(0, Math.round(outside * 10) / 10.0));
    }
  }
}
