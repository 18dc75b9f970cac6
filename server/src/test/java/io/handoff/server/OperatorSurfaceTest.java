package io.handoff.server;

import static io.handoff.server.TestServer.token;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.ServerFrame;
import io.handoff.server.auth.SigningKeys;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * What operators touch: the command line, variables and file, the probes and /metrics. Each test
 * here failed on 27b7f6d (review of the operator surface).
 */
class OperatorSurfaceTest {
  private static final String SECRET = "s".repeat(40);
  private static final HttpClient HTTP = HttpClient.newHttpClient();
  @TempDir Path dir;

  private record Run(int exit, String err) {}

  private static Run run(Map<String, String> env, String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    Map<String, String> e = new HashMap<>(env);
    e.putIfAbsent("HANDOFF_JWT_SECRET", SECRET);
    int exit = Main.run(args, e, new PrintWriter(out, true), new PrintWriter(err, true));
    return new Run(exit, err.toString());
  }

  /** The node's configuration as Main builds it, without starting it. */
  private static ServerConfig configure(String... args) {
    Main main = new Main();
    CommandLine cl = new CommandLine(main);
    cl.setDefaultValueProvider(
        ConfigSources.load(cl.getCommandSpec(), args, Map.of("HANDOFF_JWT_SECRET", SECRET)));
    cl.parseArgs(args);
    return main.toConfig();
  }

  private static void assertOneLineNaming(Run r, String option, String value) {
    assertEquals(2, r.exit(), r.err());
    assertTrue(r.err().contains(option), "names " + option + ": " + r.err());
    assertTrue(r.err().contains(value), "quotes the value " + value + ": " + r.err());
    assertFalse(r.err().contains("overflow"), "no arithmetic jargon: " + r.err());
    assertFalse(r.err().contains("Cannot invoke"), "no NullPointerException text: " + r.err());
    assertFalse(r.err().contains("\tat "), "no stack trace: " + r.err());
  }

  // ---- Defect 1: a duration too large for the node stops it with "long overflow", exit 1.

  @Test
  void aDurationTooLargeIsRefusedNamingItsOption() {
    assertOneLineNaming(
        run(Map.of(), "--port", "0", "--heartbeat", "999999999999d"),
        "--heartbeat",
        "999999999999d");
    assertOneLineNaming(
        run(Map.of(), "--port", "0", "--offer-ttl", "999999999999d"),
        "--offer-ttl",
        "999999999999d");
    assertOneLineNaming(
        run(Map.of("HANDOFF_HEARTBEAT", "999999999999d"), "--port", "0"),
        "HANDOFF_HEARTBEAT",
        "999999999999d");
  }

  @Test
  void aPreviousKeyGraceTooLargeIsRefusedNamingItsOption() throws Exception {
    Path key = dir.resolve("k.jwk");
    Files.writeString(key, SigningKeys.generate("k1").toJSONString());
    assertOneLineNaming(
        run(
            Map.of(),
            "--port",
            "0",
            "--signing-key",
            key.toString(),
            "--previous-key-grace",
            "999999999999d"),
        "--previous-key-grace",
        "999999999999d");
  }

  // ---- Defect 2: a heartbeat the node accepts but cannot serve.

  @Test
  void aHeartbeatTooLongForTheWelcomeOrTheTimersIsRefusedAtStart() {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> configure("--heartbeat", "60d"));
    assertTrue(e.getMessage().contains("--heartbeat"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> configure("--heartbeat", "200000d"));
    assertEquals(Duration.ofDays(1), configure("--heartbeat", "1d").heartbeatInterval());
  }

  /** Whatever heartbeat a node starts with, devices can connect and are told it exactly. */
  @Test
  void everyHeartbeatANodeStartsWithServesDevices() throws Exception {
    for (Duration heartbeat : List.of(Duration.ofDays(60), Duration.ofDays(200_000))) {
      TestServer server;
      try {
        server = TestServer.start(b -> b.heartbeatInterval(heartbeat));
      } catch (IllegalArgumentException refused) {
        continue; // Refused at start: what an operator should get.
      }
      try (server;
          TestDevice phone = TestDevice.connect(server.port(), token("hb", "phone"))) {
        ServerFrame welcome = phone.hello();
        assertEquals(
            heartbeat.toMillis(),
            Integer.toUnsignedLong(welcome.getWelcome().getHeartbeatIntervalMs()),
            "the Welcome states the node's heartbeat " + heartbeat);
      }
    }
  }

