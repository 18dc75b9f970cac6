package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.client.HandoffClient;
import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.Ping;
import io.handoff.protocol.v1.RefreshToken;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.protocol.v1.Welcome;
import io.handoff.server.auth.DevTokens;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.memory.MemoryEngine;
import java.net.URI;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Live sockets and short access tokens: the server warns before expiry, takes a new token in band,
 * and closes with TOKEN_EXPIRED a connection whose token ran out. Tokens live 3 s here (JWT times
 * are whole seconds), the warning comes 1 s before. The node runs on fake time, which starts on a
 * whole second and moves only when a test advances it: nothing here waits for the clock.
 */
class InBandRefreshTest {
  private static final Duration TTL = Duration.ofSeconds(3);
  private final AppBackend app = new AppBackend();
  private final FakeScheduler time = new FakeScheduler();
  private TestServer server;
  private HttpApi api;

  @BeforeEach
  void start() throws Exception {
    server =
        TestServer.start(
            time,
            b ->
                b.tokens(
                    app.tokens().accessTokenTtl(TTL).expiryNotice(Duration.ofSeconds(1)).build()));
    api = new HttpApi(server.port());
  }

  @AfterEach
  void stop() {
    server.close();
  }

  @Test
  void deviceIsWarnedBeforeExpiryAndContinuesOnANewTokenWithoutReconnecting() {
    HttpApi.Answer a = api.signIn(app.identity("olga"), "phone", "p", "ios");
    try (TestDevice d = TestDevice.connect(server.port(), a.field("access_token"))) {
      Welcome w = d.hello().getWelcome();
      time.advance(Duration.ofSeconds(2)); // The warning is due 1 s before the expiry.
      ServerFrame expiring = d.next(ServerFrame::hasTokenExpiring);
      assertEquals(w.getTokenExpiresAtMs(), expiring.getTokenExpiring().getExpiresAtMs());
      HttpApi.Answer r = api.refresh(a.field("refresh_token"));
      assertEquals(200, r.status(), r.toString());
      long id =
          d.send(
              ClientFrame.newBuilder()
                  .setRefreshToken(
                      RefreshToken.newBuilder().setAccessToken(r.field("access_token"))));
      ServerFrame refreshed = d.next(f -> f.getRequestId() == id);
      assertTrue(refreshed.hasTokenRefreshed(), refreshed.toString());
      assertEquals(r.number("expires_at_ms"), refreshed.getTokenRefreshed().getExpiresAtMs());
      assertTrue(refreshed.getTokenRefreshed().getExpiresAtMs() > w.getTokenExpiresAtMs());
      // The next warning is for the new token, and comes after the old token's expiry.
      time.advance(Duration.ofSeconds(2));
      ServerFrame again = d.next(ServerFrame::hasTokenExpiring);
      assertEquals(r.number("expires_at_ms"), again.getTokenExpiring().getExpiresAtMs());
      assertTrue(time.clock().millis() > w.getTokenExpiresAtMs());
      d.send(ClientFrame.newBuilder().setPing(Ping.newBuilder().setNonce(4)));
      assertEquals(4, d.next(ServerFrame::hasPong).getPong().getNonce());
      assertFalse(d.isClosed());
      assertEquals(1, server.server.stats().inBandRefreshes.sum());
    }
  }

  @Test
  void connectionWhoseTokenExpiresUnrefreshedIsClosedWithTokenExpired() {
    HttpApi.Answer a = api.signIn(app.identity("pam"), "phone", "p", "ios");
    try (TestDevice d = TestDevice.connect(server.port(), a.field("access_token"))) {
      Welcome w = d.hello().getWelcome();
      time.advance(Duration.ofMillis(2_999));
      assertTrue(d.next(ServerFrame::hasTokenExpiring).hasTokenExpiring());
      assertFalse(d.isClosed());
      time.advance(Duration.ofMillis(1));
      assertEquals(CloseCode.TOKEN_EXPIRED.code(), d.awaitClose());
      assertTrue(time.clock().millis() >= w.getTokenExpiresAtMs());
      assertEquals(1, server.server.stats().tokenExpiredCloses.sum());
    }
  }

