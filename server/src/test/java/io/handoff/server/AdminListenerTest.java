package io.handoff.server;

import static io.handoff.server.TestServer.token;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.redis.RedisEngine;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The management listener serves {@code /metrics}, {@code /healthz} and {@code /readyz} on a port
 * of its own, and the readiness body says why a node is not ready.
 */
class AdminListenerTest {
  private static final HttpClient HTTP = HttpClient.newHttpClient();

  static HttpResponse<String> get(int port, String path) throws Exception {
    return HTTP.send(
        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
            .timeout(Duration.ofSeconds(10))
            .build(),
        HttpResponse.BodyHandlers.ofString());
  }

  private static double sample(String body, String name) {
    Matcher m = Pattern.compile("^" + name + "\\{[^}]*} (\\S+)$", Pattern.MULTILINE).matcher(body);
    assertTrue(m.find(), "no sample " + name + " in\n" + body);
    return Double.parseDouble(m.group(1));
  }

  @Test
  void metricsMoveToTheAdminPortAndCountOnlyWebSocketConnections() throws Exception {
    try (TestServer server = TestServer.start(b -> b.admin("127.0.0.1", 0));
        TestDevice phone = TestDevice.connect(server.port(), token("a1", "phone"));
        TestDevice tv = TestDevice.connect(server.port(), token("a1", "tv"))) {
      phone.hello();
      tv.hello();
      int admin = server.server.adminPort();
      assertTrue(admin > 0 && admin != server.port());
      for (int scrape = 0; scrape < 3; scrape++) {
        HttpResponse<String> res = get(admin, "/metrics");
        assertEquals(200, res.statusCode());
        assertEquals(2.0, sample(res.body(), "handoff_connections"), "scrapes are not counted");
        assertEquals(2.0, sample(res.body(), "handoff_connections_opened_total"));
      }
      HttpResponse<String> publicMetrics = get(server.port(), "/metrics");
      assertEquals(404, publicMetrics.statusCode());
      assertTrue(publicMetrics.body().contains("--admin-port"), publicMetrics.body());
      assertEquals("ok\n", get(admin, "/healthz").body());
      HttpResponse<String> ready = get(admin, "/readyz");
      assertEquals(200, ready.statusCode());
      assertEquals("ready\n", ready.body());
      assertEquals(200, get(server.port(), "/readyz").statusCode(), "probes work on both ports");
      assertEquals(404, get(admin, "/ws").statusCode(), "no WebSockets on the admin port");
    }
  }

  @Test
  void withoutAnAdminPortMetricsStayOnThePublicPort() throws Exception {
    try (TestServer server = TestServer.start()) {
      assertEquals(-1, server.server.adminPort());
      assertEquals(200, get(server.port(), "/metrics").statusCode());
      assertEquals(0.0, sample(get(server.port(), "/metrics").body(), "handoff_connections"));
    }
  }

  @Test
  void readinessSaysTheStoreIsUnreachableAndThenThatTheNodeDrains() throws Exception {
    try (RedisProcess redis = RedisProcess.start()) {
      RedisEngine engine =
          RedisEngine.connect(redis.url(), "admin-test:", StoreLimits.builder().build());
      HandoffServer server =
          HandoffServer.start(
              ServerConfig.builder()
                  .host("127.0.0.1")
                  .port(0)
                  .admin("127.0.0.1", 0)
                  .jwtSecret(TestServer.SECRET)
                  .build(),
              engine);
      try {
        int admin = server.adminPort();
        assertEquals("ready\n", get(admin, "/readyz").body());
        redis.stop();
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        HttpResponse<String> res = get(admin, "/readyz");
        while (res.statusCode() == 200 && System.nanoTime() < deadline) {
          res = get(admin, "/readyz"); // Lettuce sees the closed socket within milliseconds.
        }
        assertEquals(503, res.statusCode());
        assertEquals("not ready: store unreachable\n", res.body());
        assertEquals(
            "not ready: store unreachable\n", get(server.port(), "/readyz").body(), "both ports");
      } finally {
        server.close();
        engine.close();
      }
      assertEquals("draining", server.readiness().problem());
    }
  }
}
