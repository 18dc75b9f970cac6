package io.handoff.loadtest;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.server.auth.DevTokens;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import redis.embedded.RedisServer;

/**
 * A node process with a 256 MB heap (and the default direct-memory limit and queue budget), on a
 * real Redis: 900 well-behaved devices write through the load tester while 200 devices of other
 * users are each fed 16 KiB a second by a feeder device of their user ({@link SilentCrowd}). Two
 * runs, on fresh nodes, that differ only in what the 200 fed devices do: in the calm run they read
 * everything, in the silent run they never read (and reconnect whenever the node closes them). So
 * the feeders' cost (writes through Redis, fan-out) is in both runs, and the ratio of the two p99s
 * is the cost of the devices that stopped reading.
 *
 * <p>Holds: the silent devices make the node queue (their kernel send buffers are bounded by the
 * node's {@code --socket-send-buffer}, so the backlog soon reaches the node), the node's queue
 * budget closes them, also while the load is measured, and never their own 4 MiB bound; the node
 * stays up and ready; the well-behaved devices lose nothing and are never closed, their p99 stays
 * within 5x of the calm run's; every feeder's write is acked (none refused) in both runs, and in
 * the calm run every fed device received every version.
 *
 * <p>Long (two runs of {@link #DURATION}, each after the feed has run a while); tagged {@code
 * fault}: {@code ./mvnw -B verify -Pfaults -pl loadtest -am -Dtest=SlowConsumersFaultTest
 * -Dsurefire.failIfNoSpecifiedTests=false -Dhandoff.fault.duration=40s}. Everything it measured is
 * printed in lines starting {@code slow consumers}, as recorded in BENCHMARKS.md; the node's logs,
 * GC logs and the load tester's output stay in {@code loadtest/target/slow-consumers-fault/}.
 */
@Tag("fault")
class SlowConsumersFaultTest {
  private static final String SECRET = DevTokens.randomSecret();
  private static final int USERS = 300;
  private static final int DEVICES = 3;
  private static final int FED = 200;
  private static final String RATE = System.getProperty("handoff.fault.rate", "300");
  private static final String PAYLOAD = System.getProperty("handoff.fault.payload", "1024");
  // 200 x 16 KiB a second: with the node's default socket send buffer (128 KiB, which the kernel
  // doubles) a silent device's kernel buffer and Netty's (64 KiB) are full in about 20 s, and from
  // then on its backlog waits in its outbox, counted twice (parsed and encoded) toward the
  // budget: 200 devices pass a 256 MB node's 64 MiB within seconds, each far below its own 4 MiB.
  private static final int FEED_BYTES = Integer.getInteger("handoff.fault.feed", 16 * 1024);
  private static final String DURATION = System.getProperty("handoff.fault.duration", "60s");
  // The node's --socket-send-buffer; unset: the node's default. "0" reproduces the kernel's
  // autotuning (up to net.ipv4.tcp_wmem's maximum per socket), which swallows the whole feed.
  private static final String SEND_BUFFER = System.getProperty("handoff.fault.socketSendBuffer");
  private static final Duration FILL_BOUND = Duration.ofSeconds(180);
  private static final String BUDGET_CLOSES =
      "handoff_slow_consumer_disconnects_total{reason=\"node_budget\"}";
  private static final String OWN_CLOSES =
      "handoff_slow_consumer_disconnects_total{reason=\"connection_limit\"}";

