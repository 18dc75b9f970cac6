package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The Redis processes tests start leave nothing on disk once closed, or once their JVM exits. */
class TempDirsTest {
  @Test
  void aClosedRedisLeavesNoDirectoryAndItsRepairToolsTargetStays() throws Exception {
    RedisProcess redis = RedisProcess.start();
    Path dir = redis.dir();
    try (RedisClient client = RedisClient.create(redis.url());
        StatefulRedisConnection<String, String> c = client.connect()) {
      c.sync().set("k", "v");
    }
    redis.crash();
    redis.startAgain(); // Links redis-check-aof, in the dir, to the server's binary.
    Path tool = dir.resolve("redis-check-aof");
    assertTrue(Files.isSymbolicLink(tool), "the repair linked the tool");
    Path binary = Files.readSymbolicLink(tool);
    String pid = redis.pid();

    redis.close();

    assertFalse(Files.exists(dir), dir + " is left behind");
    assertFalse(ProcessHandle.of(Long.parseLong(pid)).map(ProcessHandle::isAlive).orElse(false));
    assertTrue(Files.isExecutable(binary), "the link was deleted, not the binary it names");
    redis.close(); // Again: nothing more to do.
  }

  /**
   * A JVM that starts the shared Redis, a private one and a private Cluster and exits without
   * closing any of them (as a surefire fork does with the shared ones): its shutdown hooks stop
   * every process and delete every directory, so its {@code java.io.tmpdir} ends empty.
   */
  @Test
  void aJvmThatExitsWithRedisOpenLeavesNothingInItsTemporaryDirectory(@TempDir Path junit)
      throws Exception {
    // A java.io.tmpdir may hold a space (Maven's, passed on to the forks): Redis is told it whole.
    Path tmp = Files.createDirectory(junit.resolve("with space"));
    Process jvm = jvm(tmp, LeftOpen.class);
    String output = outputOf(jvm);
    assertEquals(0, jvm.exitValue(), output);
    Map<String, String> said = new TreeMap<>();
    output.lines().filter(l -> l.startsWith("left open ")).forEach(l -> put(said, l));
    assertEquals(
        List.of("cluster", "cluster-pid", "private", "private-pid", "shared", "shared-pid"),
        new ArrayList<>(said.keySet()),
        output);
    for (var e : said.entrySet()) {
      if (e.getKey().endsWith("-pid")) {
        long pid = Long.parseLong(e.getValue());
        assertFalse(
            ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false),
            e.getKey() + " " + pid + " outlived its JVM");
      } else {
        assertTrue(e.getValue().startsWith(tmp.toString()), e + " not under " + tmp);
      }
    }
    try (Stream<Path> left = Files.list(tmp)) {
      assertEquals(List.of(), left.toList(), output);
    }
  }

  /** A JVM running {@code main} with {@code tmp} as its temporary directory, as a test fork. */
  private static Process jvm(Path tmp, Class<?> main) throws IOException {
    List<String> command =
        List.of(
            Path.of(System.getProperty("java.home"), "bin", "java").toString(),
            "-Xmx128m",
            "-XX:TieredStopAtLevel=1",
            "-Djava.io.tmpdir=" + tmp,
            // This JVM's third of the Cluster ports: it waits, starting no Cluster meanwhile.
            "-Dhandoff.test.fork=" + System.getProperty("handoff.test.fork", "1"),
            "-cp",
            System.getProperty("java.class.path"),
            main.getName());
    return new ProcessBuilder(command).redirectErrorStream(true).start();
  }

  /** What {@code jvm} printed until it exited (killed after 60 s). */
  private static String outputOf(Process jvm) throws IOException, InterruptedException {
    try (var in = jvm.getInputStream()) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } finally {
      if (!jvm.waitFor(60, TimeUnit.SECONDS)) {
        jvm.destroyForcibly();
      }
    }
  }

  /**
   * A JVM that exits as its shared Cluster's start begins (a fork whose tests were over at once):
   * the start, interrupted, stops every node it started, even one started as the JVM was exiting,
   * so no process of it outlives the JVM, and its directory is gone. A guard (it has not failed on
   * any version of the start), so in the fault suite: a JVM and a Cluster's start cost seconds.
   */
  @Test
  @Tag("fault")
  void aJvmThatExitsAsItsClusterStartsLeavesNoProcess(@TempDir Path tmp) throws Exception {
    String output = outputOf(jvm(tmp, ExitsAsClusterStarts.class));
    List<ProcessHandle> outlived =
        ProcessHandle.allProcesses().filter(p -> runsIn(p, tmp)).toList();
    outlived.forEach(ProcessHandle::destroyForcibly); // Not to outlive this test either.
    assertEquals(List.of(), outlived.stream().map(ProcessHandle::pid).toList(), output);
    try (Stream<Path> left = Files.list(tmp)) {
      assertEquals(List.of(), left.toList(), output);
    }
  }

  /** Whether {@code p}'s working directory (a Redis's is its {@code dir}) is under {@code tmp}. */
  private static boolean runsIn(ProcessHandle p, Path tmp) {
    try {
      return Files.readSymbolicLink(Path.of("/proc", Long.toString(p.pid()), "cwd"))
          .startsWith(tmp);
    } catch (IOException | RuntimeException gone) {
      return false;
    }
  }

  /** {@link #aJvmThatExitsAsItsClusterStartsLeavesNoProcess}'s JVM. */
  static final class ExitsAsClusterStarts {
    public static void main(String[] args) {
      RedisClusterProcess.headStart();
      System.exit(0);
    }
  }

  private static void put(Map<String, String> said, String line) {
    String[] f = line.substring("left open ".length()).split(" ", 2);
    said.put(f[0], f[1]);
  }

  /** {@link #aJvmThatExitsWithRedisOpenLeavesNothingInItsTemporaryDirectory}'s JVM. */
  static final class LeftOpen {
    public static void main(String[] args) throws IOException {
      String shared = RedisProcess.sharedUrl();
      System.out.println("left open shared " + dirOf(shared));
      System.out.println("left open shared-pid " + pidOf(shared));
      RedisProcess own = RedisProcess.start();
      System.out.println("left open private " + own.dir());
      System.out.println("left open private-pid " + own.pid());
      RedisClusterProcess.Private cluster = RedisClusterProcess.startPrivate();
      System.out.println("left open cluster " + cluster.dir());
      System.out.println("left open cluster-pid " + pidOf(cluster.seeds().get(0)));
      System.exit(0);
    }

    private static String dirOf(String url) {
      try (RedisClient client = RedisClient.create(url);
          StatefulRedisConnection<String, String> c = client.connect()) {
        return c.sync().configGet("dir").get("dir");
      }
    }

    private static String pidOf(String url) {
      try (RedisClient client = RedisClient.create(url);
          StatefulRedisConnection<String, String> c = client.connect()) {
        for (String line : c.sync().info("server").split("\r?\n")) {
          if (line.startsWith("process_id:")) {
            return line.substring("process_id:".length()).trim();
          }
        }
      }
      throw new IllegalStateException("no process_id from " + url);
    }
  }
}
