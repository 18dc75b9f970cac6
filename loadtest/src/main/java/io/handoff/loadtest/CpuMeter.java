package io.handoff.loadtest;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Where the machine's CPU went during a run, from {@code /proc} (Linux only; elsewhere every figure
 * is -1): the whole machine; this process; the server's process when its id is known; interrupt and
 * softirq time as the scheduler's tick sampled it (a rough figure: on loopback the kernel moves a
 * run's packets mostly in the sending process's own time, which that process is charged with too);
 * time stolen by the hypervisor; and everything else (the machine less the processes and steal),
 * which shows when other work on the machine disturbed a benchmark. Each figure is in percent of
 * one core (two busy cores: 200). Immutable.
 */
final class CpuMeter {
  // USER_HZ: the unit of /proc/stat and /proc/PID/stat times; 100 on every Linux architecture.
  private static final double TICKS_PER_SECOND = 100;

  private final long nanos;
  private final Machine machine;
  private final long self;
  private final long server;
  private final double loadAverage;

  /**
   * Ticks from /proc/stat: idle (idle and iowait), of which nothing is busy; irq+softirq and steal;
   * and the number of CPUs it lists. Busy time is the wall time of every CPU less idle, not the sum
   * of the user and system columns: those are sampled at the scheduler's tick (250 a second here)
   * and miss work done in bursts shorter than a tick, which is how a server waking thousands of
   * times a second runs (a two-node run read 60% of a core from them where its four processes used
   * 89% and the hypervisor stole 18%), while a tickless kernel measures idle time exactly as each
   * CPU goes idle and wakes.
   */
  record Machine(long idle, long interrupts, long steal, int cores) {
    static final Machine UNKNOWN = new Machine(-1, -1, -1, 0);

    /** Busy ticks of all CPUs from {@code this} reading to {@code later}, {@code seconds} apart. */
    long busySince(Machine later, double seconds) {
      if (cores <= 0 || later.cores != cores || idle < 0 || later.idle < 0) {
        return -1;
      }
      long wall = Math.round(cores * seconds * TICKS_PER_SECOND);
      return Math.max(0, wall - (later.idle - idle));
    }
  }

  private CpuMeter(long nanos, Machine machine, long self, long server, double loadAverage) {
    this.nanos = nanos;
    this.machine = machine;
    this.self = self;
    this.server = server;
    this.loadAverage = loadAverage;
  }

  /** Reads the counters now. {@code serverPid} null: no server figure. */
  static CpuMeter start(Long serverPid) {
    return new CpuMeter(
        System.nanoTime(),
        machineTicks(),
        processTicks("self"),
        serverPid == null ? -1 : processTicks(Long.toString(serverPid)),
        loadAverage());
  }

  /** CPU used from {@code this} reading until now. */
  Usage since(Long serverPid) {
    CpuMeter now = start(serverPid);
    double seconds = (now.nanos - nanos) / 1e9;
    return new Usage(
        pct(0, machine.busySince(now.machine, seconds), seconds),
        pct(self, now.self, seconds),
        serverPid == null ? Double.NaN : pct(server, now.server, seconds),
        pct(machine.interrupts(), now.machine.interrupts(), seconds),
        pct(machine.steal(), now.machine.steal(), seconds),
        loadAverage,
        now.loadAverage);
  }

  /**
   * CPU used over a stretch of time, in percent of one core, -1 when unknown; and the machine's
   * one-minute load average at its start and end (-1 when unknown).
   */
  record Usage(
      double machine,
      double loadtest,
      double server,
      double interrupts,
      double steal,
      double loadBefore,
      double loadAfter) {
    /**
     * As {@link #putInto(Result)}, and the CPU each process spent per delivery, in microseconds
     * ({@code loadtester_cpu_us_per_delivery}, {@code server_cpu_us_per_delivery}), for {@code
     * deliveriesPerSecond} over the same stretch.
     */
    void putInto(Result result, double deliveriesPerSecond) {
      putInto(result);
      if (deliveriesPerSecond > 0 && loadtest >= 0) {
        result.put("loadtester_cpu_us_per_delivery", perDelivery(loadtest, deliveriesPerSecond));
      }
      if (deliveriesPerSecond > 0 && !Double.isNaN(server) && server >= 0) {
        result.put("server_cpu_us_per_delivery", perDelivery(server, deliveriesPerSecond));
      }
    }

    /**
     * Adds the {@code cpu_*_pct} figures ({@code cpu_server_pct} only when the server is known) and
     * {@code load_average} (at the end; {@code load_average_start} at the start).
     */
    void putInto(Result result) {
      result
          .put("cpu_cores", Runtime.getRuntime().availableProcessors())
          .put("cpu_machine_pct", machine)
          .put("cpu_loadtest_pct", loadtest);
      boolean serverKnown = !Double.isNaN(server);
      if (serverKnown) {
        result.put("cpu_server_pct", server);
      }
      result.put("cpu_softirq_pct", interrupts).put("cpu_steal_pct", steal);
      // Softirq time is not taken out: the processes' own figures hold most of it (a one-node run
      // sampled 20% of a core of it where the machine less the two processes was 3%).
      if (machine >= 0 && loadtest >= 0 && steal >= 0 && (!serverKnown || server >= 0)) {
        double accounted = loadtest + (serverKnown ? server : 0) + steal;
        result.put("cpu_other_pct", Math.max(0, round(machine - accounted)));
      }
      result.put("load_average_start", loadBefore).put("load_average", loadAfter);
    }
  }

