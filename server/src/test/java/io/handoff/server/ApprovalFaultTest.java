package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.AnswerApproval;
import io.handoff.protocol.v1.ApprovalOutcome;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.server.devices.ApprovalConfig;
import io.handoff.server.devices.ApprovalStore;
import io.handoff.server.engine.redis.RedisEngine;
import io.lettuce.core.KillArgs;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
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
  private final RedisProcess redis = nodes.add(RedisProcess.startInMemory());
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
    return node(name, redis.url());
  }

  private HandoffServer node(String name, String redisUrl) throws Exception {
    HandoffServer n =
        nodes.redis(
            redisUrl,
            name,
            clock,
            b ->
                b.tokens(app.tokens().build())
                    .approvals(
                        ApprovalConfig.builder()
                            .newDeviceApproval(true)
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

  private static long answer(TestDevice d, String approvalId, boolean approve) {
    return d.send(
        ClientFrame.newBuilder()
            .setAnswerApproval(
                AnswerApproval.newBuilder().setApprovalId(approvalId).setApprove(approve)));
  }

  private static ServerFrame promptFor(TestDevice d, String approvalId) {
    return d.next(
        f ->
            f.hasApprovalPrompt()
                && f.getApprovalPrompt().getRequest().getApprovalId().equals(approvalId));
  }

  @Test
  void anApprovalWhoseAnswerWasLostIsAnsweredAgainAsTheWinnerAndTheOtherDevicesSeeItWithdrawn()
      throws Exception {
    // The phone's node reaches Redis through a proxy that can lose Redis's answers.
    ChaosProxy proxy = nodes.add(new ChaosProxy(Integer.parseInt(redis.url().split(":")[2])));
    HandoffServer n1 = node("n1", "redis://127.0.0.1:" + proxy.port());
    HandoffServer n2 = node("n2");
    HttpApi api1 = new HttpApi(n1.port());
    HttpApi api2 = new HttpApi(n2.port());
    HttpApi.Answer phoneIn = api1.signIn(app.identity("bo"), "phone", "Phone", "ios");
    assertEquals(201, phoneIn.status(), phoneIn.toString());
    TestDevice phone = nodes.add(TestDevice.connect(n1.port(), phoneIn.field("access_token")));
    phone.hello();
    // The laptop is approved by the phone (so every script the answer runs is cached in Redis).
    HttpApi.Answer laptopHeld = api2.signIn(app.identity("bo"), "laptop", "Laptop", "mac");
    assertEquals(202, laptopHeld.status(), laptopHeld.toString());
    promptFor(phone, laptopHeld.field("approval_id"));
    long first = answer(phone, laptopHeld.field("approval_id"), true);
    assertTrue(phone.next(f -> f.getRequestId() == first).hasApprovalAnswered());
    HttpApi.Answer laptopIn = poll(api2, laptopHeld.field("device_code"));
    assertEquals(200, laptopIn.status(), laptopIn.toString());
    TestDevice laptop = nodes.add(TestDevice.connect(n2.port(), laptopIn.field("access_token")));
    laptop.hello();

    HttpApi.Answer tvHeld = api2.signIn(app.identity("bo"), "tv", "TV", "tv");
    assertEquals(202, tvHeld.status(), tvHeld.toString());
    String id = tvHeld.field("approval_id");
    promptFor(phone, id);
    promptFor(laptop, id);

    // The phone's approval reaches Redis and is applied there; its answer is lost.
    proxy.loseAnswersAfter(("{ap:" + id + "}").getBytes(StandardCharsets.UTF_8));
    long lost = answer(phone, id, true);
    ServerFrame unavailable = phone.next(f -> f.getRequestId() == lost);
    assertEquals(ErrorCode.UNAVAILABLE, unavailable.getError().getCode(), unavailable.toString());
    assertTrue(unavailable.getError().getRetryable());
    assertEquals("APPROVED", request(id).get("state"), "Redis applied the lost answer");
    assertEquals("phone", request(id).get("by"));
    proxy.loseAnswersAfter(null);
    proxy.cutAll();
    // Polled: the last step back to healthy, the command connection reopened, fires no health
    // change, so a Signal would sleep out its whole bound after it.
    Conditions.await(
        "n1 reaches Redis again",
        n1.engine()::healthy,
        Duration.ofSeconds(20),
        Duration.ofMillis(10));

    // Sent again, as the error asked, while it is UNAVAILABLE: healthy() speaks for the node's
    // shared connections, and the phone's event loop's own connection to Redis may still be
    // reconnecting (a command refused there is not sent, so nothing is applied twice). The phone's
    // answer is the one that won.
    ServerFrame[] reply = new ServerFrame[1];
    Conditions.await(
        "the phone's answer sent again is answered other than UNAVAILABLE",
        () -> {
          long again = answer(phone, id, true);
          reply[0] = phone.next(f -> f.getRequestId() == again);
          return !(reply[0].hasError() && reply[0].getError().getCode() == ErrorCode.UNAVAILABLE);
        },
        Duration.ofSeconds(20),
        Duration.ofMillis(200));
    ServerFrame answered = reply[0];
    assertTrue(answered.hasApprovalAnswered(), "the phone's approval won: " + answered);
    assertEquals(ApprovalOutcome.APPROVAL_APPROVED, answered.getApprovalAnswered().getOutcome());
    ServerFrame withdrawn =
        laptop.next(
            f -> f.hasApprovalWithdrawn() && f.getApprovalWithdrawn().getApprovalId().equals(id));
    assertEquals(ApprovalOutcome.APPROVAL_APPROVED, withdrawn.getApprovalWithdrawn().getOutcome());
    assertEquals("phone", withdrawn.getApprovalWithdrawn().getByDevice());

    HttpApi.Answer tvIn = poll(api2, tvHeld.field("device_code"));
    assertEquals(200, tvIn.status(), tvIn.toString());
    assertEquals(tvIn.field("session_id"), devices("bo").get("tv"));
    assertEquals(3, devices("bo").size());
    assertEquals("CONSUMED", request(id).get("state"));
    assertEquals("phone", request(id).get("by"));
  }

  @Test
  void promptsWhoseSignalsWereLostAreShownAndWithdrawnOnceTheNodeIsSubscribedAgain()
      throws Exception {
    HandoffServer n1 = node("n1");
    HttpApi.Answer phoneIn = new HttpApi(n1.port()).signIn(app.identity("cy"), "phone", "P", "ios");
    assertEquals(201, phoneIn.status(), phoneIn.toString());
    TestDevice phone = nodes.add(TestDevice.connect(n1.port(), phoneIn.field("access_token")));
    phone.hello();
    // A held sign-in stored, its prompt signal lost (as while the node's subscription was down).
    ApprovalStore store = n1.engine().approvals();
    long now = clock.millis();
    ApprovalStore.Request held =
        new ApprovalStore.Request(
            "lost-prompt",
            "new_device",
            "cy",
            "tv",
            "TV",
            "tv",
            "127.0.0.1",
            now,
            now + Duration.ofMinutes(2).toMillis(),
            INTERVAL.toMillis(),
            "0".repeat(64),
            ApprovalStore.State.PENDING,
            "",
            0);
    assertEquals(
        ApprovalStore.Created.CREATED,
        store.create(held, new ApprovalStore.Bounds(100, 10, 10)).get(10, TimeUnit.SECONDS));
    try (RedisClient c = RedisClient.create(redis.url());
        StatefulRedisConnection<String, String> admin = c.connect()) {
      admin.sync().clientKill(KillArgs.Builder.typePubsub());
      ServerFrame prompt = promptFor(phone, "lost-prompt");
      assertEquals("tv", prompt.getApprovalPrompt().getRequest().getDeviceId());

      // Answered elsewhere, its withdrawal signal lost too.
      assertEquals(
          ApprovalStore.Decision.Status.DECIDED,
          store
              .decide("lost-prompt", "cy", "laptop", true, clock.millis())
              .get(10, TimeUnit.SECONDS)
              .status());
      admin.sync().clientKill(KillArgs.Builder.typePubsub());
      ServerFrame withdrawn =
          phone.next(
              f ->
                  f.hasApprovalWithdrawn()
                      && f.getApprovalWithdrawn().getApprovalId().equals("lost-prompt"));
      assertEquals(
          ApprovalOutcome.APPROVAL_OUTCOME_UNSPECIFIED,
          withdrawn.getApprovalWithdrawn().getOutcome(),
          "how it ended is not known from a re-read");
    }
  }
}
