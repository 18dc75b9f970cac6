package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.server.devices.ApprovalConfig;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * The per-caller rate of the HTTP API under /v1/, over real HTTP from several loopback addresses
 * (127.0.0.2, 127.0.0.3, ...) to a real node, with real identity and access tokens; the buckets
 * fill on the node's fake time, so nothing here waits.
 */
class ApiRateLimitTest {
  private static final int BURST = 3;
  private final AppBackend app = new AppBackend();
  private final FakeScheduler time = new FakeScheduler();
  private TestServer server;

  @BeforeEach
  void start() throws Exception {
    server =
        TestServer.start(
            time,
            b ->
                b.tokens(app.tokens().build())
                    .approvals(ApprovalConfig.builder().build())
                    .apiRequestRate(1, BURST));
  }

  @AfterEach
  void stop() {
    server.close();
  }

  @Test
  void routesWithoutATokenAreLimitedPerAddressWith429AndRetryAfter() throws Exception {
    for (int i = 0; i < BURST; i++) {
      Answer a = refresh("127.0.0.2", "rt1.bm9ib2R5.x.y");
      assertEquals(400, a.status, a.toString());
      assertEquals("invalid_grant", a.field("error"));
    }
    Answer over = refresh("127.0.0.2", "rt1.bm9ib2R5.x.y");
    assertEquals(429, over.status, over.toString());
    assertEquals("rate_limited", over.field("error"));
    assertEquals("1", over.header("retry-after"), over.toString());
    assertTrue(over.field("message").contains("from this network address"), over.toString());
    assertTrue(over.field("message").contains("retry in 1000 ms"), over.toString());
    assertEquals(
        429,
        post("127.0.0.2", "/v1/device_authorization", "{\"device_id\":\"tv\"}", null).status,
        "every route without a token shares the address's bucket");
    assertEquals(
        200,
        post("127.0.0.3", "/v1/device_authorization", "{\"device_id\":\"tv\"}", null).status,
        "another address has its own");
    assertEquals(2, server.server.stats().apiRequestsRefusedForAddress.sum());
    assertEquals(0, server.server.stats().apiRequestsRefusedForUser.sum());

    time.advance(Duration.ofSeconds(1));
    assertEquals(400, refresh("127.0.0.2", "rt1.bm9ib2R5.x.y").status, "a second refills one");
    assertEquals(429, refresh("127.0.0.2", "rt1.bm9ib2R5.x.y").status);
  }

  @Test
  void routesWithATokenAreLimitedPerUserWhateverDeviceOrAddressTheyComeFrom() throws Exception {
    String phone = signIn("127.0.0.4", "ada", "phone");
    String laptop = signIn("127.0.0.5", "ada", "laptop");
    String bob = signIn("127.0.0.6", "bob", "phone");
    assertEquals(200, get("127.0.0.7", "/v1/devices", phone).status);
    assertEquals(200, get("127.0.0.8", "/v1/devices", laptop).status);
    assertEquals(200, get("127.0.0.7", "/v1/devices", phone).status);
    Answer over = get("127.0.0.9", "/v1/devices", laptop);
    assertEquals(429, over.status, over.toString());
    assertEquals("rate_limited", over.field("error"));
    assertEquals("1", over.header("retry-after"));
    assertTrue(over.field("message").contains("for this user"), over.toString());
    assertEquals(
        429,
        post("127.0.0.7", "/v1/device/verify", "{\"user_code\":\"BBBB-BBBB\"}", phone).status,
        "every route of the user shares the user's bucket");
    assertEquals(
        200, get("127.0.0.7", "/v1/devices", bob).status, "another user from the same address");
    assertEquals(2, server.server.stats().apiRequestsRefusedForUser.sum());
    assertEquals(0, server.server.stats().apiRequestsRefusedForAddress.sum());
    assertTrue(
        metrics().contains("handoff_api_requests_refused_total{caller=\"user\",node=\"test\"} 2.0"),
        metrics());

    time.advance(Duration.ofSeconds(1));
    assertEquals(200, get("127.0.0.9", "/v1/devices", laptop).status);
  }

  @Test
  void requestsWithARefusedTokenAreChargedToTheirAddress() throws Exception {
    String ada = signIn("127.0.0.10", "ada", "phone");
    for (int i = 0; i < BURST; i++) {
      Answer a = get("127.0.0.11", "/v1/devices", "not-a-token");
      assertEquals(401, a.status, a.toString());
      assertEquals("invalid_token", a.field("error"));
    }
    Answer over = get("127.0.0.11", "/v1/devices", "not-a-token");
    assertEquals(429, over.status, over.toString());
    assertEquals("1", over.header("retry-after"));
    assertEquals(
        200,
        get("127.0.0.11", "/v1/devices", ada).status,
        "a user with a good token from that address is charged to the user");
    assertEquals(1, server.server.stats().apiRequestsRefusedForAddress.sum());
  }

