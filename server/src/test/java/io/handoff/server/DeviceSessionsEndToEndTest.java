package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.client.HandoffClient;
import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.DeviceInfo;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.ListDevices;
import io.handoff.protocol.v1.Ping;
import io.handoff.protocol.v1.RevokeDevice;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.protocol.v1.Welcome;
import io.handoff.server.auth.TokenConfig;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.memory.MemoryEngine;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Sign-in, rotation, reuse detection, devices, revocation and erasure over real HTTP and sockets
 * (memory engine).
 */
class DeviceSessionsEndToEndTest {
  private final AppBackend app = new AppBackend();
  private TestServer server;
  private HttpApi api;

  @BeforeEach
  void start() throws Exception {
    server = TestServer.start(this::configure);
    api = new HttpApi(server.port());
  }

  private void configure(ServerConfig.Builder b) {
    // No reuse interval: a reused refresh token revokes at once (RefreshReuseIntervalTest covers
    // the interval).
    b.tokens(
            app.tokens()
                .signInBurst(5, Duration.ofMinutes(1))
                .refreshReuseInterval(Duration.ZERO)
                .build())
        .storeLimits(StoreLimits.builder().maxDevicesPerUser(3).build());
  }

  @AfterEach
  void stop() {
    server.close();
  }

  private HttpApi.Answer signIn(String user, String device) {
    HttpApi.Answer a = api.signIn(app.identity(user), device, device + " of " + user, "ios");
    assertEquals(201, a.status(), a.toString());
    return a;
  }

  private TestDevice connect(HttpApi.Answer tokens) {
    TestDevice d = TestDevice.connect(server.port(), tokens.field("access_token"));
    d.hello();
    return d;
  }

  private ServerStats stats() {
    return server.server.stats();
  }

