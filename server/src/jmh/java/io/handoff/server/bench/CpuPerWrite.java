package io.handoff.server.bench;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.Arrays;

/**
 * {@link FanOutBenchmark}'s write timed by the thread's CPU time instead of the clock: on a machine
 * shared with other work, a thread that waits for a core is not charged for the wait, so a before
 * and after of one change can be compared where JMH's clock-time scores only show the machine's
 * load. Prints the median and the least CPU nanoseconds per write over the rounds, and the bytes
 * the thread allocated per write (what the collector and its concurrent refinement pay for later,
 * off this thread) and the whole process's CPU per write (the collector's and the JIT's threads
 * too), medians over the rounds, and the collector's pause time per write over all rounds. With
 * many users (the fifth argument: 1,000 is the load tester's shape) what each write leaves in the
 * store is spread over as many long-lived structures as in a real node, so the process CPU per
 * write includes what G1 pays for it (concurrent refinement, evacuation of what survives).
 *
 * <pre>
 * ./mvnw -B -Pjmh -pl server -am test -DskipTests -Djmh.main=io.handoff.server.bench.CpuPerWrite \
 *   -Djmh.args="3 150000 20000 8 1000"   # devices, warm-up writes, writes per round, rounds, users
 * </pre>
 */
public final class CpuPerWrite {
  private CpuPerWrite() {}

  public static void main(String[] args) {
    int devices = args.length > 0 ? Integer.parseInt(args[0]) : 3;
    int warmup = args.length > 1 ? Integer.parseInt(args[1]) : 150_000;
    int writes = args.length > 2 ? Integer.parseInt(args[2]) : 20_000;
    int rounds = args.length > 3 ? Integer.parseInt(args[3]) : 8;
    int users = args.length > 4 ? Integer.parseInt(args[4]) : 1;
    FanOutBenchmark b = new FanOutBenchmark();
    b.devices = devices;
    b.users = users;
    b.payload = 256;
    b.setUp();
    try {
      ThreadMXBean threads = ManagementFactory.getThreadMXBean();
      com.sun.management.ThreadMXBean allocation = (com.sun.management.ThreadMXBean) threads;
      com.sun.management.OperatingSystemMXBean os =
          (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
      long self = Thread.currentThread().getId();
      for (int i = 0; i < warmup; i++) {
        b.writeFannedOut();
      }
      long[] perWrite = new long[rounds];
      long[] bytesPerWrite = new long[rounds];
      long[] processPerWrite = new long[rounds];
      long pauses = gcMillis();
      for (int r = 0; r < rounds; r++) {
        long start = threads.getCurrentThreadCpuTime();
        long bytes = allocation.getThreadAllocatedBytes(self);
        long process = os.getProcessCpuTime();
        long frames = 0;
        for (int i = 0; i < writes; i++) {
          frames += b.writeFannedOut();
        }
        perWrite[r] = (threads.getCurrentThreadCpuTime() - start) / writes;
        bytesPerWrite[r] = (allocation.getThreadAllocatedBytes(self) - bytes) / writes;
        processPerWrite[r] = (os.getProcessCpuTime() - process) / writes;
        if (frames != (long) writes * devices) {
          throw new IllegalStateException(
              frames + " frames for " + writes + " writes to " + devices + " devices");
        }
      }
      pauses = gcMillis() - pauses;
      Arrays.sort(perWrite);
      Arrays.sort(bytesPerWrite);
      Arrays.sort(processPerWrite);
      System.out.printf(
          "CPU ns per write, %d devices: median %d, least %d, rounds %s%n",
          devices, perWrite[rounds / 2], perWrite[0], Arrays.toString(perWrite));
      System.out.printf(
          "allocated bytes per write: median %d; process CPU ns per write (every thread): median"
              + " %d%n",
          bytesPerWrite[rounds / 2], processPerWrite[rounds / 2]);
      System.out.printf(
          "users %d; collector pauses %d ms in all rounds, %d ns per write%n",
          users, pauses, pauses * 1_000_000 / ((long) writes * rounds));
    } finally {
      b.tearDown();
    }
  }

  /** Milliseconds the collectors have spent so far, in pauses and (for G1) in concurrent cycles. */
  private static long gcMillis() {
    long ms = 0;
    for (java.lang.management.GarbageCollectorMXBean gc :
        ManagementFactory.getGarbageCollectorMXBeans()) {
      ms += Math.max(0, gc.getCollectionTime());
    }
    return ms;
  }
}
