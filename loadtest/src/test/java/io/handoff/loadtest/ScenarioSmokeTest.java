package io.handoff.loadtest;

import static io.handoff.loadtest.Run.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.server.HandoffServer;
import io.handoff.server.ServerConfig;
import io.handoff.server.auth.DevTokens;
import io.handoff.server.engine.memory.MemoryEngine;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A few seconds of each scenario against a real node in this JVM, checked through the JSON line, as
 * other tools read it. No assertion on latency: these runs share a CI machine.
 */
class ScenarioSmokeTest {
  private static final String SECRET = DevTokens.randomSecret();

  private static MemoryEngine engine;
  private static HandoffServer server;
  private static String url;

  @BeforeAll
  static void startNode() throws InterruptedException {
    ServerConfig config =
        ServerConfig.builder()
            .host("127.0.0.1")
            .port(0)
            .nodeId("loadtest-smoke")
            .jwtSecret(SECRET)
            // Long enough that a device starved of CPU on a busy machine is not closed as idle
            // (silence for two intervals); the idle scenario runs on a node of its own.
            .heartbeatInterval(Duration.ofSeconds(10))
            .build();
    engine = new MemoryEngine(config.storeLimits());
    server = HandoffServer.start(config, engine);
    url = "ws://127.0.0.1:" + server.port() + "/ws";
  }

  @AfterAll
  static void stopNode() {
    server.close();
    engine.close();
  }

  @Test
  void fanoutDeliversEveryWriteToTheOtherDevicesOnceAndInOrder(@TempDir Path dir) throws Exception {
    Path report = dir.resolve("fanout.html");
    Run run = calmFanout("--payload", "256", "--report", report.toString());

    Map<String, String> json = assertEveryWriteDelivered(run);
    assertEquals("0", json.get("resent"), "nothing to re-send on a calm run");
    assertEquals("{}", json.get("closes"));
    for (String field :
        List.of(
            "p50_ms",
            "p90_ms",
            "p99_ms",
            "p999_ms",
            "max_ms",
            "delivered_per_s",
            "cpu_loadtest_pct",
            "loadtester_cpu_us_per_delivery",
            "load_average")) {
      assertTrue(json.containsKey(field), field + " missing from " + run.lastLine());
    }
    String html = Files.readString(report);
    assertTrue(html.contains("Latency over time"), "report has the latency chart");
    assertTrue(html.contains("Latency histogram"), "report has the histogram");
    assertTrue(html.contains("--jwt-secret ***"), "report hides the secret");
  }

  @Test
  void fanoutOnTheJavaClientCountsTheSameAsOnTheLeanConnection() {
    Map<String, String> json = assertEveryWriteDelivered(calmFanout("--full-client"));
    assertEquals("0", json.get("unconverged"));
    assertEquals("0", json.get("diverged"));
  }

  /** 20 users x 3 devices, 200 writes/s for 2 s, with {@code more} options. */
  private static Run calmFanout(String... more) {
    List<String> args =
        new ArrayList<>(
            List.of(
                "fanout",
                "--drain-timeout",
                "60s",
                "--url",
                url,
                "--users",
                "20",
                "--devices",
                "3",
                "--rate",
                "200",
                "--duration",
                "2s",
                "--jwt-secret",
                SECRET,
                "--json"));
    args.addAll(List.of(more));
    return run(args.toArray(String[]::new));
  }

  /** A {@link #calmFanout} run passed and delivered its 400 writes to the 2 other devices each. */
  private static Map<String, String> assertEveryWriteDelivered(Run run) {
    assertEquals(0, run.exit(), run.err());
    Map<String, String> json = run.json();
    assertEquals("60", json.get("connections"));
    assertEquals("400", json.get("sent"));
    assertEquals("800", json.get("expected"));
    assertEquals("800", json.get("received"));
    assertNothingWentWrong(json);
    return json;
  }