  @Test
  void newTokenOfAnotherDeviceOrARevokedSessionIsRefusedInBand() {
    HttpApi.Answer phone = api.signIn(app.identity("quinn"), "phone", "p", "ios");
    HttpApi.Answer tv = api.signIn(app.identity("quinn"), "tv", "t", "tvos");
    try (TestDevice d = TestDevice.connect(server.port(), phone.field("access_token"))) {
      d.hello();
      long id =
          d.send(
              ClientFrame.newBuilder()
                  .setRefreshToken(
                      RefreshToken.newBuilder().setAccessToken(tv.field("access_token"))));
      ServerFrame e = d.next(f -> f.getRequestId() == id);
      assertEquals(ErrorCode.INVALID_TOKEN, e.getError().getCode());
      assertTrue(e.getError().getMessage().contains("same user and device"), e.toString());
      long bad =
          d.send(
              ClientFrame.newBuilder()
                  .setRefreshToken(RefreshToken.newBuilder().setAccessToken("x.y.z")));
      assertEquals(
          ErrorCode.INVALID_TOKEN, d.next(f -> f.getRequestId() == bad).getError().getCode());
      // A development token of the same user and device is accepted (it has no session to check).
      long dev =
          d.send(
              ClientFrame.newBuilder()
                  .setRefreshToken(
                      RefreshToken.newBuilder()
                          .setAccessToken(TestServer.token("quinn", "phone"))));
      assertTrue(d.next(f -> f.getRequestId() == dev).hasTokenRefreshed());
    }
  }

  @Test
  void javaClientHandsOverFreshTokensFromItsSupplierWithoutReconnecting() throws Exception {
    AtomicInteger asked = new AtomicInteger();
    CountDownLatch thirdAsk = new CountDownLatch(3);
    try (HandoffClient c =
        HandoffClient.builder()
            .url(URI.create(server.url()))
            .tokenSupplier(
                () -> {
                  asked.incrementAndGet();
                  thirdAsk.countDown();
                  return DevTokens.mint(
                      TestServer.SECRET, "rita", "laptop", TTL, time.clock().instant());
                })
            .build()) {
      c.connect().get(10, TimeUnit.SECONDS);
      // Asked at connect, at the first warning, and at the warning for the in-band token, which
      // comes after the first token's expiry: the connection outlived its first token.
      outliveTheFirstToken();
      assertTrue(thirdAsk.await(10, TimeUnit.SECONDS), "asked " + asked.get() + " times");
      assertTrue(server.server.stats().inBandRefreshes.sum() >= 1);
      // Counted before the close frame is sent, so a TOKEN_EXPIRED close would show here.
      assertEquals(0, server.server.stats().tokenExpiredCloses.sum());
      assertEquals(1, server.server.stats().connectionsOpened.sum());
    }
  }

  @Test
  void javaClientWithAnAsyncTokenSourceConnectsAndRefreshesInBand() throws Exception {
    HttpApi.Answer signedIn = api.signIn(app.identity("sue"), "laptop", "l", "macos");
    java.util.concurrent.atomic.AtomicReference<String> refresh =
        new java.util.concurrent.atomic.AtomicReference<>(signedIn.field("refresh_token"));
    CountDownLatch thirdAsk = new CountDownLatch(3);
    try (HandoffClient c =
        HandoffClient.builder()
            .url(URI.create(server.url()))
            .tokenSource(
                () ->
                    java.util.concurrent.CompletableFuture.supplyAsync(
                        () -> {
                          // What an app does: rotate the refresh token, use the new access token.
                          HttpApi.Answer r = api.refresh(refresh.get());
                          refresh.set(r.field("refresh_token"));
                          thirdAsk.countDown();
                          return r.field("access_token");
                        }))
            .build()) {
      c.connect().get(10, TimeUnit.SECONDS);
      assertEquals("sue", c.userId());
      outliveTheFirstToken();
      assertTrue(thirdAsk.await(10, TimeUnit.SECONDS));
      assertEquals(0, server.server.stats().tokenExpiredCloses.sum());
      assertEquals(0, server.server.stats().anomalyRefreshTokenReuse.sum());
    }
  }

  @Test
  void javaClientSendsARefreshRefusedForNowAgainUntilTheServerTakesIt() throws Exception {
    // One device request at a time, one more a second: the client's own listing spends the burst
    // just before the warning, so its RefreshToken is refused RATE_LIMITED (TOO_MANY_IN_FLIGHT,
    // the other "not now", is handled the same way) and must be sent again before the expiry.
    FakeScheduler limitedTime = new FakeScheduler();
    java.util.List<Throwable> errors = new java.util.concurrent.CopyOnWriteArrayList<>();
    try (TestServer limited =
            TestServer.start(
                limitedTime,
                b ->
                    b.deviceRequestRate(1, 1)
                        .tokens(
                            app.tokens()
                                .accessTokenTtl(TTL)
                                .expiryNotice(Duration.ofSeconds(1))
                                .build()));
        HandoffClient c =
            HandoffClient.builder()
                .url(URI.create(limited.url()))
                .listener(reportingTo(errors))
                .tokenSupplier(
                    () ->
                        DevTokens.mint(
                            TestServer.SECRET, "tess", "phone", TTL, limitedTime.clock().instant()))
                .build()) {
      ServerStats stats = limited.server.stats();
      c.connect().get(10, TimeUnit.SECONDS);
      limitedTime.advance(Duration.ofMillis(1950));
      c.devices().get(10, TimeUnit.SECONDS); // The burst's one request.
      limitedTime.advance(Duration.ofMillis(50)); // The warning: the client refreshes at once.
      Conditions.await(
          "the refresh is refused for now",
          () -> stats.deviceRequestsRateLimited.sum() >= 1,
          Duration.ofSeconds(10));
      limitedTime.advance(Duration.ofMillis(960)); // A request fits again, before the expiry.
      refreshedAgainWithoutReconnecting(stats, limitedTime, Duration.ofSeconds(1), errors);
    }
  }

