package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.client.HandoffClient;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.DeviceInfo;
import io.handoff.protocol.v1.Error;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.ListDevices;
import io.handoff.protocol.v1.Ping;
import io.handoff.protocol.v1.RefreshToken;
import io.handoff.protocol.v1.RevokeDevice;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.protocol.v1.VerifyUserCode;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.memory.MemoryEngine;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * The requests of the device-sessions and approvals features (ListDevices, RevokeDevice,
 * RefreshToken, VerifyUserCode, AnswerApproval), each a store round trip: a connection may have a
 * bounded number waiting for their answers and send them at a bounded rate, and a refused one costs
 * no store call; other connections, of the same user too, are served meanwhile. Real sockets, real
 * sign-ins over the node's HTTP API, the memory engine behind a {@link GatedEngine} that counts
 * (and, when asked, holds) the listings of a user's devices. The node runs on fake time, so a rate
 * moves only when a test advances it.
 */
class DeviceRequestLimitsTest {
  private final AppBackend app = new AppBackend();
  private final FakeScheduler time = new FakeScheduler();
  private GatedEngine engine;
  private HandoffServer node;
  private HttpApi api;
  private final List<AutoCloseable> open = new ArrayList<>();

  @AfterEach
  void stop() throws Exception {
    for (AutoCloseable c : open) {
      c.close();
    }
    if (node != null) {
      node.close();
    }
    if (engine != null) {
      engine.close();
    }
  }

  private void start(Consumer<ServerConfig.Builder> customize) throws InterruptedException {
    StoreLimits limits = StoreLimits.builder().build();
    engine = new GatedEngine(new MemoryEngine(limits, time.clock()));
    ServerConfig.Builder b =
        ServerConfig.builder()
            .host("127.0.0.1")
            .port(0)
            .nodeId("device-requests")
            .jwtSecret(TestServer.SECRET)
            .storeLimits(limits)
            .tokens(app.tokens().build());
    customize.accept(b);
    node = HandoffServer.start(b.build(), engine, time);
    api = new HttpApi(node.port());
  }

  /** Signs {@code device} of {@code user} in over the HTTP API; its access token. */
  private String signIn(String user, String device) {
    HttpApi.Answer a = api.signIn(app.identity(user), device, device + " of " + user, "ios");
    assertEquals(201, a.status(), a.toString());
    return a.field("access_token");
  }

  private TestDevice device(String accessToken) {
    TestDevice d = TestDevice.connect(node.port(), accessToken);
    open.add(d);
    d.hello();
    return d;
  }

  private HandoffClient client(String accessToken) throws Exception {
    HandoffClient c =
        HandoffClient.builder()
            .url(URI.create("ws://127.0.0.1:" + node.port() + "/ws"))
            .token(accessToken)
            .build();
    open.add(c);
    c.connect().get(10, TimeUnit.SECONDS);
    return c;
  }

  private static ClientFrame.Builder listDevices() {
    return ClientFrame.newBuilder().setListDevices(ListDevices.getDefaultInstance());
  }

  private static List<String> deviceIds(HandoffClient c) throws Exception {
    return c.devices().get(10, TimeUnit.SECONDS).stream()
        .map(DeviceInfo::getDeviceId)
        .sorted()
        .toList();
  }

