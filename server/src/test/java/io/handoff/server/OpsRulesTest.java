package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.File;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * The operator's files in {@code ops/}: the Prometheus rules pass {@code promtool check rules}, and
 * every metric the rules and the Grafana dashboard name is one a running node exports, so an alert
 * copied from them never silently matches nothing.
 */
class OpsRulesTest {
  private static final Path OPS = Path.of("..", "ops");
  static final Path RULES = OPS.resolve("prometheus/handoff-rules.yml");
  static final Path DASHBOARD = OPS.resolve("grafana/handoff-dashboard.json");
  private static final Pattern METRIC =
      Pattern.compile("\\b((?:handoff|jvm|process|netty|system)_[a-z0-9_]*[a-z0-9])\\b");

  @Test
  void promtoolAcceptsTheRules() throws Exception {
    String promtool = onPath("promtool");
    if (promtool == null) {
      if (System.getenv("CI") != null) {
        fail(
            "promtool is not installed; CI needs it to check ops/prometheus/handoff-rules.yml:"
                + " apt-get install prometheus (Debian), or put Prometheus's promtool on PATH");
      }
      Assumptions.abort("promtool not on PATH (apt-get install prometheus); CI requires it");
    }
    Process p =
        new ProcessBuilder(promtool, "check", "rules", RULES.toString())
            .redirectErrorStream(true)
            .start();
    String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(60, TimeUnit.SECONDS), "promtool finished");
    assertEquals(0, p.exitValue(), output);
    assertTrue(output.contains("SUCCESS"), output);
  }

  /** The alerts do what docs/operations.md says ("What to alert on"): promtool's unit tests. */
  @Test
  void promtoolUnitTestsOfTheAlertsPass() throws Exception {
    String promtool = onPath("promtool");
    Assumptions.assumeTrue(promtool != null || System.getenv("CI") != null, "promtool not on PATH");
    Process p =
        new ProcessBuilder(promtool, "test", "rules", "handoff-rules.test.yml")
            .directory(RULES.getParent().toFile())
            .redirectErrorStream(true)
            .start();
    String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(60, TimeUnit.SECONDS), "promtool finished");
    assertEquals(0, p.exitValue(), output);
  }

  @Test
  void everyMetricInTheRulesAndTheDashboardIsExportedByARunningNode() throws Exception {
    Set<String> exported;
    try (TestServer server = TestServer.start()) {
      String body =
          HttpClient.newHttpClient()
              .send(
                  HttpRequest.newBuilder(
                          URI.create("http://127.0.0.1:" + server.port() + "/metrics"))
                      .build(),
                  HttpResponse.BodyHandlers.ofString())
              .body();
      exported = exported(body);
    }
    assertTrue(exported.contains("handoff_connections"), "the scrape has the node's meters");
    for (Path file : new Path[] {RULES, DASHBOARD}) {
      Set<String> named = named(Files.readString(file));
      assertFalse(named.isEmpty(), file + " names metrics");
      Set<String> missing = new TreeSet<>(named);
      missing.removeAll(exported);
      assertTrue(missing.isEmpty(), file + " names metrics the node does not export: " + missing);
    }
    Set<String> typo = named("rate(handoff_offers_created_total[5m])");
    typo.removeAll(exported);
    assertEquals(Set.of("handoff_offers_created_total"), typo, "the check catches a wrong name");
  }

  /** Series names in a Prometheus text exposition. */
  static Set<String> exported(String scrape) {
    Set<String> names = new TreeSet<>();
    for (String line : scrape.split("\n")) {
      if (!line.isEmpty() && !line.startsWith("#")) {
        int end = line.indexOf('{');
        names.add(line.substring(0, end >= 0 ? end : line.indexOf(' ')));
      }
    }
    return names;
  }

  /** Metric names in rule expressions or dashboard queries (recording rules' names have colons). */
  static Set<String> named(String text) {
    Set<String> names = new TreeSet<>();
    Matcher m = METRIC.matcher(text);
    while (m.find()) {
      names.add(m.group(1));
    }
    return names;
  }

  private static String onPath(String command) {
    for (String dir : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
      Path p = Path.of(dir, command);
      if (Files.isExecutable(p)) {
        return p.toString();
      }
    }
    return null;
  }
}
