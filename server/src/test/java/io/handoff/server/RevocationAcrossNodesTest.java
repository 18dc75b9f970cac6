package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.Ping;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.redis.RedisEngine;
import io.handoff.server.handoff.HandoffLimits;
import io.lettuce.core.KillArgs;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Two nodes on one real Redis sharing a signing key: sessions and revocations hold across nodes.
 */
class RevocationAcrossNodesTest {
  private final AppBackend app = new AppBackend();
  private final List<AutoCloseable> closeables = new ArrayList<>();
  private final String prefix = "test-" + UUID.randomUUID() + ":";

  @AfterEach
  void stop() throws Exception {
    for (int i = closeables.size() - 1; i >= 0; i--) {
      closeables.get(i).close();
    }
  }

  private HandoffServer node(String name) throws Exception {
    return node(name, Scheduler.system());
  }

  /**
   * A node on {@code time}, its engine on the same clock. The tests that promise a close within a
   * second run both nodes on fake time they never move: no timer of either node can have closed the
   * device then, only the revocation's own signal, however long a loaded machine takes to carry it.
   */
  private HandoffServer node(String name, Scheduler time) throws Exception {
    ServerConfig config =
        ServerConfig.builder()
            .host("127.0.0.1")
            .port(0)
            .nodeId(name)
            .jwtSecret(TestServer.SECRET)
            .tokens(app.tokens().refreshReuseInterval(Duration.ZERO).build())
            .handoffLimits(HandoffLimits.builder().presenceTtl(Duration.ofSeconds(3)).build())
            .build();
    RedisEngine engine =
        RedisEngine.connect(
            RedisProcess.sharedUrl(), prefix, StoreLimits.builder().build(), time.clock());
    closeables.add(engine);
    HandoffServer server = HandoffServer.start(config, engine, time);
    closeables.add(server);
    return server;
  }

  @Test
  void revokedDeviceIsDisconnectedOnEveryNodeWithinOneSecond() throws Exception {
    HandoffServer n1 = node("n1", new FakeScheduler());
    HandoffServer n2 = node("n2", new FakeScheduler());
    HttpApi api1 = new HttpApi(n1.port());
    HttpApi api2 = new HttpApi(n2.port());
    HttpApi.Answer phone = api1.signIn(app.identity("lou"), "phone", "Lou's phone", "ios");
    HttpApi.Answer laptop = api2.signIn(app.identity("lou"), "laptop", "Lou's laptop", "macos");
    assertEquals(201, phone.status(), phone.toString());
    assertEquals(201, laptop.status(), laptop.toString());
    String at = phone.field("access_token");
    // The phone is on n1 (a device is on one node at a time: a second connection of it, on any
    // node, replaces the first), the revocation is made on n2.
    try (TestDevice onN1 = TestDevice.connect(n1.port(), at);
        TestDevice other = TestDevice.connect(n1.port(), laptop.field("access_token"))) {
      onN1.hello();
      other.hello();
      HttpApi.Answer revoke = api2.delete("/v1/devices/phone", laptop.field("access_token"));
      long answered = System.nanoTime();
      assertEquals(200, revoke.status(), revoke.toString());
      assertEquals(CloseCode.SESSION_REVOKED.code(), onN1.awaitClose());
      System.out.println(
          "revoked phone closed "
              + TimeUnit.NANOSECONDS.toMillis(onN1.closedAtNanos() - answered)
              + " ms after the revoke answer");
      // Refused from then on, on both nodes; the other device is untouched.
      assertEquals(401, TestDevice.upgradeStatus(n1.port(), at));
      assertEquals(401, TestDevice.upgradeStatus(n2.port(), at));
      assertEquals(400, api1.refresh(phone.field("refresh_token")).status());
      other.send(ClientFrame.newBuilder().setPing(Ping.newBuilder().setNonce(5)));
      assertEquals(5, other.next(ServerFrame::hasPong).getPong().getNonce());
      assertFalse(other.isClosed());
    }
  }

  /**
   * A revocation whose signal the node missed (its subscription was down as it went out) is still
   * seen: once subscribed again, the node checks its connections' sessions, not only their
   * documents.
   */
  @Test
  void aRevocationWhoseSignalTheNodeMissedClosesTheDeviceOnceItIsSubscribedAgain()
      throws Exception {
    HandoffServer n1 = node("n1");
    HttpApi.Answer phone =
        new HttpApi(n1.port()).signIn(app.identity("ida"), "phone", "Ida's phone", "ios");
    assertEquals(201, phone.status(), phone.toString());
    RedisClient admin = RedisClient.create(RedisProcess.sharedUrl());
    closeables.add(admin::shutdown);
    try (TestDevice device = TestDevice.connect(n1.port(), phone.field("access_token"));
        RedisEngine side =
            RedisEngine.connect(RedisProcess.sharedUrl(), prefix, StoreLimits.builder().build());
        StatefulRedisConnection<String, String> c = admin.connect()) {
      device.hello();
      // Revoked in the store only, as if the signal that kicks the device had been lost.
      assertEquals(
          List.of("phone"),
          side.sessions().revoke("ida", "phone", false).get(10, TimeUnit.SECONDS));
      device.send(ClientFrame.newBuilder().setPing(Ping.newBuilder().setNonce(7)));
      assertEquals(7, device.next(ServerFrame::hasPong).getPong().getNonce(), "nothing told n1");

      c.sync().clientKill(KillArgs.Builder.typePubsub());
      assertEquals(CloseCode.SESSION_REVOKED.code(), device.awaitClose());
    }
  }

