package io.handoff.loadtest;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;

/**
 * The Linux CPU scheduling policy of the load tester's threads.
 *
 * <p>When the load tester shares CPUs with the server it measures, every frame the server sends
 * wakes one of the load tester's event loops, and the kernel treats that wake-up as a reason to
 * preempt the sender: under the default policy the server is switched out after its first send of a
 * write's three, the load tester reads one frame and sleeps, the server comes back for the next
 * send, and so on. Each of those switches costs both processes CPU (a switch costs about 13 µs on
 * the benchmark VM), and none of it happens when clients are on other machines. {@code SCHED_BATCH}
 * keeps the load tester's wake-ups from preempting anything: the server finishes its turn, sleeps,
 * and the load tester then reads the write's replies in one wake-up. Latency is still timed from
 * each write's intended send time, so whatever the load tester's own delay adds is counted against
 * the server, never hidden.
 *
 * <p>The policy is set with util-linux's {@code chrt} on every thread of the process ({@code
 * --all-tasks}); threads started afterwards inherit it from the thread that starts them. Not
 * thread-safe; called once at start.
 */
final class SchedulingPolicy {
  /** What {@code --scheduling} accepts. */
  enum Policy {
    /** {@code SCHED_BATCH}: wake-ups never preempt another process. */
    BATCH,
    /** The policy the process was started with, untouched. */
    NORMAL
  }

  private static final long CHRT_TIMEOUT_SECONDS = 10;

  private SchedulingPolicy() {}

  /**
   * Applies {@code policy} to every thread of process {@code pid}.
   *
   * @return what holds afterwards, for the run's output: {@code "batch"}, {@code "normal"}, or
   *     {@code "normal (...)"} saying why batch could not be set
   */
  static String apply(Policy policy, long pid) {
    if (policy == Policy.NORMAL) {
      return "normal";
    }
    if (!System.getProperty("os.name", "").toLowerCase(Locale.ROOT).contains("linux")) {
      return "normal (SCHED_BATCH is Linux's)";
    }
    List<String> command =
        List.of("chrt", "--all-tasks", "--batch", "--pid", "0", Long.toString(pid));
    try {
      Process chrt = new ProcessBuilder(command).redirectErrorStream(true).start();
      if (!chrt.waitFor(CHRT_TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
        chrt.destroyForcibly();
        return "normal (chrt did not finish within " + CHRT_TIMEOUT_SECONDS + " s)";
      }
      String output = new String(chrt.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      if (chrt.exitValue() != 0) {
        return "normal (chrt failed: " + output.strip() + ")";
      }
    } catch (IOException e) {
      return "normal (chrt not found: install util-linux, or pass --scheduling normal)";
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return "normal (interrupted)";
    }
    return "batch";
  }
}