  // ---- Defect 4: probes and /metrics answer every method with 200.

  @Test
  void probesAndMetricsAnswerOnlyGetAndHead() throws Exception {
    try (TestServer server = TestServer.start(b -> b.admin("127.0.0.1", 0))) {
      int admin = server.server.adminPort();
      record Probe(int port, String path) {}
      List<Probe> probes =
          List.of(
              new Probe(server.port(), "/healthz"),
              new Probe(server.port(), "/readyz"),
              new Probe(admin, "/healthz"),
              new Probe(admin, "/readyz"),
              new Probe(admin, "/metrics"));
      for (Probe probe : probes) {
        URI uri = URI.create("http://127.0.0.1:" + probe.port() + probe.path());
        assertEquals(
            200, HTTP.send(HttpRequest.newBuilder(uri).build(), BodyHandlers()).statusCode());
        assertEquals(
            200,
            HTTP.send(
                    HttpRequest.newBuilder(uri)
                        .method("HEAD", HttpRequest.BodyPublishers.noBody())
                        .build(),
                    BodyHandlers())
                .statusCode(),
            "HEAD " + probe);
        for (String method : List.of("POST", "PUT", "DELETE")) {
          HttpResponse<String> res =
              HTTP.send(
                  HttpRequest.newBuilder(uri)
                      .method(method, HttpRequest.BodyPublishers.ofString("x"))
                      .build(),
                  BodyHandlers());
          assertEquals(405, res.statusCode(), method + " " + probe + ": " + res.body());
          assertTrue(res.body().contains("GET"), "says what is accepted: " + res.body());
          assertEquals(
              "GET, HEAD", res.headers().firstValue("allow").orElse(null), method + " " + probe);
        }
      }
    }
  }

  private static HttpResponse.BodyHandler<String> BodyHandlers() {
    return HttpResponse.BodyHandlers.ofString();
  }

  // ---- Defect 5: a previous signing key without a kid stops the node with a NullPointerException.

  @Test
  void aPreviousSigningKeyWithoutKidGetsAClearMessage() throws Exception {
    Path current = dir.resolve("current.jwk");
    Files.writeString(current, SigningKeys.generate("k2").toJSONString());
    Path previous = dir.resolve("previous.jwk");
    Files.writeString(
        previous,
        new com.nimbusds.jose.jwk.ECKey.Builder(SigningKeys.generate("k1"))
            .keyID(null)
            .build()
            .toJSONString());
    Run r =
        run(
            Map.of(),
            "--port",
            "0",
            "--signing-key",
            current.toString(),
            "--previous-signing-key",
            previous.toString());
    assertEquals(2, r.exit(), r.err());
    assertTrue(r.err().contains("kid"), r.err());
    assertFalse(r.err().contains("Cannot invoke"), r.err());
  }

  // ---- Defect 6: --admin-port -1 silently means "no admin port" (metrics on the public port).

  @Test
  void aNegativeAdminPortIsRefused() {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> configure("--admin-port", "-1"));
    assertTrue(e.getMessage().contains("--admin-port"), e.getMessage());
    assertTrue(e.getMessage().contains("-1"), e.getMessage());
  }

  // ---- Defect 7: a malformed configuration file is reported without naming the file.

  @Test
  void aMalformedConfigurationFileIsNamed() throws Exception {
    Path file = dir.resolve("node.properties");
    Files.writeString(file, "node-id=a\\u12\n");
    Run r = run(Map.of(), "--config", file.toString());
    assertEquals(2, r.exit(), r.err());
    assertTrue(r.err().contains(file.toString()), "names the file: " + r.err());
    assertNotNull(r.err());
  }

  // ---- Defect 8: a --host (or --admin-host) that does not resolve: "invalid configuration: null".

  @Test
  void aHostThatDoesNotResolveIsNamed() {
    Run r = run(Map.of(), "--host", "nosuchhost.invalid", "--port", "0");
    assertEquals(2, r.exit(), r.err());
    assertTrue(r.err().contains("nosuchhost.invalid"), r.err());
    assertTrue(r.err().contains("--host"), r.err());
    assertFalse(r.err().contains("null"), r.err());
    Run admin =
        run(
            Map.of(),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--admin-host",
            "nosuchhost.invalid",
            "--admin-port",
            "0");
    assertEquals(2, admin.exit(), admin.err());
    assertTrue(admin.err().contains("--admin-host"), admin.err());
    assertFalse(admin.err().contains("null"), admin.err());
  }
}