  @Test
  void reconnectLosesNothingWhileConnectionsAreCutAndAfterAStorm() {
    Map<String, String> json =
        reconnect(
            "--users",
            "20",
            "--devices",
            "3",
            "--rate",
            "200",
            "--duration",
            "3s",
            "--drop-rate",
            "10",
            "--storm",
            "--storm-at",
            "1s");
    assertTrue(Long.parseLong(json.get("cut")) >= 60, "the storm cut every connection");
    assertTrue(Long.parseLong(json.get("resumes")) >= 60, "every cut device resumed");
    assertTrue(Double.parseDouble(json.get("storm_all_resumed_ms")) > 0);
  }

  @Test
  void warmupCutsHappenDuringTheWarmupAndLoseNothing() {
    Map<String, String> json = warmupOnlyCuts(line -> {}, "2s", "--warmup-drop-rate", "20");
    // No random cuts were asked for outside the warm-up: every cut is a warm-up cut.
    assertTrue(Long.parseLong(json.get("cut")) > 0, "the warm-up cut connections");
  }

  @Test
  void warmupStormsCutEveryConnectionDuringTheWarmupAndLoseNothing() {
    List<String> storms = new CopyOnWriteArrayList<>();
    Map<String, String> json =
        warmupOnlyCuts(
            line -> {
              if (line.startsWith("warm-up storm")) {
                storms.add(line);
              }
            },
            "3s",
            "--warmup-storms",
            "2");
    assertEquals(2, storms.size(), String.join("\n", storms));
    assertTrue(storms.get(0).startsWith("warm-up storm 1 of 2: cut 20 "), storms.get(0));
    assertTrue(storms.get(1).startsWith("warm-up storm 2 of 2: cut "), storms.get(1));
    // No cuts were asked for outside the warm-up: the first storm alone cut every connection.
    assertTrue(Long.parseLong(json.get("cut")) >= 20, json.get("cut"));
  }

  /**
   * A {@link #reconnect} run of 10 users x 2 devices at 100 writes/s for 1 s after {@code warmup},
   * with no random cuts but what {@code cuts} asks for during the warm-up.
   */
  private static Map<String, String> warmupOnlyCuts(
      Consumer<String> progress, String warmup, String... cuts) {
    List<String> args =
        new ArrayList<>(
            List.of(
                "--users",
                "10",
                "--devices",
                "2",
                "--rate",
                "100",
                "--warmup",
                warmup,
                "--duration",
                "1s",
                "--drop-rate",
                "0"));
    args.addAll(List.of(cuts));
    return reconnect(progress, args.toArray(String[]::new));
  }

  @Test
  void aNegativeWarmupStormCountIsRefusedWithItsName() {
    Run run =
        run("reconnect", "--url", url, "--warmup-storms", "-1", "--jwt-secret", SECRET, "--json");
    assertEquals(2, run.exit(), run.err());
    assertTrue(run.err().contains("--warmup-storms must be >= 0, was -1"), run.err());
  }

  @Test
  void anUnknownSchedulingPolicyIsRefusedWithItsName() {
    Run run = run("fanout", "--url", url, "--scheduling", "fast", "--jwt-secret", SECRET, "--json");
    assertEquals(2, run.exit(), run.err());
    assertTrue(run.err().contains("--scheduling must be batch or normal, was fast"), run.err());
  }

  @Test
  void everyDeviceGetsEveryUrlAndANodeDrainedMidRunIsADocumentedCloseNotAnError() throws Exception {
    HandoffServer second =
        HandoffServer.start(
            ServerConfig.builder()
                .host("127.0.0.1")
                .port(0)
                .nodeId("loadtest-smoke-2")
                .jwtSecret(SECRET)
                .heartbeatInterval(Duration.ofSeconds(10))
                .build(),
            engine);
    String secondUrl = "ws://127.0.0.1:" + second.port() + "/ws";
    // Stops the second node as soon as the run prints its first progress line while writing.
    CompletableFuture<Void> writing = new CompletableFuture<>();
    Thread stopper =
        new Thread(
            () -> {
              writing.join();
              second.close();
            },
            "smoke-stop-second-node");
    stopper.start();
    Run run;
    try {
      run =
          run(
              line -> {
                if (line.matches("\\s*\\d+\\.\\ds  conn \\d+/\\d+.*")) {
                  writing.complete(null);
                }
              },
              "fanout",
              "--drain-timeout",
              "60s",
              "--url",
              url + "," + secondUrl,
              "--users",
              "20",
              "--devices",
              "3",
              "--rate",
              "200",
              "--duration",
              "3s",
              "--jwt-secret",
              SECRET,
              "--json");
    } finally {
      writing.complete(null);
      stopper.join(60_000);
      second.close();
    }

    assertEquals(0, run.exit(), run.err());
    Map<String, String> json = run.json();
    assertEquals("60", json.get("connections"));
    assertNothingWentWrong(json);
    assertTrue(
        json.get("closes").matches("\\{\"4000\":\\d+\\}"),
        "the drained node's devices closed with SHUTDOWN only: " + json.get("closes"));
    assertEquals("0", json.get("missed_while_down"));
  }

