package io.handoff.server.bench;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.Arrays;

/**
 * {@link FanOutBenchmark}'s write timed by the thread's CPU time instead of the clock: on a machine
 * shared with other work, a thread that waits for a core is not charged for the wait, so a before
 * and after of one change can be compared where JMH's clock-time scores only show the machine's
 * load. Prints the median and the least CPU nanoseconds per write over the rounds.
 *
 * <pre>
 * ./mvnw -B -Pjmh -pl server -am test -DskipTests -Djmh.main=io.handoff.server.bench.CpuPerWrite \
 *   -Djmh.args="3 150000 20000 8"      # devices, warm-up writes, writes per round, rounds
 * </pre>
 */
public final class CpuPerWrite {
  private CpuPerWrite() {}

  public static void main(String[] args) {
    int devices = args.length > 0 ? Integer.parseInt(args[0]) : 3;
    int warmup = args.length > 1 ? Integer.parseInt(args[1]) : 150_000;
    int writes = args.length > 2 ? Integer.parseInt(args[2]) : 20_000;
    int rounds = args.length > 3 ? Integer.parseInt(args[3]) : 8;
    FanOutBenchmark b = new FanOutBenchmark();
    b.devices = devices;
    b.payload = 256;
    b.setUp();
    try {
      ThreadMXBean threads = ManagementFactory.getThreadMXBean();
      for (int i = 0; i < warmup; i++) {
        b.writeFannedOut();
      }
      long[] perWrite = new long[rounds];
      for (int r = 0; r < rounds; r++) {
        long start = threads.getCurrentThreadCpuTime();
        long frames = 0;
        for (int i = 0; i < writes; i++) {
          frames += b.writeFannedOut();
        }
        perWrite[r] = (threads.getCurrentThreadCpuTime() - start) / writes;
        if (frames != (long) writes * devices) {
          throw new IllegalStateException(
              frames + " frames for " + writes + " writes to " + devices + " devices");
        }
      }
      Arrays.sort(perWrite);
      System.out.printf(
          "CPU ns per write, %d devices: median %d, least %d, rounds %s%n",
          devices, perWrite[rounds / 2], perWrite[0], Arrays.toString(perWrite));
    } finally {
      b.tearDown();
    }
  }
}