  /**
   * Signing in again on a device replaces its session: the old session's connections close on every
   * node within a second, and the new session's, made before that kick arrives or after, stay.
   */
  @Test
  void aDeviceSigningInAgainClosesItsOldSessionOnEveryNodeWithinOneSecondAndKeepsTheNewOne()
      throws Exception {
    HandoffServer n1 = node("n1", new FakeScheduler());
    HandoffServer n2 = node("n2", new FakeScheduler());
    HttpApi api1 = new HttpApi(n1.port());
    HttpApi api2 = new HttpApi(n2.port());
    HttpApi.Answer old = api1.signIn(app.identity("liv"), "phone", "Liv's phone", "ios");
    assertEquals(201, old.status(), old.toString());
    String at = old.field("access_token");
    // The old session's connection is on n1 (a second connection of the device, on any node,
    // would replace it), the sign-in on n2.
    try (TestDevice onN1 = TestDevice.connect(n1.port(), at)) {
      onN1.hello();
      HttpApi.Answer again = api2.signIn(app.identity("liv"), "phone", "Liv's phone", "ios");
      long answered = System.nanoTime();
      assertEquals(201, again.status(), again.toString());
      try (TestDevice fresh = TestDevice.connect(n1.port(), again.field("access_token"))) {
        fresh.hello();
        assertEquals(CloseCode.SESSION_REVOKED.code(), onN1.awaitClose());
        System.out.println(
            "old session closed "
                + TimeUnit.NANOSECONDS.toMillis(onN1.closedAtNanos() - answered)
                + " ms after the sign-in answer");
        assertEquals(401, TestDevice.upgradeStatus(n2.port(), at));
        fresh.send(ClientFrame.newBuilder().setPing(Ping.newBuilder().setNonce(6)));
        assertEquals(6, fresh.next(ServerFrame::hasPong).getPong().getNonce());
        assertFalse(fresh.isClosed());
      }
    }
  }

  @Test
  void deviceListShowsTheDevicesOfAStoppedNodeOfflineWithinThePresenceTtl() throws Exception {
    HandoffServer n1 = node("n1");
    HandoffServer n2 = node("n2");
    HttpApi api2 = new HttpApi(n2.port());
    HttpApi.Answer phone = api2.signIn(app.identity("max"), "phone", "Max's phone", "ios");
    HttpApi.Answer laptop = api2.signIn(app.identity("max"), "laptop", "Max's laptop", "macos");
    String laptopToken = laptop.field("access_token");
    try (TestDevice onN1 = TestDevice.connect(n1.port(), phone.field("access_token"));
        TestDevice onN2 = TestDevice.connect(n2.port(), laptopToken).presenceFrames()) {
      onN1.hello();
      onN2.hello();
      assertTrue(
          api2.get("/v1/devices", laptopToken)
              .body()
              .matches(".*\"device_id\":\"phone\"[^}]*\"online\":true.*"));
      n1.abort(); // No goodbye: the phone's presence entry simply stops being refreshed.
      onN2.next(
          f ->
              f.hasPresenceUpdate()
                  && f.getPresenceUpdate().getDevicesList().stream()
                      .anyMatch(d -> d.getDeviceId().equals("phone") && !d.getOnline()));
      HttpApi.Answer list = api2.get("/v1/devices", laptopToken);
      assertTrue(
          list.body().matches(".*\"device_id\":\"phone\"[^}]*\"online\":false.*"), list.toString());
    }
  }

  @Test
  void refreshTokenRotatedOnOneNodeIsReuseOnTheOther() throws Exception {
    HandoffServer n1 = node("n1");
    HandoffServer n2 = node("n2");
    HttpApi api1 = new HttpApi(n1.port());
    HttpApi api2 = new HttpApi(n2.port());
    HttpApi.Answer a = api1.signIn(app.identity("max"), "phone", "p", "ios");
    try (TestDevice d = TestDevice.connect(n2.port(), a.field("access_token"))) {
      d.hello();
      assertEquals(200, api1.refresh(a.field("refresh_token")).status());
      HttpApi.Answer reuse = api2.refresh(a.field("refresh_token"));
      assertEquals(400, reuse.status(), reuse.toString());
      assertEquals(1, n2.stats().anomalyRefreshTokenReuse.sum());
      assertEquals(CloseCode.SESSION_REVOKED.code(), d.awaitClose());
    }
  }

  @Test
  void eraseOnOneNodeDisconnectsTheUserOnTheOtherAndDeletesItsDocuments() throws Exception {
    HandoffServer n1 = node("n1");
    HandoffServer n2 = node("n2");
    HttpApi.Answer a = new HttpApi(n1.port()).signIn(app.identity("ned"), "phone", "p", "ios");
    try (TestDevice d = TestDevice.connect(n2.port(), a.field("access_token"))) {
      d.hello();
      d.send(Writes.frame("cart", 1, "items", "2"));
      d.next(ServerFrame::hasAck);
      assertEquals(200, new HttpApi(n1.port()).delete("/v1/me", a.field("access_token")).status());
      assertEquals(CloseCode.SESSION_REVOKED.code(), d.awaitClose());
    }
    try (TestDevice again = TestDevice.connect(n1.port(), TestServer.token("ned", "phone"))) {
      io.handoff.protocol.v1.Welcome w = again.hello().getWelcome();
      assertEquals(0, w.getSync().getDocumentsCount());
      assertEquals(0, w.getLastClientSeq(), "write sequences are erased too");
    }
  }
}
