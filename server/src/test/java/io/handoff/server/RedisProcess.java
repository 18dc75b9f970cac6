package io.handoff.server;

import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import redis.embedded.RedisServer;
import redis.embedded.core.RedisServerBuilder;

/**
 * A real Redis server process for tests, from the binary that embedded-redis ships on Maven
 * Central. {@link #sharedUrl()} honours {@code REDIS_URL}; tests keep apart by key prefix. A
 * private instance persists with an append-only file, so it can be restarted without losing acked
 * writes. The shared one keeps nothing on disk: nobody restarts it, and an fsync per write (a
 * millisecond and more on a busy disk) was most of the time of the tests that write thousands.
 * {@link #close()} deletes the process's directory once it has exited; one still open as the JVM
 * exits (the shared one, one a test left open) is closed then ({@link TempDirs}).
 */
public final class RedisProcess implements AutoCloseable {
  private static final List<String> PERSISTENT =
      List.of("appendonly yes", "appendfsync always", "save \"\"");
  private static final List<String> IN_MEMORY = List.of("appendonly no", "save \"\"");
  private static RedisProcess shared;

  private final int port;
  private final Path dir;
  private final List<String> settings;
  private RedisServer server;
  private Path binary; // the redis-server executable, once started
  private String lastRepair;
  private volatile String pausedPid; // the process pause() stopped, until resume()
  private boolean closed;

  private RedisProcess(int port, Path dir, List<String> settings) {
    this.port = port;
    this.dir = dir;
    this.settings = settings;
  }

  /** The Redis every test may share: {@code REDIS_URL}, or one process for this JVM. */
  public static synchronized String sharedUrl() {
    String env = System.getenv("REDIS_URL");
    if (env != null && !env.isBlank()) {
      return env;
    }
    if (shared == null) {
      shared = start(IN_MEMORY); // Closed as the JVM exits, as every one left open.
    }
    return shared.url();
  }

  /** A private Redis on a free port, persisting to a fresh directory. */
  public static RedisProcess start() {
    return start(PERSISTENT);
  }

  /**
   * A private Redis on a free port that keeps nothing on disk, for a test that pauses it or cuts
   * its connections but never restarts it: no fsync per write.
   */
  public static RedisProcess startInMemory() {
    return start(IN_MEMORY);
  }