  /** Microseconds of CPU per delivery: percent of one core over deliveries per second. */
  static double perDelivery(double pct, double deliveriesPerSecond) {
    return round(pct / 100 / deliveriesPerSecond * 1e6);
  }

  /** The one-minute load average from /proc/loadavg, or -1 if it cannot be read. */
  static double loadAverage() {
    try {
      return parseLoadAverage(Files.readString(Path.of("/proc/loadavg")));
    } catch (IOException | RuntimeException e) {
      return -1;
    }
  }

  static double parseLoadAverage(String loadavg) {
    return Double.parseDouble(loadavg.trim().split("\\s+")[0]);
  }

  private static double pct(long before, long after, double seconds) {
    if (before < 0 || after < 0 || seconds <= 0) {
      return -1;
    }
    return round((after - before) / TICKS_PER_SECOND / seconds * 100);
  }

  private static double round(double v) {
    return Math.round(v * 10) / 10.0;
  }

  static Machine machineTicks() {
    try {
      return parseMachine(Files.readString(Path.of("/proc/stat")));
    } catch (IOException | RuntimeException e) {
      return Machine.UNKNOWN;
    }
  }

  /**
   * /proc/stat: its first line, {@code cpu user nice system idle iowait irq softirq steal ...}, and
   * one {@code cpuN} line per CPU.
   */
  static Machine parseMachine(String stat) {
    String[] lines = stat.split("\n");
    String[] f = lines[0].trim().split("\\s+");
    if (!f[0].equals("cpu") || f.length < 9) {
      return Machine.UNKNOWN;
    }
    long[] v = new long[9];
    for (int i = 1; i < 9; i++) {
      v[i] = Long.parseLong(f[i]);
    }
    int cores = 0;
    for (String line : lines) {
      if (line.length() > 3 && line.startsWith("cpu") && Character.isDigit(line.charAt(3))) {
        cores++;
      }
    }
    return new Machine(v[4] + v[5], v[6] + v[7], v[8], cores);
  }

  /** utime + stime of a process, from /proc/PID/stat; -1 if it cannot be read. */
  static long processTicks(String pid) {
    try {
      return parseProcessTicks(Files.readString(Path.of("/proc", pid, "stat")));
    } catch (IOException | RuntimeException e) {
      return -1;
    }
  }

  /**
   * utime + stime of the JIT compiler threads of a JVM ({@code C1 CompilerThre}, {@code C2
   * CompilerThre}: the names Linux keeps of HotSpot's), from /proc/PID/task; -1 if they cannot be
   * read. A compiler thread that ended between two readings takes its time with it.
   */
  static long compilerTicks(String pid) {
    try (var tasks = Files.list(Path.of("/proc", pid, "task"))) {
      long sum = 0;
      for (Path task : (Iterable<Path>) tasks::iterator) {
        try {
          String stat = Files.readString(task.resolve("stat"));
          if (isCompilerThread(stat)) {
            sum += parseProcessTicks(stat);
          }
        } catch (IOException | RuntimeException e) {
          // The thread ended meanwhile.
        }
      }
      return sum;
    } catch (IOException | RuntimeException e) {
      return -1;
    }
  }

  /** Whether a /proc task stat line is a HotSpot JIT compiler thread's. */
  static boolean isCompilerThread(String stat) {
    int open = stat.indexOf('(');
    int close = stat.lastIndexOf(')');
    return open >= 0 && close > open && stat.substring(open + 1, close).contains("CompilerThre");
  }

  static long parseProcessTicks(String stat) {
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    String[] f = stat.substring(stat.lastIndexOf(')') + 2).trim().split("\\s+");
    // f[0] is field 3 (state); utime and stime are fields 14 and 15.
    return Long.parseLong(f[11]) + Long.parseLong(f[12]);
  }
}
