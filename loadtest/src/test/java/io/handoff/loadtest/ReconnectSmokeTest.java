package io.handoff.loadtest;

import static io.handoff.loadtest.Run.run;
import static io.handoff.loadtest.SmokeNode.assertNothingWentWrong;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.server.HandoffServer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The runs whose devices lose their connections, against a real node in this JVM: cut at random,
 * all at once (storms), or by a node drained mid-run; every device resumes and nothing may be lost.
 * Checked through the JSON line, as {@link ScenarioSmokeTest} checks the calm runs, with as many
 * writes and cuts as a rate times a duration give, at rates that take a second or two.
 */
class ReconnectSmokeTest {
  private static SmokeNode node;

  @BeforeAll
  static void startNode() throws InterruptedException {
    node = SmokeNode.start("loadtest-smoke-reconnect");
  }

  @AfterAll
  static void stopNode() {
    node.close();
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
            "400",
            "--duration",
            "1500ms",
            "--drop-rate",
            "20",
            "--storm",
            "--storm-at",
            "500ms");
    assertTrue(Long.parseLong(json.get("cut")) >= 60, "the storm cut every connection");
    assertTrue(Long.parseLong(json.get("resumes")) >= 60, "every cut device resumed");
    assertTrue(Double.parseDouble(json.get("storm_all_resumed_ms")) > 0);
  }

  @Test
  void warmupCutsHappenDuringTheWarmupAndLoseNothing() {
    Map<String, String> json = warmupOnlyCuts(line -> {}, "1s", "--warmup-drop-rate", "40");
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
            "1500ms",
            "--warmup-storms",
            "2");
    assertEquals(2, storms.size(), String.join("\n", storms));
    assertTrue(storms.get(0).startsWith("warm-up storm 1 of 2: cut 20 "), storms.get(0));
    assertTrue(storms.get(1).startsWith("warm-up storm 2 of 2: cut "), storms.get(1));
    // No cuts were asked for outside the warm-up: the first storm alone cut every connection.
    assertTrue(Long.parseLong(json.get("cut")) >= 20, json.get("cut"));
  }

  /**
   * A {@link #reconnect} run of 10 users x 2 devices at 200 writes/s for 0.5 s after {@code
   * warmup}, with no random cuts but what {@code cuts} asks for during the warm-up.
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
                "200",
                "--warmup",
                warmup,
                "--duration",
                "500ms",
                "--drop-rate",
                "0"));
    args.addAll(List.of(cuts));
    return reconnect(progress, args.toArray(String[]::new));
  }

  @Test
  void aNegativeWarmupStormCountIsRefusedWithItsName() {
    Run run =
        run(
            "reconnect",
            "--url",
            node.url,
            "--warmup-storms",
            "-1",
            "--jwt-secret",
            node.secret,
            "--json");
    assertEquals(2, run.exit(), run.err());
    assertTrue(run.err().contains("--warmup-storms must be >= 0, was -1"), run.err());
  }

  @Test
  void everyDeviceGetsEveryUrlAndANodeDrainedMidRunIsADocumentedCloseNotAnError() throws Exception {
    HandoffServer second = node.another("loadtest-smoke-2", SmokeNode.HEARTBEAT);
    // Stops the second node mid-run: once it has applied 60 of the run's 600 writes (about half of
    // them go through it until then), whenever that is on a busy machine.
    AtomicBoolean runOver = new AtomicBoolean();
    Thread stopper =
        new Thread(
            () -> {
              SmokeNode.awaitWritesApplied(second, 60, runOver);
              second.close();
            },
            "smoke-stop-second-node");
    stopper.start();
    Run run;
    try {
      run =
          run(
              "fanout",
              "--drain-timeout",
              "60s",
              "--url",
              node.url + "," + SmokeNode.url(second),
              "--users",
              "20",
              "--devices",
              "3",
              "--rate",
              "600",
              "--duration",
              "1s",
              "--jwt-secret",
              node.secret,
              "--json");
    } finally {
      runOver.set(true);
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

  /**
   * Runs the reconnect scenario against this test's node with {@code options}, and returns its JSON
   * once it exited 0 with nothing wrong and every replica converged; {@code progress} sees each
   * progress line as it comes.
   */
  private static Map<String, String> reconnect(Consumer<String> progress, String... options) {
    List<String> args = new ArrayList<>();
    // Ends as soon as everything is delivered; generous for a machine busy with other work.
    args.addAll(List.of("reconnect", "--drain-timeout", "60s", "--url", node.url));
    args.addAll(List.of(options));
    args.addAll(List.of("--jwt-secret", node.secret, "--json"));
    Run run = run(progress, args.toArray(String[]::new));
    assertEquals(0, run.exit(), run.err());
    Map<String, String> json = run.json();
    assertNothingWentWrong(json);
    assertEquals("0", json.get("unconverged"));
    return json;
  }

  private static Map<String, String> reconnect(String... options) {
    return reconnect(line -> {}, options);
  }
}
