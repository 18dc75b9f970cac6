package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.handoff.server.devices.ApprovalConfig;
import io.handoff.server.devices.ApprovalStore;
import io.handoff.server.engine.redis.RedisEngine;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Device sign-in by approval under store faults, over real HTTP on nodes sharing a real Redis
 * process of this test (paused with SIGSTOP), checked against what Redis holds.
 */
class ApprovalFaultTest {
  private static final Duration INTERVAL = Duration.ofSeconds(5);
  private final AppBackend app = new AppBackend();
  private final MutableClock clock = new MutableClock();
  private final Nodes nodes = new Nodes();
  private final RedisProcess redis = nodes.add(RedisProcess.start());
  private final Signal healthChanged = new Signal();
  private String paused;

  @AfterEach
  void stop() {
    if (paused != null) {
      RedisProcess.signal("-CONT", paused);
    }
    nodes.close();
  }

  private HandoffServer node(String name) throws Exception {
    HandoffServer n =
        nodes.redis(
            redis.url(),
            name,
            clock,
            b ->
                b.tokens(app.tokens().build())
                    .approvals(
                        ApprovalConfig.builder()
                            .pollInterval(INTERVAL)
                            .codeTtl(Duration.ofMinutes(10))
                            .build()));
    ((RedisEngine) n.engine()).onHealthChange(healthChanged::fire);
    return n;
  }

  private void pause() {
    paused = redis.pid();
    RedisProcess.signal("-STOP", paused);
  }

  private void resume() {
    RedisProcess.signal("-CONT", paused);
    paused = null;
  }

  private static HttpApi.Answer poll(HttpApi api, String deviceCode) {
    return api.post(
        "/v1/token",
        "{\"grant_type\":\"urn:ietf:params:oauth:grant-type:device_code\",\"device_code\":\""
            + deviceCode
            + "\"}");
  }

  /** The request's hash in Redis, the ground truth. */
  private Map<String, String> request(String id) {
    try (RedisClient c = RedisClient.create(redis.url());
        StatefulRedisConnection<String, String> conn = c.connect()) {
      return conn.sync().hgetall(nodes.prefix + "{ap:" + id + "}:r");
    }
  }

  /** The user's device id → live session id hash in Redis. */
  private Map<String, String> devices(String user) {
    try (RedisClient c = RedisClient.create(redis.url());
        StatefulRedisConnection<String, String> conn = c.connect()) {
      return conn.sync().hgetall(nodes.prefix + "{" + user + "}:dev");
    }
  }

  @Test
  void aPollWhoseAnswerWasLostToAPausedRedisStillSignsTheDeviceInOnceWhenPolledAgain()
      throws Exception {
    HandoffServer n1 = node("n1");
    HandoffServer n2 = node("n2");
    HttpApi tvApi = new HttpApi(n1.port());
    HttpApi phoneApi = new HttpApi(n2.port());
    HttpApi.Answer code =
        tvApi.post(
            "/v1/device_authorization",
            "{\"device_id\":\"tv-1\",\"device_name\":\"Living room\",\"platform\":\"tv\"}");
    assertEquals(200, code.status(), code.toString());
    String deviceCode = code.field("device_code");
    String id = deviceCode.split("\\.")[1];
    // Polled once before the approval, as a waiting device does (so Redis has the script cached).
    assertEquals("authorization_pending", poll(tvApi, deviceCode).field("error"));
    clock.advance(INTERVAL);
    HttpApi.Answer phone = phoneApi.signIn(app.identity("ada"), "phone", "Phone", "ios");
    assertEquals(201, phone.status(), phone.toString());
    HttpApi.Answer yes =
        phoneApi.post(
            "/v1/device/answer",
            "{\"user_code\":\"" + code.field("user_code") + "\",\"decision\":\"approve\"}",
            phone.field("access_token"));
    assertEquals(200, yes.status(), yes.toString());

    // The poll reaches a hung Redis: the node's command times out and the device is told to try
    // again; Redis runs the poll once it resumes.
    pause();
    HttpApi.Answer lost = poll(tvApi, deviceCode);
    assertEquals(503, lost.status(), lost.toString());
    resume();
    healthChanged.await("Redis is back", n1.engine()::healthy, Duration.ofSeconds(20));
    Conditions.await(
        "the paused poll ran once Redis resumed",
        () -> !"APPROVED".equals(request(id).get("state")),
        Duration.ofSeconds(20));
    assertEquals(Map.of("phone", devices("ada").get("phone")), devices("ada"), "no tv session yet");

    // Polled on: the session may still be in the making on the node that consumed the approval,
    // so the device waits out the lease, and then gets its session.
    clock.advance(INTERVAL);
    HttpApi.Answer wait = poll(tvApi, deviceCode);
    assertEquals("authorization_pending", wait.field("error"), wait.toString());
    clock.advance(Duration.ofMillis(ApprovalStore.CONSUME_LEASE_MILLIS));
    HttpApi.Answer tokens = poll(tvApi, deviceCode);
    assertEquals(200, tokens.status(), "the device is signed in after all: " + tokens);
    assertEquals("tv-1", tokens.field("device_id"));
    assertEquals(tokens.field("session_id"), devices("ada").get("tv-1"));
    try (TestDevice tv = TestDevice.connect(n2.port(), tokens.field("access_token"))) {
      assertEquals("tv-1", tv.hello().getWelcome().getDeviceId());
    }
    // Once: the code is used now, for good.
    clock.advance(Duration.ofMillis(2 * ApprovalStore.CONSUME_LEASE_MILLIS));
    HttpApi.Answer again = poll(tvApi, deviceCode);
    assertEquals("invalid_grant", again.field("error"), again.toString());
    assertEquals(tokens.field("session_id"), devices("ada").get("tv-1"));
    assertEquals(2, devices("ada").size());
  }
}