  @Test
  void silentDevicesOnASmallHeapNeverHurtTheNodeOrTheDevicesThatRead() throws Exception {
    // Kept after the run: the node's and the load tester's output, for a failure's diagnosis.
    Path dir = Files.createDirectories(Path.of("target", "slow-consumers-fault").toAbsolutePath());
    RedisServer redis =
        RedisServer.newRedisServer()
            .port(freePort())
            .setting("bind 127.0.0.1")
            .setting("dir " + dir)
            .setting("appendonly no")
            .setting("save \"\"")
            .build();
    redis.start();
    Run calm;
    Run silent;
    try {
      String redisUrl = "redis://127.0.0.1:" + redis.ports().get(0);
      calm = run(redisUrl, dir, "calm", SilentCrowd.Mode.READING);
      silent = run(redisUrl, dir, "silent", SilentCrowd.Mode.SILENT);
    } finally {
      redis.stop();
    }
    double p99Calm = calm.p99();
    double ratio = silent.p99() / Math.max(p99Calm, 1.0);
    System.out.printf(
        "slow consumers: %d x %d devices writing %s/s x %s B for %s; %d fed devices, each fed %d"
            + " B/s by a feeder of its user; node -Xmx256m, queue budget %,.0f B, socket send"
            + " buffer %s%n",
        USERS,
        DEVICES,
        RATE,
        PAYLOAD,
        DURATION,
        FED,
        FEED_BYTES,
        silent.after.getOrDefault("handoff_queued_bytes_budget", -1.0),
        SEND_BUFFER == null ? "the node's default" : SEND_BUFFER);
    System.out.println(calm.describe("calm, the fed devices read"));
    System.out.println(silent.describe("silent, the fed devices never read"));
    System.out.printf(
        "slow consumers: p99 calm %.1f ms, with silent devices %.1f ms: ratio %.2f (must be <= 5)%n",
        p99Calm, silent.p99(), ratio);
    List<Executable> checks = new ArrayList<>();
    checks.addAll(calm.wellBehavedChecks());
    checks.addAll(silent.wellBehavedChecks());
    checks.add(
        () -> assertEquals(0, calm.crowd.behind(), "every reading device got every version"));
    checks.add(() -> assertEquals(0, calm.crowd.reconnects(), "no reading device was closed"));
    checks.add(
        () -> assertEquals(0.0, calm.closesBy(BUDGET_CLOSES), "nobody closed when all read"));
    checks.add(
        () ->
            assertTrue(
                silent.closesBy(BUDGET_CLOSES) > 0,
                "the node's queue budget closed silent devices"));
    checks.add(
        () ->
            assertTrue(
                silent.budgetClosesDuringLoad() > 0,
                "the budget was closing silent devices while the load was measured"));
    checks.add(
        () -> assertEquals(0.0, silent.closesBy(OWN_CLOSES), "no device reached its own bound"));
    checks.add(() -> assertTrue(silent.crowd.reconnects() > 0, "closed silent devices came back"));
    checks.add(
        () ->
            assertTrue(
                silent.p99() <= 5 * Math.max(p99Calm, 1.0),
                "p99 with silent devices " + silent.p99() + " ms, without " + p99Calm + " ms"));
    assertAll(checks);
  }

  /** A fresh node, the crowd in {@code mode}, and the load tester once the feed has run a while. */
  private static Run run(String redisUrl, Path dir, String name, SilentCrowd.Mode mode)
      throws Exception {
    Node node = Node.start(redisUrl, dir.resolve(name + ".log"), dir.resolve(name + "-gc.log"));
    try {
      Tokens tokens = new Tokens(SECRET);
      List<String> fed = new ArrayList<>();
      List<String> feeders = new ArrayList<>();
      for (int u = 0; u < FED; u++) {
        fed.add(tokens.mint(name + "-fed-u" + u, "fed", Duration.ofHours(1)));
        feeders.add(tokens.mint(name + "-fed-u" + u, "feeder", Duration.ofHours(1)));
      }
      SilentCrowd.Report report;
      Map<String, Double> before;
      Map<String, Double> after;
      Kernel kernelBefore;
      Kernel kernelAfter;
      String loadBefore;
      String loadAfter;
      Load load;
      long fill = System.nanoTime();
      try (SilentCrowd crowd = new SilentCrowd(node.port, fed, feeders, FEED_BYTES, mode)) {
        // Before the measured load: silent devices back up until the node's budget closes some
        // (bounded: if it never does, the checks below say so); reading devices get ten rounds.
        BooleanSupplier filled =
            mode == SilentCrowd.Mode.SILENT
                ? () -> node.metric(BUDGET_CLOSES) > 0
                : () -> crowd.rounds() >= 10;
        node.await(filled, FILL_BOUND);
        fill = System.nanoTime() - fill;
        before = node.metrics();
        kernelBefore = Kernel.sample(node.port);
        loadBefore = loadAverage();
        load = load(node, name + "-", dir);
        loadAfter = loadAverage();
        kernelAfter = Kernel.sample(node.port);
        after = node.metrics();
        report = crowd.finish(Duration.ofSeconds(60));
      }
      boolean upAndReady = node.upAndReady();
      return new Run(
          name,
          load,
          report,
          before,
          after,
          kernelBefore,
          kernelAfter,
          TimeUnit.NANOSECONDS.toSeconds(fill),
          loadBefore,
          loadAfter,
          Gc.parse(dir.resolve(name + "-gc.log")),
          upAndReady,
          node.log);
    } finally {
      node.stop();
    }
  }