  @Test
  void devicesWithServerIssuedTokensMovedToTheirUsersLoopAreWelcomedAndSync() {
    // Signed in first, then connected back to back: consecutive accepts go to different loops,
    // so at least two of the three are moved to the user's loop after the store's session check
    // (which turns reading off and on again around it).
    List<HttpApi.Answer> tokens = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      tokens.add(signIn("eve", "device" + i));
    }
    List<TestDevice> devices = new ArrayList<>();
    try {
      for (HttpApi.Answer t : tokens) {
        devices.add(connect(t));
      }
      devices.get(0).write("player", 1, "p", "moved");
      for (TestDevice d : devices.subList(1, devices.size())) {
        ServerFrame delta = d.next(ServerFrame::hasDelta);
        assertEquals("moved", delta.getDelta().getOps(0).getSet().toStringUtf8());
      }
    } finally {
      devices.forEach(TestDevice::close);
    }
  }

  @Test
  void signInGivesAnAccessTokenForTheSocketAndARefreshTokenThatRotates() {
    HttpApi.Answer a = signIn("ann", "phone");
    assertEquals("Bearer", a.field("token_type"));
    assertEquals(600, a.number("expires_in"), 2);
    try (TestDevice phone = TestDevice.connect(server.port(), a.field("access_token"))) {
      Welcome w = phone.hello().getWelcome();
      assertEquals("ann", w.getUserId());
      assertEquals("phone", w.getDeviceId());
      assertEquals(a.field("session_id"), w.getSessionId());
      assertEquals(a.number("expires_at_ms"), w.getTokenExpiresAtMs());
    }
    HttpApi.Answer r = api.refresh(a.field("refresh_token"));
    assertEquals(200, r.status(), r.toString());
    assertNotEquals(a.field("refresh_token"), r.field("refresh_token"));
    assertEquals(a.field("session_id"), r.field("session_id"));
    assertEquals(101, TestDevice.upgradeStatus(server.port(), r.field("access_token")));
    HttpApi.Answer again = api.refresh(r.field("refresh_token"));
    assertEquals(200, again.status(), again.toString());
  }

  @Test
  void reusedRefreshTokenRevokesTheSessionClosesItsSocketAndCountsAnAnomaly() {
    HttpApi.Answer a = signIn("bob", "phone");
    try (TestDevice phone = connect(a)) {
      HttpApi.Answer r = api.refresh(a.field("refresh_token"));
      assertEquals(200, r.status());
      HttpApi.Answer reuse = api.refresh(a.field("refresh_token"));
      assertEquals(400, reuse.status(), reuse.toString());
      assertEquals("invalid_grant", reuse.field("error"));
      assertTrue(reuse.field("message").contains("already used"), reuse.toString());
      assertEquals(CloseCode.SESSION_REVOKED.code(), phone.awaitClose());
      assertEquals(1, stats().anomalyRefreshTokenReuse.sum());
      // The whole family is dead: the newest refresh token too, and the access tokens.
      HttpApi.Answer newest = api.refresh(r.field("refresh_token"));
      assertEquals(400, newest.status(), newest.toString());
      assertTrue(newest.field("message").contains("revoked"), newest.toString());
      assertTrue(stats().anomalyRevokedTokenUse.sum() >= 1);
      assertEquals(401, TestDevice.upgradeStatus(server.port(), r.field("access_token")));
      assertEquals(401, api.get("/v1/devices", a.field("access_token")).status());
    }
  }

  @Test
  void malformedOrUnknownRefreshTokensAreRefusedClearly() {
    assertEquals("invalid_grant", api.refresh("nonsense").field("error"));
    HttpApi.Answer a = signIn("cid", "phone");
    String rt = a.field("refresh_token");
    String forged = rt.substring(0, rt.lastIndexOf('.') + 1) + "A".repeat(43);
    HttpApi.Answer f = api.refresh(forged);
    assertEquals(400, f.status());
    assertTrue(f.field("message").contains("unknown refresh token"), f.toString());
    assertEquals(200, api.refresh(rt).status(), "an unknown token revokes nothing");
    HttpApi.Answer bad = api.post("/v1/token", "{\"grant_type\":\"password\"}");
    assertEquals("unsupported_grant_type", bad.field("error"));
    assertTrue(
        bad.field("message").contains("refresh_token") && bad.field("message").contains("password"),
        "the message names the grant accepted and the one sent: " + bad);
    // RFC 6749 section 5.2: a missing parameter is invalid_request, and the message names it.
    HttpApi.Answer noGrant = api.post("/v1/token", "{\"refresh_token\":\"" + rt + "\"}");
    assertEquals(400, noGrant.status(), noGrant.toString());
    assertEquals("invalid_request", noGrant.field("error"), noGrant.toString());
    assertTrue(noGrant.field("message").contains("grant_type is required"), noGrant.toString());
    HttpApi.Answer json = api.post("/v1/sessions", "{\"identity_token\": [1,2]}");
    assertEquals(400, json.status());
    assertEquals("invalid_request", json.field("error"));
    HttpApi.Answer huge =
        api.post("/v1/sessions", "{\"identity_token\":\"" + "x".repeat(10_000) + "\"}");
    assertEquals(413, huge.status(), "bodies are limited to 8 KiB");
    HttpApi.Answer missing = api.post("/v1/sessions", "{\"identity_token\":\"x\"}");
    assertTrue(missing.field("message").contains("device_id is required"), missing.toString());
  }

  /**
   * Within a second: the revocation itself closes the device's connection, not anything that waits
   * for time to pass. The node runs on fake time that the test never moves, so no timer of it can
   * have closed the connection, however long a loaded machine takes to carry the close.
   */
  @Test
  void revokedDeviceIsDisconnectedWithinOneSecondAndItsTokensAreRefused() throws Exception {
    server.close();
    server = TestServer.start(new FakeScheduler(), this::configure);
    api = new HttpApi(server.port());
    HttpApi.Answer phoneTokens = signIn("dan", "phone");
    HttpApi.Answer laptopTokens = signIn("dan", "laptop");
    try (TestDevice phone = connect(phoneTokens);
        TestDevice laptop = connect(laptopTokens)) {
      HttpApi.Answer revoke = api.delete("/v1/devices/phone", laptopTokens.field("access_token"));
      long answered = System.nanoTime();
      assertEquals(200, revoke.status(), revoke.toString());
      assertTrue(revoke.body().contains("\"phone\""), revoke.toString());
      assertEquals(CloseCode.SESSION_REVOKED.code(), phone.awaitClose());
      System.out.println(
          "revoked phone closed "
              + TimeUnit.NANOSECONDS.toMillis(phone.closedAtNanos() - answered)
              + " ms after the revoke answer");
      assertEquals(401, TestDevice.upgradeStatus(server.port(), phoneTokens.field("access_token")));
      assertEquals(400, api.refresh(phoneTokens.field("refresh_token")).status());
      laptop.send(ClientFrame.newBuilder().setPing(Ping.newBuilder().setNonce(3)));
      assertEquals(3, laptop.next(ServerFrame::hasPong).getPong().getNonce());
      assertEquals(
          404, api.delete("/v1/devices/phone", laptopTokens.field("access_token")).status());
    }
  }

  @Test
  void revokingAllOtherDevicesSparesTheCurrentOne() {
    HttpApi.Answer a = signIn("eve", "a");
    HttpApi.Answer b = signIn("eve", "b");
    HttpApi.Answer c = signIn("eve", "c");
    try (TestDevice da = connect(a);
        TestDevice db = connect(b);
        TestDevice dc = connect(c)) {
      long id =
          db.send(
              ClientFrame.newBuilder()
                  .setRevokeDevice(RevokeDevice.newBuilder().setAllOthers(true)));
      ServerFrame r = db.next(f -> f.getRequestId() == id);
      assertTrue(r.hasDevicesRevoked(), r.toString());
      assertEquals(
          List.of("a", "c"), r.getDevicesRevoked().getDeviceIdsList().stream().sorted().toList());
      assertEquals(CloseCode.SESSION_REVOKED.code(), da.awaitClose());
      assertEquals(CloseCode.SESSION_REVOKED.code(), dc.awaitClose());
      assertFalse(db.isClosed());
      HttpApi.Answer list = api.get("/v1/devices", b.field("access_token"));
      assertFalse(list.body().contains("\"device_id\":\"a\""), list.toString());
      assertTrue(list.body().contains("\"device_id\":\"b\""), list.toString());
    }
  }

  @Test
  void deviceListShowsNamesPlatformsAndWhoIsOnlineOverHttpAndTheSocket() throws Exception {
    HttpApi.Answer phone = signIn("fay", "phone");
    HttpApi.Answer tv = signIn("fay", "tv");
    try (TestDevice p = connect(phone)) {
      // The memory engine records the connection before the Welcome goes out.
      HttpApi.Answer[] list = {api.get("/v1/devices", tv.field("access_token"))};
      assertTrue(
          list[0].body().matches(".*\"device_id\":\"phone\"[^}]*\"online\":true.*"),
          list[0].toString());
      assertTrue(list[0].body().contains("\"name\":\"phone of fay\""), list[0].toString());
      assertTrue(
          list[0].body().matches(".*\"device_id\":\"tv\"[^}]*\"online\":false,\"current\":true.*"),
          list[0].toString());
      long id = p.send(ClientFrame.newBuilder().setListDevices(ListDevices.getDefaultInstance()));
      List<DeviceInfo> devices =
          p.next(f -> f.getRequestId() == id).getDeviceList().getDevicesList();
      assertEquals(2, devices.size());
      DeviceInfo me = devices.stream().filter(DeviceInfo::getCurrent).findFirst().orElseThrow();
      assertEquals("phone", me.getDeviceId());
      assertTrue(me.getOnline());
      assertEquals("ios", me.getPlatform());
    }
  }

  @Test
  void javaClientListsAndRevokesTheUsersDevices() throws Exception {
    String phoneToken = signIn("gus", "phone").field("access_token");
    signIn("gus", "tv");
    try (HandoffClient c =
        HandoffClient.builder().url(java.net.URI.create(server.url())).token(phoneToken).build()) {
      c.connect().get(10, TimeUnit.SECONDS);
      List<DeviceInfo> devices = c.devices().get(10, TimeUnit.SECONDS);
      assertEquals(
          List.of("phone", "tv"), devices.stream().map(DeviceInfo::getDeviceId).sorted().toList());
      assertEquals(
          "phone",
          devices.stream().filter(DeviceInfo::getCurrent).findFirst().orElseThrow().getDeviceId());
      assertEquals(List.of("tv"), c.revokeDevice("tv").get(10, TimeUnit.SECONDS));
      java.util.concurrent.ExecutionException unknown =
          org.junit.jupiter.api.Assertions.assertThrows(
              java.util.concurrent.ExecutionException.class,
              () -> c.revokeDevice("toaster").get(10, TimeUnit.SECONDS));
      assertEquals(
          io.handoff.protocol.v1.ErrorCode.UNKNOWN_DEVICE,
          ((io.handoff.client.HandoffException) unknown.getCause()).errorCode());
      assertEquals(1, c.devices().get(10, TimeUnit.SECONDS).size(), "only this device is left");
    }
  }

  @Test
  void deviceBeyondTheLimitGetsAClearError() {
    signIn("gus", "a");
    signIn("gus", "b");
    signIn("gus", "c");
    HttpApi.Answer d = api.signIn(app.identity("gus"), "d", "d", "web");
    assertEquals(409, d.status(), d.toString());
    assertEquals("device_limit", d.field("error"));
    assertTrue(d.field("message").contains("the limit is 3"), d.toString());
    signIn("gus", "a"); // Signing in again on a known device is not a new device.
  }

  @Test
  void aBurstOfSignInsForOneUserIsAnAnomaly() {
    for (int i = 0; i < 6; i++) {
      signIn("hal", "phone");
    }
    assertEquals(1, stats().anomalySignInBurst.sum());
  }

  @Test
  void eraseDeletesDocumentsAndSessionsAndDisconnectsEveryDevice() {
    HttpApi.Answer phone = signIn("ivy", "phone");
    try (TestDevice p = connect(phone);
        TestDevice dev = TestDevice.connect(server.port(), TestServer.token("ivy", "laptop"))) {
      dev.hello();
      p.send(Writes.frame("cart", 1, "items", "3"));
      p.next(ServerFrame::hasAck);
      HttpApi.Answer erased = api.delete("/v1/me", phone.field("access_token"));
      assertEquals(200, erased.status(), erased.toString());
      assertEquals(CloseCode.SESSION_REVOKED.code(), p.awaitClose());
      assertEquals(CloseCode.SESSION_REVOKED.code(), dev.awaitClose());
    }
    assertEquals(400, api.refresh(phone.field("refresh_token")).status());
    try (TestDevice again = TestDevice.connect(server.port(), TestServer.token("ivy", "laptop"))) {
      assertEquals(0, again.hello().getWelcome().getSync().getDocumentsCount());
    }
  }

  @Test
  void noEndpointOrFrameReachesAnotherUsersDevicesOrState() {
    HttpApi.Answer victim = signIn("jan", "phone");
    HttpApi.Answer attacker = signIn("kim", "laptop");
    signIn("kim", "tablet");
    try (TestDevice v = connect(victim);
        TestDevice a = connect(attacker)) {
      v.send(Writes.frame("secret", 1, "pin", "1234"));
      v.next(ServerFrame::hasAck);
      String at = attacker.field("access_token");
      HttpApi.Answer list = api.get("/v1/devices", at);
      assertFalse(list.body().contains("\"phone\""), list.toString());
      assertEquals(404, api.delete("/v1/devices/phone", at).status());
      long id =
          a.send(
              ClientFrame.newBuilder()
                  .setRevokeDevice(RevokeDevice.newBuilder().setDeviceId("phone")));
      assertEquals(
          ErrorCode.UNKNOWN_DEVICE, a.next(f -> f.getRequestId() == id).getError().getCode());
      long lid = a.send(ClientFrame.newBuilder().setListDevices(ListDevices.getDefaultInstance()));
      assertTrue(
          a.next(f -> f.getRequestId() == lid).getDeviceList().getDevicesList().stream()
              .noneMatch(d -> d.getDeviceId().equals("phone")));
      // Refreshing in band with the victim's token is refused: another user.
      long rid =
          a.send(
              ClientFrame.newBuilder()
                  .setRefreshToken(
                      io.handoff.protocol.v1.RefreshToken.newBuilder()
                          .setAccessToken(victim.field("access_token"))));
      assertEquals(
          ErrorCode.INVALID_TOKEN, a.next(f -> f.getRequestId() == rid).getError().getCode());
      long aid =
          a.send(
              ClientFrame.newBuilder()
                  .setRevokeDevice(RevokeDevice.newBuilder().setAllOthers(true)));
      assertEquals(
          List.of("tablet"),
          a.next(f -> f.getRequestId() == aid).getDevicesRevoked().getDeviceIdsList());
      assertEquals(200, api.delete("/v1/me", at).status());
      assertEquals(CloseCode.SESSION_REVOKED.code(), a.awaitClose());
      // The victim is untouched: connected, signed in, and its document is there.
      v.send(ClientFrame.newBuilder().setPing(Ping.newBuilder().setNonce(9)));
      assertEquals(9, v.next(ServerFrame::hasPong).getPong().getNonce());
      assertEquals(200, api.refresh(victim.field("refresh_token")).status());
    }
    try (TestDevice v2 = TestDevice.connect(server.port(), TestServer.token("jan", "other"))) {
      assertEquals(1, v2.hello().getWelcome().getSync().getDocumentsCount());
    }
    assertNotNull(server);
  }

  @Test
  void refreshTokenUnusedForTheInactivityLimitNoLongerWorks() throws Exception {
    MutableClock clock = new MutableClock();
    try (TestServer node =
        TestServer.start(
            clock, b -> b.tokens(app.tokens().refreshInactivity(Duration.ofDays(7)).build()))) {
      HttpApi api = new HttpApi(node.port());
      HttpApi.Answer a = api.signIn(app.identity("uli"), "phone", "p", "ios");
      clock.advance(Duration.ofDays(6));
      HttpApi.Answer r = api.refresh(a.field("refresh_token"));
      assertEquals(200, r.status(), "used within the limit: " + r);
      clock.advance(Duration.ofDays(7).plusMinutes(1));
      HttpApi.Answer late = api.refresh(r.field("refresh_token"));
      assertEquals(400, late.status(), late.toString());
      assertTrue(late.field("message").contains("unused for longer than PT168H"), late.toString());
      assertEquals(401, api.get("/v1/devices", r.field("access_token")).status());
      assertEquals(0, node.server.stats().anomalyRevokedTokenUse.sum(), "expiry is no anomaly");
    }
  }

  /**
   * An access token may outlive its session's refresh token while nodes disagree on the lifetimes
   * (a rolling change of the inactivity limit; one node's configuration cannot have it, {@code
   * ServerConfig} refuses it): once the refresh token is dead of inactivity by a node's limit, the
   * session is for that node, so it refuses the token at the upgrade and in the API although nobody
   * presented the refresh token since and the token has not expired.
   */
  @Test
  void accessTokenOfASessionDeadOfInactivityIsRefused() throws Exception {
    MutableClock clock = new MutableClock();
    TokenConfig longer =
        app.tokens()
            .accessTokenTtl(Duration.ofHours(2))
            .refreshInactivity(Duration.ofHours(3))
            .build();
    TokenConfig shorter = app.tokens().refreshInactivity(Duration.ofHours(1)).build();
    try (MemoryEngine engine = new MemoryEngine(StoreLimits.builder().build(), clock);
        HandoffServer old = HandoffServer.start(node("old", longer), engine, Scheduler.system());
        HandoffServer changed =
            HandoffServer.start(node("changed", shorter), engine, Scheduler.system())) {
      HttpApi.Answer a = new HttpApi(old.port()).signIn(app.identity("uma"), "phone", "p", "ios");
      HttpApi api = new HttpApi(changed.port());
      assertEquals(200, api.get("/v1/devices", a.field("access_token")).status());
      clock.advance(Duration.ofHours(1).plusMinutes(1));
      assertEquals(401, api.get("/v1/devices", a.field("access_token")).status());
      assertEquals(401, TestDevice.upgradeStatus(changed.port(), a.field("access_token")));
      assertEquals(
          200,
          new HttpApi(old.port()).get("/v1/devices", a.field("access_token")).status(),
          "alive by the other node's limit");
    }
  }

  private static ServerConfig node(String name, TokenConfig tokens) {
    return ServerConfig.builder()
        .host("127.0.0.1")
        .port(0)
        .nodeId(name)
        .jwtSecret(TestServer.SECRET)
        .tokens(tokens)
        .build();
  }

  @Test
  void expiresInIsCountedOnTheNodesClock() throws Exception {
    FakeScheduler time = new FakeScheduler();
    try (TestServer node = TestServer.start(time, b -> b.tokens(app.tokens().build()))) {
      HttpApi api = new HttpApi(node.port());
      HttpApi.Answer a = api.signIn(app.identity("ned"), "phone", "p", "ios");
      assertEquals(201, a.status(), a.toString());
      // The node's clock an hour ahead of the real one (its timers need not run for this).
      time.mutableClock().advance(Duration.ofHours(1));
      HttpApi.Answer r = api.refresh(a.field("refresh_token"));
      assertEquals(200, r.status(), r.toString());
      long ttl = TokenConfig.DEFAULT_ACCESS_TOKEN_TTL.toSeconds();
      assertEquals(ttl * 1000, r.number("expires_at_ms") - time.clock().millis(), r.toString());
      assertEquals(ttl, r.number("expires_in"), r.toString());
    }
  }

  @Test
  void aFormBodyToAJsonOnlyRouteIsToldWhichContentTypeItTakes() throws Exception {
    java.net.http.HttpResponse<String> r =
        java.net.http.HttpClient.newHttpClient()
            .send(
                java.net.http.HttpRequest.newBuilder(
                        java.net.URI.create("http://127.0.0.1:" + server.port() + "/v1/sessions"))
                    .header("Content-Type", "application/x-www-form-urlencoded; charset=UTF-8")
                    .POST(
                        java.net.http.HttpRequest.BodyPublishers.ofString(
                            "identity_token=x&device_id=phone"))
                    .build(),
                java.net.http.HttpResponse.BodyHandlers.ofString());
    assertEquals(400, r.statusCode(), r.body());
    assertTrue(r.body().contains("invalid_request"), r.body());
    assertTrue(r.body().contains("application/json"), r.body());
    assertTrue(r.body().contains("application/x-www-form-urlencoded"), r.body());
  }

  @Test
  void refreshAcceptsTheOAuthFormEncodingAndTheApiWantsABearerToken() throws Exception {
    HttpApi.Answer a = signIn("val", "phone");
    java.net.http.HttpResponse<String> r =
        java.net.http.HttpClient.newHttpClient()
            .send(
                java.net.http.HttpRequest.newBuilder(
                        java.net.URI.create("http://127.0.0.1:" + server.port() + "/v1/token"))
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .POST(
                        java.net.http.HttpRequest.BodyPublishers.ofString(
                            "grant_type=refresh_token&refresh_token="
                                + java.net.URLEncoder.encode(
                                    a.field("refresh_token"),
                                    java.nio.charset.StandardCharsets.UTF_8)))
                    .build(),
                java.net.http.HttpResponse.BodyHandlers.ofString());
    assertEquals(200, r.statusCode(), r.body());
    assertEquals("no-store", r.headers().firstValue("Cache-Control").orElse(""));
    HttpApi.Answer none = api.get("/v1/devices", null);
    assertEquals(401, none.status());
    assertTrue(none.field("message").contains("missing access token"), none.toString());
    assertEquals(405, api.get("/v1/me", a.field("access_token")).status());
    assertEquals(404, api.get("/v1/nothing", a.field("access_token")).status());
  }
}