  @Test
  void aFloodOfListDevicesIsRefusedRateLimitedWhileAnotherConnectionOfTheUserIsServed()
      throws Exception {
    start(b -> {}); // The defaults: 10 a second, bursts of 20.
    TestDevice flood = device(signIn("ann", "phone"));
    HandoffClient laptop = client(signIn("ann", "laptop"));

    List<Long> ids = new ArrayList<>();
    for (int i = 0; i < 30; i++) {
      ids.add(flood.send(listDevices()));
    }
    int listed = 0;
    int limited = 0;
    for (long id : ids) {
      ServerFrame a = flood.next(f -> f.hasDeviceList() || f.hasError());
      assertEquals(id, a.getRequestId(), "answered in order: " + a);
      if (a.hasDeviceList()) {
        listed++;
        assertEquals(2, a.getDeviceList().getDevicesCount());
        continue;
      }
      limited++;
      Error e = a.getError();
      assertEquals(ErrorCode.RATE_LIMITED, e.getCode(), e.toString());
      assertTrue(e.getRetryable(), "the device may send it again later");
      // Time stands still here: the next token is exactly a tenth of a second away.
      assertTrue(e.getMessage().contains("send this ListDevices again in 100 ms"), e.getMessage());
      assertTrue(e.getMessage().startsWith("more than 10 device requests"), e.getMessage());
    }
    assertEquals(ServerConfig.DEFAULT_DEVICE_REQUEST_BURST, listed);
    assertEquals(10, limited);
    assertEquals(listed, engine.deviceLists(), "a refused request reaches no store");
    assertEquals(10, node.stats().deviceRequestsRateLimited.sum());

    // Another connection of the same user has a bucket of its own, and the flood's stays open.
    assertEquals(List.of("laptop", "phone"), deviceIds(laptop));
    long ping = flood.send(ClientFrame.newBuilder().setPing(Ping.newBuilder().setNonce(9)));
    assertEquals(9, flood.next(f -> f.getRequestId() == ping).getPong().getNonce());

    // One bucket for every device request of the connection: a tenth of a second later one more
    // goes through, and the next, of another kind, is refused and named.
    time.advance(Duration.ofMillis(100));
    long again = flood.send(listDevices());
    assertTrue(flood.next(f -> f.getRequestId() == again).hasDeviceList());
    long code =
        flood.send(
            ClientFrame.newBuilder()
                .setVerifyUserCode(VerifyUserCode.newBuilder().setUserCode("BCDF-GHJK")));
    Error refused = flood.next(f -> f.getRequestId() == code).getError();
    assertEquals(ErrorCode.RATE_LIMITED, refused.getCode());
    assertTrue(refused.getMessage().contains("send this VerifyUserCode again"), refused.toString());
    assertEquals(11, node.stats().deviceRequestsRateLimited.sum());

    String metrics = metrics();
    assertTrue(
        metrics.contains(
            "handoff_device_requests_refused_total{node=\"device-requests\",reason=\"rate\"} 11.0"),
        metrics);
    assertTrue(
        metrics.contains(
            "handoff_device_requests_refused_total{node=\"device-requests\",reason=\"in_flight\"}"
                + " 0.0"),
        metrics);
  }

  @Test
  void requestsPastTheInFlightBoundAreRefusedByNameWhileAnotherConnectionIsServed()
      throws Exception {
    start(b -> {}); // The defaults: 8 waiting for their answers.
    TestDevice flood = device(signIn("bob", "phone"));
    HandoffClient laptop = client(signIn("bob", "laptop"));

    engine.holdDeviceLists(ServerConfig.DEFAULT_MAX_DEVICE_REQUESTS_IN_FLIGHT);
    List<Long> held = new ArrayList<>();
    for (int i = 0; i < ServerConfig.DEFAULT_MAX_DEVICE_REQUESTS_IN_FLIGHT; i++) {
      held.add(flood.send(listDevices()));
    }
    engine.changed.await(
        "the listings under way",
        () -> engine.heldDeviceLists() == ServerConfig.DEFAULT_MAX_DEVICE_REQUESTS_IN_FLIGHT);
    long list = flood.send(listDevices());
    long revoke =
        flood.send(
            ClientFrame.newBuilder()
                .setRevokeDevice(RevokeDevice.newBuilder().setDeviceId("laptop")));
    for (long id : new long[] {list, revoke}) {
      ServerFrame a = flood.next(f -> f.hasDeviceList() || f.hasDevicesRevoked() || f.hasError());
      assertEquals(id, a.getRequestId(), "nothing else is answered yet: " + a);
      assertEquals(ErrorCode.TOO_MANY_IN_FLIGHT, a.getError().getCode());
      assertTrue(a.getError().getRetryable());
      String name = id == list ? "ListDevices" : "RevokeDevice";
      assertTrue(
          a.getError().getMessage().contains("send this " + name + " again once one is answered"),
          a.getError().getMessage());
      assertTrue(a.getError().getMessage().startsWith("8 device requests wait"));
    }
    assertEquals(2, node.stats().deviceRequestsOverInFlight.sum());
    assertEquals(
        ServerConfig.DEFAULT_MAX_DEVICE_REQUESTS_IN_FLIGHT,
        engine.deviceLists(),
        "the refused ListDevices reached no store");

    // The laptop, of the same user on the same node, has its own bound: its listing goes through
    // while the phone's wait. The refused RevokeDevice revoked nothing.
    assertEquals(List.of("laptop", "phone"), deviceIds(laptop));

    engine.releaseDeviceLists();
    for (long id : held) {
      ServerFrame a = flood.next(f -> f.hasDeviceList() || f.hasError());
      assertEquals(id, a.getRequestId(), "in the order sent: " + a);
      assertEquals(2, a.getDeviceList().getDevicesCount());
    }
    // Answered, they make room again.
    long after = flood.send(listDevices());
    assertTrue(flood.next(f -> f.getRequestId() == after).hasDeviceList());
  }

