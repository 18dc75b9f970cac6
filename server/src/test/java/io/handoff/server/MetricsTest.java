package io.handoff.server;

import static io.handoff.server.TestServer.token;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.ServerFrame;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** {@code /metrics} speaks Prometheus text and counts what the node did. */
class MetricsTest {
  private static HttpResponse<String> get(int port, String path) throws Exception {
    return HttpClient.newHttpClient()
        .send(
            HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).build(),
            HttpResponse.BodyHandlers.ofString());
  }

  /** The value of the sample whose line starts with {@code series} (name and labels). */
  private static double sample(String body, String name, String label) {
    Matcher m =
        Pattern.compile(
                "^" + Pattern.quote(name) + "\\{[^}]*" + Pattern.quote(label) + "[^}]*} (\\S+)$",
                Pattern.MULTILINE)
            .matcher(body);
    assertTrue(m.find(), "no sample " + name + "{" + label + "} in\n" + body);
    return Double.parseDouble(m.group(1));
  }

  @Test
  void metricsCountConnectionsWritesDeliveriesAndSyncLag() throws Exception {
    try (TestServer server = TestServer.start(b -> b.nodeId("metrics-node"));
        TestDevice writer = TestDevice.connect(server.port(), token("m1", "phone"));
        TestDevice reader = TestDevice.connect(server.port(), token("m1", "tv"))) {
      writer.hello();
      reader.hello();
      for (int i = 1; i <= 3; i++) {
        writer.send(Writes.frame("player", i, "position", i + "s"));
        reader.next(ServerFrame::hasDelta);
      }
      assertEquals(401, TestDevice.upgradeStatus(server.port(), "not-a-token"));

      HttpResponse<String> res = get(server.port(), "/metrics");
      assertEquals(200, res.statusCode());
      assertTrue(res.headers().firstValue("content-type").orElse("").startsWith("text/plain"));
      String body = res.body();
      String node = "node=\"metrics-node\"";
      assertEquals(3.0, sample(body, "handoff_writes_applied_total", node));
      assertEquals(3.0, sample(body, "handoff_deltas_out_total", node));
      assertEquals(3.0, sample(body, "handoff_sync_lag_seconds_count", node));
      assertEquals(1.0, sample(body, "handoff_auth_failures_total", node));
      assertEquals(2.0, sample(body, "handoff_sessions", node));
      assertEquals(1.0, sample(body, "handoff_users", node));
      assertEquals(1.0, sample(body, "handoff_ready", node));
      assertTrue(sample(body, "handoff_connections", node) >= 2);
      assertEquals(0.0, sample(body, "handoff_anomalies_total", "kind=\"refresh_token_reuse\""));
      assertEquals(0.0, sample(body, "handoff_offers_ended_total", "outcome=\"accepted\""));
      assertEquals(0.0, sample(body, "handoff_transition_seconds_count", node));
      assertTrue(sample(body, "jvm_memory_used_bytes", "area=\"heap\"") > 0, "JVM meters");
      assertTrue(body.contains("netty_allocator_memory_used"), "Netty buffer-pool meters");
      assertTrue(body.contains("netty_eventexecutor_tasks_pending"), "event-loop meters");
    }
  }
}
