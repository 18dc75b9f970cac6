package io.handoff.loadtest;

import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.HdrHistogram.Histogram;

/**
 * The {@code idle} scenario: {@code users x devices} connections that only answer the server's
 * heartbeats, held for the duration. With {@code --server-pid}, the server's memory is read before
 * connecting and after (see {@link ServerMemory}) and divided by the number of connections. The run
 * fails if a device could not connect or lost its connection while held.
 */
final class IdleRun {
  private static final long SECOND = TimeUnit.SECONDS.toNanos(1);

  private final LoadOptions o;
  private final Long serverPid;
  private final PrintStream progress;

  /**
   * @param serverPid the server's process id on this machine, or null to skip the memory figures
   */
  IdleRun(LoadOptions o, Long serverPid, PrintStream progress) {
    this.o = o;
    this.serverPid = serverPid;
    this.progress = progress;
  }

  Result run() {
    Result result = new Result("idle");
    result.put("users", o.users).put("devices", o.devices).put("duration_s", seconds(o.duration));
    Stats stats = new Stats();
    Duration ttl = o.connectTimeout.plus(o.duration).plusHours(1);
    ServerMemory.Sample before = null;
    ServerMemory.Sample after = null;
    long ownBefore = ownHeapAfterGc();
    Fleet fleet = new Fleet(o, stats, false, ttl, false);
    int connected = 0;
    int minHeld = 0;
    // Connections held when the hold ended; -1 if it never started.
    int heldAtEnd = -1;
    long ownAfter = -1;
    CpuMeter cpuStart = null;
    CpuMeter.Usage cpu = null;
    try {
      if (serverPid != null) {
        progress.println("reading the server's memory (full GC) before connecting");
        before = ServerMemory.sample(serverPid);
      }
      connected = fleet.connectAll(o.connectTimeout, o.connectConcurrency, progress);
      minHeld = connected;
      TimeUnit.SECONDS.sleep(1);
      if (serverPid != null) {
        progress.println("reading the server's memory (full GC) with every device connected");
        after = ServerMemory.sample(serverPid);
      }
      ownAfter = ownHeapAfterGc();
      cpuStart = CpuMeter.start(serverPid);
      long start = System.nanoTime();
      long end = start + o.duration.toNanos();
      long nextPrint = start + SECOND;
      while (System.nanoTime() < end) {
        TimeUnit.MILLISECONDS.sleep(
            Math.max(1, Math.min(100, (end - System.nanoTime()) / 1_000_000)));
        minHeld = Math.min(minHeld, stats.connected.get());
        long now = System.nanoTime();
        if (now >= nextPrint) {
          nextPrint += SECOND;
          progress.printf(
              "held %5.1fs  conn %d/%d  disconnects %d%n",
              (now - start) / 1e9, stats.connected.get(), fleet.size(), stats.disconnects.sum());
        }
      }
      heldAtEnd = stats.connected.get();
      cpu = cpuStart.since(serverPid);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      result.problem("interrupted");
    } finally {
      fleet.close();
    }

    long errors =
        stats.clientErrors.sum()
            + stats.unexpectedDisconnects.sum()
            + stats.terminalCloses.sum()
            + (fleet.size() - connected);
    Histogram connect = stats.connect.getIntervalHistogram();
    result
        .put("connections", connected)
        .put("min_connections_held", minHeld)
        .put("held_at_end", Math.max(0, heldAtEnd))
        .put("sent", 0)
        .put("expected", 0)
        .put("received", 0)
        .put("lost", 0)
        .put("duplicated", 0)
        .put("reordered", 0)
        .put("errors", errors)
        .put("closes", stats.closes())
        .put("p50_ms", 0.0)
        .put("p90_ms", 0.0)
        .put("p99_ms", 0.0)
        .put("p999_ms", 0.0)
        .put("max_ms", 0.0)
        .put("delivered_per_s", 0.0)
        .put("disconnects", stats.disconnects.sum())
        .put("connect_retries", stats.connectRetries.sum())
        .put("connect_p50_ms", Timeline.ms(connect.getValueAtPercentile(50)))
        .put("connect_p99_ms", Timeline.ms(connect.getValueAtPercentile(99)))
        .put("connect_max_ms", Timeline.ms(connect.getMaxValue()));
    if (before != null && after != null) {
      result
          .put(
              "server_memory_method",
              "jcmd GC.class_histogram total (live heap); jcmd GC.run + GC.heap_info (heap used);"
                  + " /proc/PID/status VmRSS")
          .put("server_heap_before_bytes", before.liveBytes())
          .put("server_heap_after_bytes", after.liveBytes())
          .put(
              "server_heap_per_connection_bytes",
              perConnection(before.liveBytes(), after.liveBytes(), connected))
          .put("server_heap_used_before_bytes", before.heapUsedBytes())
          .put("server_heap_used_after_bytes", after.heapUsedBytes())
          .put(
              "server_heap_used_per_connection_bytes",
              perConnection(before.heapUsedBytes(), after.heapUsedBytes(), connected))
          .put("server_rss_before_bytes", before.rssBytes())
          .put("server_rss_after_bytes", after.rssBytes())
          .put(
              "server_rss_per_connection_bytes",
              perConnection(before.rssBytes(), after.rssBytes(), connected));
      if (before.error() != null || after.error() != null) {
        result.note(
            "server memory: "
                + (before.error() == null ? "" : before.error())
                + (after.error() == null ? "" : after.error()));
      }
      result.note(
          "server heap per connection: live objects after a full GC (jcmd GC.class_histogram"
              + " total), after minus before, divided by the connections; heap used per"
              + " connection is GC.heap_info's figure after a full GC, which also counts the"
              + " threads' allocation buffers. RSS per connection also counts direct buffers and"
              + " heap the JVM grew into, and does not shrink after a GC.");
    } else {
      result.note("server memory not measured: pass --server-pid PID of the server process");
    }
    result.put("client_heap_per_connection_bytes", perConnection(ownBefore, ownAfter, connected));
    if (cpu != null) {
      cpu.putInto(result);
    }
    if (connected < fleet.size()) {
      result.problem(fleet.connectShortfall(connected, o.connectTimeout));
    }
    if (heldAtEnd >= 0 && heldAtEnd < connected) {
      result.problem(
          (connected - heldAtEnd)
              + " of "
              + connected
              + " devices were not connected when the hold ended (closes: "
              + stats.closes()
              + ")");
    }
    if (errors > 0) {
      result.problem(
          errors
              + " errors ("
              + stats.unexpectedDisconnects.sum()
              + " lost connections, "
              + stats.terminalCloses.sum()
              + " terminal closes, "
              + stats.clientErrors.sum()
              + " client errors, "
              + (fleet.size() - connected)
              + " not connected)");
    }
    for (String sample : stats.samples()) {
      result.note("error: " + sample);
    }
    return result;
  }

  private static long perConnection(long before, long after, int connections) {
    if (before < 0 || after < 0 || connections <= 0) {
      return -1;
    }
    return Math.round((after - before) / (double) connections);
  }

  /** This JVM's heap in use after a full GC: the clients' own footprint. */
  private static long ownHeapAfterGc() {
    MemoryMXBean memory = ManagementFactory.getMemoryMXBean();
    memory.gc();
    memory.gc();
    return memory.getHeapMemoryUsage().getUsed();
  }

  private static double seconds(Duration d) {
    return d.toMillis() / 1000.0;
  }
}