  /** What one run measured. */
  private record Run(
      String name,
      Load load,
      SilentCrowd.Report crowd,
      Map<String, Double> before,
      Map<String, Double> after,
      Kernel kernelBefore,
      Kernel kernelAfter,
      long fillSeconds,
      String loadBefore,
      String loadAfter,
      Gc gc,
      boolean upAndReady,
      Path log) {
    double p99() {
      return Double.parseDouble(load.json.getOrDefault("p99_ms", "NaN"));
    }

    double closesBy(String series) {
      return after.getOrDefault(series, 0.0);
    }

    double budgetClosesDuringLoad() {
      return closesBy(BUDGET_CLOSES) - before.getOrDefault(BUDGET_CLOSES, 0.0);
    }

    String describe(String what) {
      Map<String, String> j = load.json;
      return String.format(
          "slow consumers [%s]: load tester exit %d, received %s of %s, lost %s, dup %s, reord %s,"
              + " errors %s, unacked %s, closes %s; p50 %s ms, p99 %s ms, p99.9 %s ms, max %s ms;"
              + " cpu %% machine %s, load tester %s; %s; after %d s of feed: budget closes %.0f"
              + " (%.0f more during the load), own-bound closes %.0f, queued %,.0f B; peak queued"
              + " %,.0f B; node-side kernel send queues at the load's start %s, at its end %s;"
              + " GC %s; node up and ready %s; load average %s -> %s",
          what,
          load.exit,
          j.get("received"),
          j.get("expected"),
          j.get("lost"),
          j.get("duplicated"),
          j.get("reordered"),
          j.get("errors"),
          j.get("unacked"),
          j.get("closes"),
          j.get("p50_ms"),
          j.get("p99_ms"),
          j.get("p999_ms"),
          j.get("max_ms"),
          j.get("cpu_machine_pct"),
          j.get("cpu_loadtest_pct"),
          crowd,
          fillSeconds,
          before.getOrDefault(BUDGET_CLOSES, 0.0),
          budgetClosesDuringLoad(),
          closesBy(OWN_CLOSES),
          before.getOrDefault("handoff_queued_bytes", -1.0),
          after.getOrDefault("handoff_queued_bytes_peak", -1.0),
          kernelBefore,
          kernelAfter,
          gc,
          upAndReady,
          loadBefore,
          loadAfter);
    }

    List<Executable> wellBehavedChecks() {
      String what = name + " run: " + load.last;
      List<Executable> checks = new ArrayList<>();
      checks.add(() -> assertEquals(0, load.exit, what + "\n" + load.errTail));
      for (String zero :
          List.of(
              "lost",
              "duplicated",
              "reordered",
              "errors",
              "unacked",
              "applied_out_of_order",
              "version_reused")) {
        checks.add(() -> assertEquals("0", load.json.get(zero), zero + ", " + what));
      }
      checks.add(
          () ->
              assertEquals(
                  "{}", load.json.get("closes"), "no well-behaved device closed, " + what));
      checks.add(() -> assertEquals(load.json.get("expected"), load.json.get("received"), what));
      checks.add(
          () ->
              assertTrue(
                  crowd.everyWriteAccepted() && crowd.settled(),
                  name + " run: every feeder's write acked, none refused: " + crowd));
      checks.add(
          () -> assertTrue(upAndReady, name + " run: the node is up and ready; its log: " + log));
      return checks;
    }
  }

  /** The load tester's result: its exit code and the fields of its last (JSON) line. */
  private record Load(int exit, Map<String, String> json, String last, String errTail) {}