  @Test
  void theRateAndBurstComeFromTheCommandLineTheEnvironmentOrTheFile() throws Exception {
    ServerConfig defaults = ServerConfig.builder().jwtSecret(TestServer.SECRET).build();
    assertEquals(20, defaults.apiRequestRatePerSecond());
    assertEquals(100, defaults.apiRequestBurst());
    assertTrue(
        defaults.toString().contains("apiRequestRate=20.0/s burst 100"), defaults.toString());
    ServerConfig cli = configure(Map.of());
    assertEquals(defaults.apiRequestRatePerSecond(), cli.apiRequestRatePerSecond());
    assertEquals(defaults.apiRequestBurst(), cli.apiRequestBurst());

    ServerConfig set =
        configure(Map.of("HANDOFF_API_REQUEST_BURST", "40"), "--api-request-rate", "2.5");
    assertEquals(2.5, set.apiRequestRatePerSecond());
    assertEquals(40, set.apiRequestBurst(), "from the environment");
    java.nio.file.Path file = java.nio.file.Files.createTempFile("handoff", ".properties");
    try {
      java.nio.file.Files.writeString(file, "api-request-rate=7\napi-request-burst=9\n");
      ServerConfig fromFile = configure(Map.of(), "--config", file.toString());
      assertEquals(7, fromFile.apiRequestRatePerSecond());
      assertEquals(9, fromFile.apiRequestBurst());
    } finally {
      java.nio.file.Files.delete(file);
    }
    assertEquals(0, configure(Map.of(), "--api-request-rate", "0").apiRequestRatePerSecond());
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class, () -> configure(Map.of(), "--api-request-burst", "0"));
    assertTrue(e.getMessage().contains("--api-request-burst"), e.getMessage());
    assertThrows(
        IllegalArgumentException.class, () -> ServerConfig.builder().apiRequestRate(-1, 1));
  }

  @Test
  void aRateOfZeroTurnsTheLimitOff() throws Exception {
    server.close();
    server = TestServer.start(time, b -> b.apiRequestRate(0, 1));
    for (int i = 0; i < 50; i++) {
      assertEquals(400, refresh("127.0.0.12", "rt1.bm9ib2R5.x.y").status);
    }
  }

  private String signIn(String from, String user, String device) throws IOException {
    Answer a =
        post(
            from,
            "/v1/sessions",
            "{\"identity_token\":\"" + app.identity(user) + "\",\"device_id\":\"" + device + "\"}",
            null);
    assertEquals(201, a.status, a.toString());
    return a.field("access_token");
  }

  private Answer refresh(String from, String token) throws IOException {
    return post(
        from,
        "/v1/token",
        "{\"grant_type\":\"refresh_token\",\"refresh_token\":\"" + token + "\"}",
        null);
  }

  private String metrics() throws IOException {
    return request("127.0.0.1", "GET", "/metrics", null, null).body;
  }

  private Answer get(String from, String path, String bearer) throws IOException {
    return request(from, "GET", path, null, bearer);
  }

  private Answer post(String from, String path, String json, String bearer) throws IOException {
    return request(from, "POST", path, json, bearer);
  }

  /** One request over a socket bound to {@code from}, as a device at that address sends it. */
  private Answer request(String from, String method, String path, String json, String bearer)
      throws IOException {
    byte[] body = json == null ? new byte[0] : json.getBytes(StandardCharsets.UTF_8);
    try (Socket s = new Socket()) {
      s.bind(new InetSocketAddress(InetAddress.getByName(from), 0));
      s.connect(new InetSocketAddress("127.0.0.1", server.port()), 5_000);
      s.setSoTimeout(10_000);
      OutputStream out = s.getOutputStream();
      out.write(
          (method
                  + " "
                  + path
                  + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                  + (bearer == null ? "" : "Authorization: Bearer " + bearer + "\r\n")
                  + (json == null ? "" : "Content-Type: application/json\r\n")
                  + "Content-Length: "
                  + body.length
                  + "\r\n\r\n")
              .getBytes(StandardCharsets.US_ASCII));
      out.write(body);
      out.flush();
      InputStream in = s.getInputStream();
      ByteArrayOutputStream all = new ByteArrayOutputStream();
      in.transferTo(all);
      String answer = all.toString(StandardCharsets.UTF_8);
      int end = answer.indexOf("\r\n\r\n");
      Map<String, String> headers = new TreeMap<>();
      String[] lines = answer.substring(0, end).split("\r\n");
      for (int i = 1; i < lines.length; i++) {
        int colon = lines[i].indexOf(':');
        headers.put(
            lines[i].substring(0, colon).trim().toLowerCase(Locale.ROOT),
            lines[i].substring(colon + 1).trim());
      }
      return new Answer(
          Integer.parseInt(lines[0].substring(9, 12)), headers, answer.substring(end + 4));
    }
  }

  private record Answer(int status, Map<String, String> headers, String body) {
    String header(String name) {
      return headers.get(name);
    }

    String field(String name) {
      return new HttpApi.Answer(status, body).field(name);
    }
  }

  private static ServerConfig configure(Map<String, String> env, String... flags) {
    String[] args = new String[flags.length + 4];
    System.arraycopy(flags, 0, args, 0, flags.length);
    args[flags.length] = "--jwt-secret";
    args[flags.length + 1] = TestServer.SECRET;
    args[flags.length + 2] = "--node-id";
    args[flags.length + 3] = "cli";
    Main main = new Main();
    CommandLine cl = new CommandLine(main);
    cl.setDefaultValueProvider(ConfigSources.load(cl.getCommandSpec(), args, env));
    cl.parseArgs(args);
    return main.toConfig();
  }
}