  @Test
  void idleHoldsEveryConnectionThroughHeartbeatsAndReadsServerMemory() throws Exception {
    // A node of its own with short heartbeats, so that the connections live through a ping in a
    // few seconds; not shorter, because a device starved of CPU for two intervals is closed.
    HandoffServer idleNode =
        HandoffServer.start(
            ServerConfig.builder()
                .host("127.0.0.1")
                .port(0)
                .nodeId("loadtest-smoke-idle")
                .jwtSecret(SECRET)
                .heartbeatInterval(Duration.ofSeconds(3))
                .build(),
            engine);
    long pid = ProcessHandle.current().pid();
    Run run;
    try {
      run =
          run(
              "idle",
              "--url",
              "ws://127.0.0.1:" + idleNode.port() + "/ws",
              "--users",
              "50",
              "--devices",
              "2",
              "--duration",
              "4s",
              "--server-pid",
              Long.toString(pid),
              "--source-addresses",
              "2",
              "--jwt-secret",
              SECRET,
              "--json");
    } finally {
      idleNode.close();
    }

    assertEquals(0, run.exit(), run.err());
    Map<String, String> json = run.json();
    assertEquals("100", json.get("connections"));
    assertEquals("100", json.get("min_connections_held"));
    assertEquals("0", json.get("disconnects"));
    assertNothingWentWrong(json);
    assertTrue(json.containsKey("server_heap_per_connection_bytes"), run.lastLine());
    assertTrue(json.containsKey("cpu_server_pct"), run.lastLine());
  }

  @Test
  void handoffGrantsEveryOfferToExactlyOneOfTheConcurrentAccepts(@TempDir Path dir)
      throws Exception {
    Path report = dir.resolve("handoff.html");
    Run run =
        run(
            "handoff",
            "--url",
            url,
            "--users",
            "10",
            "--devices",
            "3",
            "--rate",
            "20",
            "--duration",
            "2s",
            "--jwt-secret",
            SECRET,
            "--json",
            "--report",
            report.toString());

    assertEquals(0, run.exit(), run.err());
    Map<String, String> json = run.json();
    assertEquals("30", json.get("connections"));
    assertEquals("40", json.get("offers"));
    assertEquals("40", json.get("sent"));
    assertEquals("40", json.get("winners"), "one winner per offer");
    assertEquals("0", json.get("extra_winners"));
    assertEquals("0", json.get("no_winner"));
    assertEquals("80", json.get("expected"));
    assertEquals("80", json.get("received"), "every other device got each prompt");
    assertEquals("40", json.get("losers_withdrawn_error"), "the other accept was refused");
    assertEquals("0", json.get("result_mismatches"), "each offerer's result names the winner");
    assertNothingWentWrong(json);
    for (String field : List.of("p99_ms", "accept_p99_ms", "accept_max_ms", "handoffs_per_s")) {
      assertTrue(json.containsKey(field), field + " missing from " + run.lastLine());
    }
    assertTrue(Files.readString(report).contains("Latency over time"), "report written");
  }

  @Test
  void handoffNeedsTwoDevicesPerUser() {
    Run run = run("handoff", "--url", url, "--devices", "1", "--jwt-secret", SECRET);

    assertEquals(2, run.exit());
    assertTrue(run.err().contains("at least 2"), run.err());
  }