  /** A private Redis on a free port with these configuration lines (besides bind and dir). */
  public static RedisProcess start(List<String> settings) {
    try {
      return started(
          new RedisProcess(freePort(), Files.createTempDirectory("handoff-redis"), settings));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** A private Redis replicating {@code master} ({@code replicaof}), persisting likewise. */
  public static RedisProcess startReplicaOf(RedisProcess master) {
    return startReplicaOf(master.port);
  }

  /**
   * A private Redis replicating the master reached at {@code port} on 127.0.0.1 (a proxy in front
   * of one, say), persisting likewise.
   */
  public static RedisProcess startReplicaOf(int port) {
    try {
      List<String> settings = new ArrayList<>(PERSISTENT);
      settings.add("replicaof 127.0.0.1 " + port);
      return started(
          new RedisProcess(
              freePort(), Files.createTempDirectory("handoff-redis-replica"), settings));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** {@code p} started, and closed as the JVM exits unless closed before; closed if it fails. */
  private static RedisProcess started(RedisProcess p) throws IOException {
    TempDirs.closeAtExit(p, "redis-" + p.port);
    try {
      p.startServer();
      return p;
    } catch (IOException | RuntimeException | Error e) {
      p.close();
      throw e;
    }
  }

  private void startServer() throws IOException {
    RedisServerBuilder b =
        RedisServer.newRedisServer()
            .port(port)
            .setting("bind 127.0.0.1")
            .setting("dir " + quoted(dir));
    settings.forEach(b::setting);
    if (appendOnly() && settings.stream().noneMatch(l -> l.startsWith("aof-load-truncated"))) {
      // As docs/redis.md asks: a torn file is refused and repaired whole, never loaded in part.
      b.setting("aof-load-truncated no");
    }
    server = b.build();
    server.start();
    if (binary == null) {
      binary = process(server).info().command().map(Path::of).orElse(null);
    }
  }

  /**
   * {@code path} as one argument of a Redis configuration line, which splits at spaces: in double
   * quotes, a backslash or quote in it escaped.
   */
  static String quoted(Path path) {
    return '"' + path.toString().replace("\\", "\\\\").replace("\"", "\\\"") + '"';
  }

  private boolean appendOnly() {
    return settings.contains("appendonly yes");
  }

  /**
   * What docs/redis.md has operators do when Redis refuses a torn append-only file: {@code
   * redis-check-aof --fix}, which cuts the file back to its last whole command outside a
   * transaction (Redis's own loader, with {@code aof-load-truncated yes}, would keep the complete
   * commands of a torn transaction). Run here before every start after a crash: a SIGKILL tears
   * only the file's end, so the repair never cuts more than the torn tail, and a whole file is left
   * as it is. The tool is the server's own binary, run under that name.
   */
  public void repairAppendOnlyFile() {
    Path aof = appendOnlyFile();
    if (!Files.exists(aof)) {
      return;
    }
    if (binary == null) {
      throw new IllegalStateException("the redis-server binary is not known");
    }
    try {
      boolean inTransaction = endsInsideTransaction(aof);
      Path tool = dir.resolve("redis-check-aof");
      if (!Files.exists(tool, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
        Files.createSymbolicLink(tool, binary);
      }
      Path log = dir.resolve("redis-check-aof.log");
      Process check =
          new ProcessBuilder(tool.toString(), "--fix", aof.toString())
              .redirectErrorStream(true)
              .redirectOutput(log.toFile())
              .start();
      try (var in = check.getOutputStream()) {
        in.write("y\n".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
      } catch (IOException e) {
        // A whole file is not asked about: the tool may have exited before the answer reached it.
      }
      if (!check.waitFor(60, TimeUnit.SECONDS) || check.exitValue() != 0) {
        check.destroyForcibly();
        throw new IllegalStateException(
            "redis-check-aof --fix failed on " + aof + ": " + Files.readString(log));
      }
      lastRepair = Files.readString(log);
      if (lastRepair.contains("Successfully truncated")) {
        // How often a crash tears the file, and whether inside a transaction, for the fault runs.
        System.out.println(
            "append-only file torn "
                + (inTransaction ? "inside" : "outside")
                + " a transaction, repaired: "
                + String.join(
                    "; ",
                    lastRepair
                        .lines()
                        .filter(l -> l.startsWith("0x") || l.startsWith("AOF analyzed"))
                        .toList()));
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  /** Whether the last MULTI in the file's last 1 MiB has no EXEC after it. */
  private static boolean endsInsideTransaction(Path aof) throws IOException {
    byte[] last;
    try (var f = new java.io.RandomAccessFile(aof.toFile(), "r")) {
      last = new byte[(int) Math.min(f.length(), 1 << 20)];
      f.seek(f.length() - last.length);
      f.readFully(last);
    }
    String tail = new String(last, java.nio.charset.StandardCharsets.ISO_8859_1);
    return tail.lastIndexOf("*1\r\n$5\r\nMULTI\r\n") > tail.lastIndexOf("*1\r\n$4\r\nEXEC\r\n");
  }

  /** What the last {@link #repairAppendOnlyFile()} printed, or null before one. */
  public String lastRepair() {
    return lastRepair;
  }

  public String url() {
    return "redis://127.0.0.1:" + port;
  }

  public int port() {
    return port;
  }

  /** Stops the process (its state is on disk) and starts it again on the same port. */
  public void restart() {
    try {
      server.stop();
      startServer();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  public void stop() {
    try {
      server.stop();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * Starts the process again after {@link #crash()} as Redis would on its own, with no repair: with
   * {@code aof-load-truncated yes} among its settings, Redis loads a torn file itself.
   */
  public void startAgainUnrepaired() {
    try {
      startServer();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The append-only file (one file up to Redis 6.2, as the embedded binary writes it). */
  public Path appendOnlyFile() {
    return dir.resolve("appendonly.aof");
  }

  /** Starts the process again after {@link #crash()}, repairing its append-only file first. */
  public void startAgain() {
    try {
      if (appendOnly()) {
        repairAppendOnlyFile();
      }
      startServer();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The process id of the running server, from INFO. */
  public String pid() {
    try (RedisClient client = RedisClient.create(url());
        StatefulRedisConnection<String, String> c = client.connect()) {
      for (String line : c.sync().info("server").split("\r?\n")) {
        if (line.startsWith("process_id:")) {
          return line.substring("process_id:".length()).trim();
        }
      }
    }
    throw new IllegalStateException("INFO server without process_id");
  }

  /** Sends {@code signal} ("-STOP", "-CONT", "-KILL") to the process of {@code pid}. */
  public static void signal(String signal, String pid) {
    try {
      Process kill = new ProcessBuilder("kill", signal, pid).inheritIO().start();
      if (!kill.waitFor(10, TimeUnit.SECONDS) || kill.exitValue() != 0) {
        throw new IllegalStateException("kill " + signal + " " + pid + " failed");
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  /** Pauses the process (SIGSTOP): it holds what it is sent until {@link #resume()}. */
  public void pause() {
    String pid = pid();
    pausedPid = pid;
    signal("-STOP", pid);
  }

  /** Resumes (SIGCONT) the process {@link #pause()} stopped, if it is paused; else nothing. */
  public void resume() {
    String pid = pausedPid;
    if (pid != null) {
      signal("-CONT", pid);
      pausedPid = null;
    }
  }

  /** Kills the process with SIGKILL (no shutdown, no final fsync); {@link #startAgain()} after. */
  public void crash() {
    signal("-KILL", pid());
    stop();
  }

  /** SIGKILL, then the process started again on the same port from what it had on disk. */
  public void crashAndStartAgain() {
    crash();
    startAgain();
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  /**
   * Stops the process with SIGTERM, and with SIGKILL if it has not exited within 10 s: a process a
   * test left paused (SIGSTOP) or one that delays its shutdown must not hang the test run. Then,
   * once the process has exited, deletes its directory. Closing again does nothing.
   */
  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    TempDirs.closedBeforeExit(this);
    RedisServer s = server;
    if (s != null && s.isActive()) {
      stopBounded(s);
    }
    if (s == null || TempDirs.exited(process(s), 10)) {
      TempDirs.deleteQuietly(dir);
    } else {
      System.err.println("redis on " + port + " still runs: its directory " + dir + " stays");
    }
  }

  /** The directory the process runs in. */
  public Path dir() {
    return dir;
  }

  private void stopBounded(RedisServer s) {
    Thread stopper =
        new Thread(
            () -> {
              try {
                s.stop();
              } catch (IOException ignored) {
                // Best effort at shutdown.
              }
            },
            "redis-stop-" + port);
    stopper.setDaemon(true);
    stopper.start();
    try {
      stopper.join(10_000);
      if (stopper.isAlive()) {
        process(s).destroyForcibly();
        stopper.join(10_000);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  // embedded-redis keeps its Process private and its stop() waits without a bound.
  private static Process process(RedisServer s) {
    try {
      java.lang.reflect.Field f = redis.embedded.RedisInstance.class.getDeclaredField("process");
      f.setAccessible(true);
      return (Process) f.get(s);
    } catch (ReflectiveOperationException e) {
      throw new IllegalStateException("embedded-redis changed: no process field", e);
    }
  }
}
