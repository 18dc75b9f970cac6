package io.handoff.loadtest;

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
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import redis.embedded.RedisServer;

/**
 * A node process with a 256 MB heap (and the default direct-memory limit), on a real Redis: 900
 * well-behaved devices write through the load tester while 200 devices of other users never read
 * (and reconnect whenever the node closes them), each sent 16 KiB a second by a feeder device of
 * its user. Compared with the same run without the silent devices: the node stays up and ready, the
 * well-behaved devices lose nothing and are never closed, their p99 stays within 5x, and the node's
 * queue budget is what closed the silent ones.
 *
 * <p>Long (two runs of {@link #DURATION}); tagged {@code fault}: {@code ./mvnw -B verify -Pfaults
 * -pl loadtest -am}. Figures are printed on one line, as recorded in BENCHMARKS.md.
 */
@Tag("fault")
class SlowConsumersFaultTest {
  private static final String SECRET = DevTokens.randomSecret();
  private static final int USERS = 300;
  private static final int DEVICES = 3;
  private static final int SILENT = 200;
  private static final String RATE = System.getProperty("handoff.fault.rate", "300");
  private static final String PAYLOAD = System.getProperty("handoff.fault.payload", "1024");
  // What each silent device's user writes for it, once a second: 200 x 16 KiB a second reach the
  // node's queues (held twice: parsed and encoded), so the default budget of a 256 MB node (64 MiB)
  // fills in about ten seconds and the silent devices' own bounds (4 MiB each) would take the heap.
  private static final int FEED_BYTES = 16 * 1024;
  private static final String DURATION = System.getProperty("handoff.fault.duration", "60s");

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
    try {
      String redisUrl = "redis://127.0.0.1:" + redis.ports().get(0);
      Node calm = Node.start(redisUrl, dir.resolve("calm.log"));
      Map<String, String> baseline;
      try {
        baseline = load(calm, "calm-", null, dir);
        calm.assertUpAndReady();
      } finally {
        calm.stop();
      }
      Node node = Node.start(redisUrl, dir.resolve("silent.log"));
      Map<String, String> loaded;
      Map<String, Double> metrics;
      long reconnects;
      try {
        Tokens tokens = new Tokens(SECRET);
        List<String> silentTokens = new ArrayList<>();
        List<String> feederTokens = new ArrayList<>();
        for (int u = 0; u < SILENT; u++) {
          silentTokens.add(tokens.mint("quiet-u" + u, "silent", Duration.ofHours(1)));
          feederTokens.add(tokens.mint("quiet-u" + u, "feeder", Duration.ofHours(1)));
        }
        try (SilentCrowd crowd =
            new SilentCrowd(node.port, silentTokens, feederTokens, FEED_BYTES)) {
          loaded = load(node, "silent-", crowd, dir);
          reconnects = crowd.reconnects();
        }
        node.assertUpAndReady();
        metrics = node.metrics();
      } finally {
        node.stop();
      }
      double p99Calm = Double.parseDouble(baseline.get("p99_ms"));
      double p99Loaded = Double.parseDouble(loaded.get("p99_ms"));
      double budgetCloses =
          metrics.getOrDefault(
              "handoff_slow_consumer_disconnects_total{reason=\"node_budget\"}", 0.0);
      double ownCloses =
          metrics.getOrDefault(
              "handoff_slow_consumer_disconnects_total{reason=\"connection_limit\"}", 0.0);
      System.out.printf(
          "slow consumers: rate %s/s payload %s B, %d x %d devices, %d silent; p99 calm %.1f ms,"
              + " with silent %.1f ms (ratio %.2f); received %s of %s; closes by budget %.0f, by"
              + " own bound %.0f; silent reconnects %d; highest queued %.0f of budget %.0f;"
              + " load %s%n",
          RATE,
          PAYLOAD,
          USERS,
          DEVICES,
          SILENT,
          p99Calm,
          p99Loaded,
          p99Loaded / Math.max(p99Calm, 0.001),
          loaded.get("received"),
          loaded.get("expected"),
          budgetCloses,
          ownCloses,
          reconnects,
          metrics.getOrDefault("handoff_queued_bytes_peak", -1.0),
          metrics.getOrDefault("handoff_queued_bytes_budget", -1.0),
          Files.readString(Path.of("/proc/loadavg")).trim());
      assertTrue(budgetCloses > 0, "the node's budget closed silent devices");
      assertTrue(
          p99Loaded <= 5 * Math.max(p99Calm, 1.0),
          "p99 with silent devices " + p99Loaded + " ms, without " + p99Calm + " ms");
    } finally {
      redis.stop();
    }
  }

  /**
   * Runs the load tester (fanout) in its own process against {@code node} and checks nothing went
   * wrong.
   */
  private static Map<String, String> load(Node node, String prefix, SilentCrowd crowd, Path dir)
      throws Exception {
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
      p.destroyForcibly();
    }
    int exit = p.exitValue();
    String stdout = Files.readString(out).strip();
    String last = stdout.substring(stdout.lastIndexOf('\n') + 1);
    Map<String, String> json = fields(last);
    String what = (crowd == null ? "without" : "with") + " silent devices: " + last;
    assertEquals(0, exit, what + "\n" + tail(err));
    for (String zero :
        List.of(
            "lost",
            "duplicated",
            "reordered",
            "errors",
            "unacked",
            "applied_out_of_order",
            "version_reused")) {
      assertEquals("0", json.get(zero), zero + " " + what);
    }
    assertEquals("{}", json.get("closes"), "no well-behaved device was closed, " + what);
    assertEquals(json.get("expected"), json.get("received"), what);
    return json;
  }

  private static String tail(Path file) throws IOException {
    String all = Files.readString(file);
    return all.substring(Math.max(0, all.length() - 4000));
  }

  private static final Pattern FIELD =
      Pattern.compile("\"(\\w+)\":(\"(?:[^\"\\\\]|\\\\.)*\"|\\[[^\\]]*\\]|\\{[^}]*\\}|[^,}]+)");

  private static Map<String, String> fields(String line) {
    assertTrue(line.startsWith("{") && line.endsWith("}"), "last line is not JSON: " + line);
    Map<String, String> out = new LinkedHashMap<>();
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

  /** A node process: {@code -Xmx256m}, the default direct-memory limit, exits on OOM. */
  private record Node(Process process, int port, int adminPort, Path log) {
    static Node start(String redisUrl, Path log) throws Exception {
      int port = freePort();
      int admin = freePort();
      String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
      List<String> cmd =
          List.of(
              java,
              "-Xmx256m",
              "-XX:+ExitOnOutOfMemoryError",
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
              "20");
      Process p =
          new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
      Node node = new Node(p, port, admin, log);
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
      while (node.status("/readyz") != 200) {
        assertTrue(p.isAlive(), "the node exited at start: " + Files.readString(log));
        assertTrue(System.nanoTime() < deadline, "the node never became ready");
        p.waitFor(200, TimeUnit.MILLISECONDS); // Polls readiness; returns early if it exits.
      }
      return node;
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

    void assertUpAndReady() throws IOException {
      assertTrue(process.isAlive(), "the node is up: " + Files.readString(log));
      assertEquals(200, status("/readyz"), "the node is ready (its store reachable)");
    }

    /** The node's own series from {@code /metrics}, by name with labels other than node. */
    Map<String, Double> metrics() throws Exception {
      String text =
          HttpClient.newHttpClient()
              .send(
                  HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + adminPort + "/metrics"))
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
