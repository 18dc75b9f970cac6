package io.handoff.loadtest;

import static io.handoff.loadtest.Run.run;
import static io.handoff.loadtest.SmokeNode.assertNothingWentWrong;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The idle scenario against a real node in this JVM, checked through the JSON line as {@link
 * ScenarioSmokeTest} checks the others. A class of its own: most of its time is the hold and the
 * memory readings, which the other smoke classes' runs do not wait for.
 */
class IdleSmokeTest {

  @Test
  void idleHoldsEveryConnectionThroughHeartbeatsAndReadsServerMemory() throws Exception {
    // A node with short heartbeats, so that the connections live through a ping in a few seconds;
    // not shorter, because a device starved of CPU for two intervals is closed.
    Run run;
    try (SmokeNode node = SmokeNode.start("loadtest-smoke-idle", Duration.ofSeconds(3))) {
      run =
          run(
              "idle",
              "--url",
              node.url,
              "--users",
              "50",
              "--devices",
              "2",
              "--duration",
              "4s",
              "--server-pid",
              Long.toString(ProcessHandle.current().pid()),
              "--source-addresses",
              "2",
              "--jwt-secret",
              node.secret,
              "--json");
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
}