  @Test
  void aBadCommandLineIsAUsageError() {
    assertEquals(2, run("fanout", "--users", "2").exit(), "--url missing");
    assertEquals(2, run("nosuch", "--url", url).exit());
    Run remote = run("fanout", "--url", "ws://192.0.2.1:8080/ws", "--jwt-secret", SECRET);
    assertEquals(2, remote.exit());
    assertTrue(remote.err().contains("--allow-remote"), remote.err());
    Run shortSecret = run("fanout", "--url", url, "--jwt-secret", "short");
    assertEquals(2, shortSecret.exit());
    assertTrue(shortSecret.err().contains("at least 32 bytes"), shortSecret.err());
  }

  @Test
  void aWrongSecretFailsTheRunInsteadOfHanging() {
    Run run =
        run(
            "fanout",
            "--url",
            url,
            "--users",
            "2",
            "--devices",
            "2",
            "--duration",
            "1s",
            "--connect-timeout",
            "2s",
            "--jwt-secret",
            DevTokens.randomSecret(),
            "--json");

    assertEquals(Result.EXIT_FAILED, run.exit());
    Map<String, String> json = run.json();
    assertEquals("0", json.get("connections"));
    assertEquals("false", json.get("ok"));
    String said = run.out() + run.err();
    assertTrue(said.contains("the server refused the token (bad token signature)"), said);
    assertTrue(said.contains("--jwt-secret"), "and says what to change: " + said);
  }

  @Test
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  void aStoppedServerIsReportedAsConnectionRefusedWithoutWaitingOutTheTimeout() throws Exception {
    int closedPort;
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      closedPort = s.getLocalPort();
    }
    Run run =
        run(
            "fanout",
            "--url",
            "ws://127.0.0.1:" + closedPort + "/ws",
            "--users",
            "5",
            "--devices",
            "3",
            "--duration",
            "1s",
            "--connect-timeout",
            "10m",
            "--jwt-secret",
            SECRET,
            "--json");

    assertEquals(Result.EXIT_FAILED, run.exit());
    String said = run.out() + run.err();
    assertTrue(said.contains("giving up: no device could connect"), said);
    assertTrue(said.contains("connection refused by ws://127.0.0.1:" + closedPort), said);
    assertEquals("false", run.json().get("ok"));
  }

  /**
   * Runs the reconnect scenario against this test's server with {@code options}, and returns its
   * JSON once it exited 0 with nothing wrong and every replica converged.
   */
  private static Map<String, String> reconnect(String... options) {
    return reconnect(line -> {}, options);
  }

  /** As {@link #reconnect(String...)}; {@code progress} sees each progress line as it comes. */
  private static Map<String, String> reconnect(Consumer<String> progress, String... options) {
    List<String> args = new ArrayList<>();
    // Ends as soon as everything is delivered; generous for a machine busy with other work.
    args.addAll(List.of("reconnect", "--drain-timeout", "60s", "--url", url));
    args.addAll(List.of(options));
    args.addAll(List.of("--jwt-secret", SECRET, "--json"));
    Run run = run(progress, args.toArray(String[]::new));
    assertEquals(0, run.exit(), run.err());
    Map<String, String> json = run.json();
    assertNothingWentWrong(json);
    assertEquals("0", json.get("unconverged"));
    return json;
  }

  private static void assertNothingWentWrong(Map<String, String> json) {
    assertEquals("0", json.get("lost"), "lost");
    assertEquals("0", json.get("duplicated"), "duplicated");
    assertEquals("0", json.get("reordered"), "reordered");
    assertEquals("0", json.get("errors"), "errors");
    if (json.containsKey("unacked")) {
      assertEquals("0", json.get("unacked"), "unacked");
      assertEquals("0", json.get("applied_out_of_order"), "applied_out_of_order");
      assertEquals("0", json.get("version_reused"), "version_reused");
    }
    assertEquals("true", json.get("ok"), "ok");
  }
}