  /** Runs the load tester (fanout) in its own process against {@code node}. */
  private static Load load(Node node, String prefix, Path dir) throws Exception {
    Path out = dir.resolve(prefix + "loadtest.out");
    Path err = dir.resolve(prefix + "loadtest.err");
    List<String> cmd =
        List.of(
            Path.of(System.getProperty("java.home"), "bin", "java").toString(),
            "-Xmx1g",
            "-cp",
            System.getProperty("java.class.path"),
            "io.handoff.loadtest.Main",
            "fanout",
            "--url",
            "ws://127.0.0.1:" + node.port + "/ws",
            "--users",
            Integer.toString(USERS),
            "--devices",
            Integer.toString(DEVICES),
            "--rate",
            RATE,
            "--payload",
            PAYLOAD,
            "--duration",
            DURATION,
            "--warmup",
            "5s",
            "--connect-concurrency",
            "32",
            "--connect-timeout",
            "300s",
            "--user-prefix",
            prefix,
            "--jwt-secret",
            SECRET,
            "--json");
    Process p =
        new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
    if (!p.waitFor(15, TimeUnit.MINUTES)) {
      p.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
    }
    String stdout = Files.readString(out).strip();
    String last = stdout.substring(stdout.lastIndexOf('\n') + 1);
    return new Load(p.exitValue(), fields(last), last, tail(err));
  }

  private static String tail(Path file) throws IOException {
    String all = Files.readString(file);
    return all.substring(Math.max(0, all.length() - 4000));
  }

  private static String loadAverage() throws IOException {
    String[] f = Files.readString(Path.of("/proc/loadavg")).trim().split(" ");
    return f[0] + " " + f[1] + " " + f[2];
  }

  private static final Pattern FIELD =
      Pattern.compile("\"(\\w+)\":(\"(?:[^\"\\\\]|\\\\.)*\"|\\[[^\\]]*\\]|\\{[^}]*\\}|[^,}]+)");