  @Test
  void secondRefreshTokenWhileOneIsCheckedIsRefusedTooManyInFlightAndMayBeSentAgain()
      throws Exception {
    start(b -> {});
    String token = signIn("cai", "phone");
    TestDevice phone = device(token);
    engine.holdSessionStatuses(1);
    long first =
        phone.send(
            ClientFrame.newBuilder()
                .setRefreshToken(RefreshToken.newBuilder().setAccessToken(token)));
    engine.changed.await("the first refresh's check", () -> engine.heldSessionStatuses() == 1);
    long second =
        phone.send(
            ClientFrame.newBuilder()
                .setRefreshToken(RefreshToken.newBuilder().setAccessToken(token)));
    ServerFrame refused = phone.next(f -> f.getRequestId() == second);
    Error e = refused.getError();
    assertEquals(ErrorCode.TOO_MANY_IN_FLIGHT, e.getCode(), refused.toString());
    assertTrue(e.getRetryable(), "a fine request that came too soon may be sent again");
    assertTrue(
        e.getMessage().contains("RefreshToken")
            && e.getMessage().contains("send this one again once that one is answered"),
        e.getMessage());
    assertEquals(1, node.stats().deviceRequestsOverInFlight.sum());

    engine.releaseSessionStatuses();
    assertTrue(phone.next(f -> f.getRequestId() == first).hasTokenRefreshed());
    long again =
        phone.send(
            ClientFrame.newBuilder()
                .setRefreshToken(RefreshToken.newBuilder().setAccessToken(token)));
    assertTrue(phone.next(f -> f.getRequestId() == again).hasTokenRefreshed());
  }

  @Test
  void theLimitsComeFromTheCommandLineAreCheckedAndShown() {
    ServerConfig defaults = ServerConfig.builder().jwtSecret(TestServer.SECRET).build();
    assertEquals(10, defaults.deviceRequestRatePerSecond());
    assertEquals(20, defaults.deviceRequestBurst());
    assertEquals(8, defaults.maxDeviceRequestsInFlight());
    assertTrue(
        defaults
            .toString()
            .contains("deviceRequestRate=10.0/s burst 20, maxDeviceRequestsInFlight=8"),
        defaults.toString());
    ServerConfig cli = configure(Map.of());
    assertEquals(defaults.deviceRequestRatePerSecond(), cli.deviceRequestRatePerSecond());
    assertEquals(defaults.deviceRequestBurst(), cli.deviceRequestBurst());
    assertEquals(defaults.maxDeviceRequestsInFlight(), cli.maxDeviceRequestsInFlight());

    ServerConfig set =
        configure(
            Map.of("HANDOFF_DEVICE_REQUEST_BURST", "5"),
            "--device-request-rate",
            "2.5",
            "--max-device-requests-in-flight",
            "3");
    assertEquals(2.5, set.deviceRequestRatePerSecond());
    assertEquals(5, set.deviceRequestBurst(), "from the environment");
    assertEquals(3, set.maxDeviceRequestsInFlight());
    assertEquals(0, configure(Map.of(), "--device-request-rate", "0").deviceRequestRatePerSecond());

    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> configure(Map.of(), "--max-device-requests-in-flight", "0"));
    assertTrue(e.getMessage().contains("--max-device-requests-in-flight"), e.getMessage());
    assertTrue(e.getMessage().contains("must be >= 1"), e.getMessage());
    assertThrows(
        IllegalArgumentException.class, () -> ServerConfig.builder().deviceRequestRate(-1, 1));
    assertThrows(
        IllegalArgumentException.class, () -> ServerConfig.builder().deviceRequestRate(1, 0));
  }

  @Test
  void theFollowAndResyncRateIsSetFromTheCommandLineOrTheEnvironment() {
    ServerConfig defaults = configure(Map.of());
    assertEquals(ServerConfig.DEFAULT_SYNC_RATE_PER_SECOND, defaults.syncRatePerSecond());
    assertEquals(ServerConfig.DEFAULT_SYNC_BURST, defaults.syncBurst());
    ServerConfig set = configure(Map.of("HANDOFF_SYNC_BURST", "7"), "--sync-rate", "4");
    assertEquals(4, set.syncRatePerSecond());
    assertEquals(7, set.syncBurst(), "from the environment");
    assertEquals(0, configure(Map.of(), "--sync-rate", "0").syncRatePerSecond());
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class, () -> configure(Map.of(), "--sync-burst", "0"));
    assertTrue(e.getMessage().contains("--sync-burst"), e.getMessage());
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

  private String metrics() throws Exception {
    HttpResponse<String> r =
        HttpClient.newHttpClient()
            .send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + node.port() + "/metrics"))
                    .build(),
                HttpResponse.BodyHandlers.ofString());
    assertEquals(200, r.statusCode());
    assertFalse(r.body().isEmpty());
    return r.body();
  }
}
