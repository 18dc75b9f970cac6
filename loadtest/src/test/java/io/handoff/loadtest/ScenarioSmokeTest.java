package io.handoff.loadtest;

import static io.handoff.loadtest.Run.run;
import static io.handoff.loadtest.SmokeNode.assertNothingWentWrong;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.server.auth.DevTokens;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The fanout and handoff scenarios on calm connections against a real node in this JVM, and the
 * command lines and servers a run refuses, checked through the JSON line, as other tools read it;
 * {@link ReconnectSmokeTest} has the runs whose connections are cut, {@link IdleSmokeTest} the idle
 * scenario. No assertion on latency: these runs share a CI machine. A run's writes (or offers) are
 * a count, rate x duration, sent at a rate that takes half a second.
 */
class ScenarioSmokeTest {
  private static SmokeNode node;

  @BeforeAll
  static void startNode() throws InterruptedException {
    node = SmokeNode.start("loadtest-smoke");
  }

  @AfterAll
  static void stopNode() {
    node.close();
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

  /** 20 users x 3 devices, 400 writes at 800 writes/s, with {@code more} options. */
  private static Run calmFanout(String... more) {
    List<String> args =
        new ArrayList<>(
            List.of(
                "fanout",
                "--drain-timeout",
                "60s",
                "--url",
                node.url,
                "--users",
                "20",
                "--devices",
                "3",
                "--rate",
                "800",
                "--duration",
                "500ms",
                "--jwt-secret",
                node.secret,
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
  void anUnknownSchedulingPolicyIsRefusedWithItsName() {
    Run run =
        run(
            "fanout",
            "--url",
            node.url,
            "--scheduling",
            "fast",
            "--jwt-secret",
            node.secret,
            "--json");
    assertEquals(2, run.exit(), run.err());
    assertTrue(run.err().contains("--scheduling must be batch or normal, was fast"), run.err());
  }

  @Test
  void handoffGrantsEveryOfferToExactlyOneOfTheConcurrentAccepts(@TempDir Path dir)
      throws Exception {
    Path report = dir.resolve("handoff.html");
    Run run =
        run(
            "handoff",
            "--url",
            node.url,
            "--users",
            "10",
            "--devices",
            "3",
            "--rate",
            "80",
            "--duration",
            "500ms",
            "--jwt-secret",
            node.secret,
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
    Run run = run("handoff", "--url", node.url, "--devices", "1", "--jwt-secret", node.secret);

    assertEquals(2, run.exit());
    assertTrue(run.err().contains("at least 2"), run.err());
  }

  @Test
  void aBadCommandLineIsAUsageError() {
    assertEquals(2, run("fanout", "--users", "2").exit(), "--url missing");
    assertEquals(2, run("nosuch", "--url", node.url).exit());
    Run remote = run("fanout", "--url", "ws://192.0.2.1:8080/ws", "--jwt-secret", node.secret);
    assertEquals(2, remote.exit());
    assertTrue(remote.err().contains("--allow-remote"), remote.err());
    Run shortSecret = run("fanout", "--url", node.url, "--jwt-secret", "short");
    assertEquals(2, shortSecret.exit());
    assertTrue(shortSecret.err().contains("at least 32 bytes"), shortSecret.err());
  }

  @Test
  void aWrongSecretFailsTheRunInsteadOfHanging() {
    Run run =
        run(
            "fanout",
            "--url",
            node.url,
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
            node.secret,
            "--json");

    assertEquals(Result.EXIT_FAILED, run.exit());
    String said = run.out() + run.err();
    assertTrue(said.contains("giving up: no device could connect"), said);
    assertTrue(said.contains("connection refused by ws://127.0.0.1:" + closedPort), said);
    assertEquals("false", run.json().get("ok"));
  }
}
