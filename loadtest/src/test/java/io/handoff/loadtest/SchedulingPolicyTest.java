package io.handoff.loadtest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The load tester's scheduling policy, applied for real by {@code chrt} to a child process (not to
 * the test's own JVM) and read back from the kernel.
 */
class SchedulingPolicyTest {
  private static final int SCHED_OTHER = 0;
  private static final int SCHED_BATCH = 3;

  @Test
  void batchIsSetOnEveryThreadOfTheProcessAndNormalLeavesItAlone() throws Exception {
    assumeLinuxWithChrt();
    // A JVM of its own (a process with many threads), so the test's JVM keeps its policy.
    Process child =
        new ProcessBuilder(
                ProcessHandle.current().info().command().orElse("java"),
                "-cp",
                System.getProperty("java.class.path"),
                Sleeper.class.getName())
            .redirectErrorStream(true)
            .start();
    try {
      long pid = child.pid();
      // It prints once its main thread runs: the JVM's own threads exist by then.
      assertEquals('r', child.getInputStream().read());
      long threads;
      try (var tasks = Files.list(Path.of("/proc", Long.toString(pid), "task"))) {
        threads = tasks.count();
      }
      assertTrue(threads > 1, "threads: " + threads);
      assertEquals(SCHED_OTHER, policyOf(pid, pid));

      assertEquals("normal", SchedulingPolicy.apply(SchedulingPolicy.Policy.NORMAL, pid));
      assertEquals(SCHED_OTHER, policyOf(pid, pid));

      assertEquals("batch", SchedulingPolicy.apply(SchedulingPolicy.Policy.BATCH, pid));
      try (var tasks = Files.list(Path.of("/proc", Long.toString(pid), "task"))) {
        tasks.forEach(
            t ->
                assertEquals(
                    SCHED_BATCH, policyOf(pid, Long.parseLong(t.getFileName().toString()))));
      }
    } finally {
      child.destroy();
      child.waitFor(10, TimeUnit.SECONDS);
    }
  }

  @Test
  void aProcessThatIsGoneIsReportedAsNormalWithChrtsReason() throws Exception {
    assumeLinuxWithChrt();
    Process child = new ProcessBuilder("true").start();
    child.waitFor(10, TimeUnit.SECONDS);
    String outcome = SchedulingPolicy.apply(SchedulingPolicy.Policy.BATCH, child.pid());
    assertTrue(outcome.startsWith("normal (chrt failed: "), outcome);
    assertEquals(-1, policyOf(child.pid(), child.pid()));
  }

  /**
   * The scheduling policy number of thread {@code tid} of process {@code pid} as the kernel reports
   * it ({@code /proc/PID/task/TID/stat}, field 41: 0 normal, 3 batch, 5 idle), or -1 if unreadable.
   */
  private static int policyOf(long pid, long tid) {
    try {
      String stat =
          Files.readString(
              Path.of("/proc", Long.toString(pid), "task", Long.toString(tid), "stat"));
      // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
      String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
      return Integer.parseInt(fields[41 - 3]);
    } catch (java.io.IOException | RuntimeException e) {
      return -1;
    }
  }

  private static void assumeLinuxWithChrt() {
    assumeTrue(Files.isDirectory(Path.of("/proc/self/task")), "needs Linux's /proc");
    boolean chrt =
        java.util.Arrays.stream(System.getenv().getOrDefault("PATH", "").split(":"))
            .anyMatch(dir -> !dir.isEmpty() && Files.isExecutable(Path.of(dir, "chrt")));
    assumeTrue(chrt, "needs util-linux's chrt on the PATH");
  }

  /**
   * The child process of the first test: says it runs, then blocks reading its standard input until
   * the test destroys it (or closes that input).
   */
  static final class Sleeper {
    public static void main(String[] args) throws java.io.IOException {
      System.out.print('r');
      System.out.flush();
      while (System.in.read() >= 0) {
        // Nothing is ever written; the loop ends when the input closes.
      }
    }
  }
}