  @Test
  void javaClientSendsARefreshTheNodeCouldNotCheckAgainOnceTheStoreIsBack() throws Exception {
    // The session store cannot be reached when the client's RefreshToken comes, so the node answers
    // UNAVAILABLE (retryable); the client sends it again and the connection outlives its token.
    FakeScheduler storeTime = new FakeScheduler();
    StoreLimits limits = StoreLimits.builder().build();
    GatedEngine engine = new GatedEngine(new MemoryEngine(limits, storeTime.clock()));
    java.util.List<Throwable> errors = new java.util.concurrent.CopyOnWriteArrayList<>();
    HandoffServer node =
        HandoffServer.start(
            ServerConfig.builder()
                .host("127.0.0.1")
                .port(0)
                .nodeId("store-down")
                .jwtSecret(TestServer.SECRET)
                .storeLimits(limits)
                .tokens(
                    app.tokens().accessTokenTtl(TTL).expiryNotice(Duration.ofSeconds(1)).build())
                .build(),
            engine,
            storeTime);
    HttpApi nodeApi = new HttpApi(node.port());
    java.util.concurrent.atomic.AtomicReference<String> refresh =
        new java.util.concurrent.atomic.AtomicReference<>(
            nodeApi.signIn(app.identity("una"), "phone", "p", "ios").field("refresh_token"));
    try (HandoffClient c =
        HandoffClient.builder()
            .url(URI.create("ws://127.0.0.1:" + node.port() + "/ws"))
            .listener(reportingTo(errors))
            .tokenSupplier(
                () -> {
                  HttpApi.Answer r = nodeApi.refresh(refresh.get());
                  refresh.set(r.field("refresh_token"));
                  return r.field("access_token");
                })
            .build()) {
      ServerStats stats = node.stats();
      c.connect().get(10, TimeUnit.SECONDS);
      engine.failSessionStatuses(1);
      storeTime.advance(Duration.ofSeconds(2)); // The warning: the client refreshes at once.
      Conditions.await(
          "the node could not check the refresh",
          () -> engine.sessionStatusesLeftToFail() == 0,
          Duration.ofSeconds(10));
      assertEquals(0, stats.authFailures.sum(), "a store that could not be asked refused no token");
      refreshedAgainWithoutReconnecting(stats, storeTime, Duration.ofSeconds(2), errors);
    } finally {
      node.close();
      engine.close();
    }
  }

  /**
   * Waits until the node took the client's refresh sent again, moves {@code time} past the first
   * token's expiry ({@code pastExpiry}), and checks the connection outlived it without a reconnect
   * or an error reported to the app.
   */
  private static void refreshedAgainWithoutReconnecting(
      ServerStats stats,
      FakeScheduler time,
      Duration pastExpiry,
      java.util.List<Throwable> errors) {
    Conditions.await(
        "the client sends the refresh again and the node takes it",
        () -> stats.inBandRefreshes.sum() == 1,
        Duration.ofSeconds(10));
    time.advance(pastExpiry);
    assertEquals(0, stats.tokenExpiredCloses.sum());
    assertEquals(1, stats.connectionsOpened.sum(), "no reconnect");
    assertTrue(errors.isEmpty(), "a refusal for now is not the app's business: " + errors);
  }

  /** A listener that keeps the errors the client reports in {@code errors}. */
  private static io.handoff.client.HandoffListener reportingTo(java.util.List<Throwable> errors) {
    return new io.handoff.client.HandoffListener() {
      @Override
      public void onError(io.handoff.client.HandoffException error) {
        errors.add(error);
      }
    };
  }

  /**
   * Moves time to the first token's warning, waits for the client's new token to be taken in band,
   * then moves past the first token's expiry to the new token's warning.
   */
  private void outliveTheFirstToken() {
    time.advance(Duration.ofSeconds(2));
    Conditions.await(
        "the client hands over a new token",
        () -> server.server.stats().inBandRefreshes.sum() >= 1,
        Duration.ofSeconds(10));
    time.advance(Duration.ofSeconds(2));
  }
}