  private static Map<String, String> fields(String line) {
    Map<String, String> out = new LinkedHashMap<>();
    if (!line.startsWith("{") || !line.endsWith("}")) {
      return out;
    }
    Matcher m = FIELD.matcher(line);
    while (m.find()) {
      String v = m.group(2);
      out.put(m.group(1), v.startsWith("\"") ? v.substring(1, v.length() - 1) : v);
    }
    return out;
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  /**
   * What the kernel holds on the node's side of its established device sockets (the send queues of
   * {@code /proc/net/tcp} and {@code tcp6}: Java's sockets are IPv6 ones where it can): sockets,
   * their total, the largest, and how many hold 64 KiB or more.
   */
  private record Kernel(int sockets, long total, long largest, int backedUp) {
    static Kernel sample(int port) throws IOException {
      List<String> lines = new ArrayList<>();
      for (String table : List.of("/proc/net/tcp", "/proc/net/tcp6")) {
        if (Files.isReadable(Path.of(table))) {
          lines.addAll(Files.readAllLines(Path.of(table)));
        }
      }
      if (lines.isEmpty()) {
        return new Kernel(-1, -1, -1, -1);
      }
      String local = String.format(":%04X", port);
      int sockets = 0;
      int backedUp = 0;
      long total = 0;
      long largest = 0;
      for (String line : lines) {
        String[] f = line.trim().split("\\s+");
        // sl local_address rem_address st tx_queue:rx_queue ...; 01 is ESTABLISHED.
        if (f.length > 4 && f[1].endsWith(local) && f[3].equals("01")) {
          long tx = Long.parseLong(f[4].substring(0, f[4].indexOf(':')), 16);
          sockets++;
          total += tx;
          largest = Math.max(largest, tx);
          backedUp += tx >= 64 * 1024 ? 1 : 0;
        }
      }
      return new Kernel(sockets, total, largest, backedUp);
    }

    @Override
    public String toString() {
      return sockets < 0
          ? "(no /proc/net/tcp)"
          : String.format(
              "%,d B in %d sockets (largest %,d B, %d holding 64 KiB or more)",
              total, sockets, largest, backedUp);
    }
  }

  /** The node's collector pauses, from its {@code -Xlog:gc} file. */
  private record Gc(int pauses, int full, double totalMillis, double longestMillis, long heapMb) {
    private static final Pattern PAUSE =
        Pattern.compile("Pause (\\w+).*?(\\d+)M->(\\d+)M.* ([\\d.]+)ms$");

    static Gc parse(Path log) throws IOException {
      if (!Files.exists(log)) {
        return new Gc(-1, 0, 0, 0, 0);
      }
      int pauses = 0;
      int full = 0;
      double total = 0;
      double longest = 0;
      long heap = 0;
      for (String line : Files.readAllLines(log)) {
        Matcher m = PAUSE.matcher(line);
        if (m.find()) {
          pauses++;
          full += m.group(1).equals("Full") ? 1 : 0;
          double ms = Double.parseDouble(m.group(4));
          total += ms;
          longest = Math.max(longest, ms);
          heap = Math.max(heap, Long.parseLong(m.group(3)));
        }
      }
      return new Gc(pauses, full, total, longest, heap);
    }

    @Override
    public String toString() {
      return pauses < 0
          ? "(no log)"
          : String.format(
              "%d pauses (%d full), %.0f ms in all, longest %.1f ms, heap occupied after a pause"
                  + " at most %d MB",
              pauses, full, totalMillis, longestMillis, heapMb);
    }
  }

  /** A node process: {@code -Xmx256m}, the default direct-memory limit, exits on OOM. */
  private record Node(Process process, int port, int adminPort, Path log) {
    static Node start(String redisUrl, Path log, Path gcLog) throws Exception {
      int port = freePort();
      int admin = freePort();
      while (admin == port) {
        admin = freePort();
      }
      String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
      List<String> cmd =
          new ArrayList<>(
              List.of(
                  java,
                  "-Xmx256m",
                  "-XX:+ExitOnOutOfMemoryError",
                  "-Xlog:gc:file=" + gcLog,
                  "-cp",
                  System.getProperty("java.class.path"),
                  "io.handoff.server.Main",
                  "--host",
                  "127.0.0.1",
                  "--port",
                  Integer.toString(port),
                  "--admin-port",
                  Integer.toString(admin),
                  "--node-id",
                  "fault",
                  "--jwt-secret",
                  SECRET,
                  "--redis-url",
                  redisUrl,
                  "--history-length",
                  "20"));
      if (SEND_BUFFER != null) {
        cmd.addAll(List.of("--socket-send-buffer", SEND_BUFFER));
      }
      Process p =
          new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
      Node node = new Node(p, port, admin, log);
      node.await(() -> node.status("/readyz") == 200, Duration.ofSeconds(60));
      assertTrue(node.status("/readyz") == 200, "the node became ready: " + Files.readString(log));
      return node;
    }

    /** Waits until {@code done} or {@code bound} passes; fails at once if the node exits. */
    void await(BooleanSupplier done, Duration bound) throws Exception {
      long deadline = System.nanoTime() + bound.toNanos();
      while (!done.getAsBoolean() && System.nanoTime() < deadline) {
        assertTrue(process.isAlive(), "the node exited: " + Files.readString(log));
        process.waitFor(200, TimeUnit.MILLISECONDS); // Polls; returns early if the node exits.
      }
    }

    int status(String path) {
      try {
        return HttpClient.newHttpClient()
            .send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + adminPort + path))
                    .timeout(Duration.ofSeconds(5))
                    .build(),
                HttpResponse.BodyHandlers.discarding())
            .statusCode();
      } catch (IOException e) {
        return -1;
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return -1;
      }
    }

    boolean upAndReady() {
      return process.isAlive() && status("/readyz") == 200;
    }

    double metric(String series) {
      try {
        return metrics().getOrDefault(series, 0.0);
      } catch (Exception unreachable) {
        return 0;
      }
    }

    /** The node's own series from {@code /metrics}, by name with labels other than node. */
    Map<String, Double> metrics() throws Exception {
      String text =
          HttpClient.newHttpClient()
              .send(
                  HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + adminPort + "/metrics"))
                      .timeout(Duration.ofSeconds(10))
                      .build(),
                  HttpResponse.BodyHandlers.ofString())
              .body();
      Map<String, Double> out = new LinkedHashMap<>();
      for (String line : text.split("\n")) {
        if (line.startsWith("handoff_")) {
          int space = line.lastIndexOf(' ');
          String key = line.substring(0, space).replaceAll(",?node=\"[^\"]*\",?", "");
          out.put(key.replace("{}", ""), Double.parseDouble(line.substring(space + 1)));
        }
      }
      return out;
    }

    void stop() throws InterruptedException {
      process.destroy();
      if (!process.waitFor(30, TimeUnit.SECONDS)) {
        process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
      }
    }
  }
}
