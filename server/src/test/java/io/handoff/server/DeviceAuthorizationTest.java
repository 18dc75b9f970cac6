package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.AnswerApproval;
import io.handoff.protocol.v1.ApprovalOutcome;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.protocol.v1.VerifyUserCode;
import io.handoff.protocol.v1.Welcome;
import io.handoff.server.auth.Principal;
import io.handoff.server.devices.ApiException;
import io.handoff.server.devices.ApprovalConfig;
import io.handoff.server.devices.DeviceApprovals;
import io.handoff.server.devices.UserCodes;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.memory.MemoryEngine;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The device authorization grant (RFC 8628) over real HTTP and sockets, on two nodes sharing a real
 * Redis, with real identity and access tokens and an injected clock (no waiting).
 *
 * <p>Over 600 lines because every step of the grant (codes, polls, answers, limits, expiry) shares
 * one setup of two nodes, an identity backend and a clock; split, each part would copy it.
 */
class DeviceAuthorizationTest {
  private static final Duration INTERVAL = Duration.ofSeconds(5);
  private final AppBackend app = new AppBackend();
  private final MutableClock clock = new MutableClock();
  private final Nodes nodes = new Nodes();

  @AfterEach
  void stop() {
    nodes.close();
  }

  private HandoffServer node(String name) throws Exception {
    return nodes.redis(RedisProcess.sharedUrl(), name, clock, this::configure);
  }

  private void configure(ServerConfig.Builder b) {
    b.tokens(app.tokens().build())
        .approvals(
            ApprovalConfig.builder()
                .verificationUri("https://app.example/device")
                .pollInterval(INTERVAL)
                .codeTtl(Duration.ofMinutes(10))
                .maxFailedAttempts(10, 25, Duration.ofMinutes(15))
                .build());
  }

  private static HttpApi.Answer requestCode(HttpApi api, String device) {
    HttpApi.Answer a =
        api.post(
            "/v1/device_authorization",
            "{\"device_id\":\""
                + device
                + "\",\"device_name\":\"Living room\",\"platform\":\"tv\"}");
    assertEquals(200, a.status(), a.toString());
    return a;
  }

  private static HttpApi.Answer poll(HttpApi api, String deviceCode) {
    return api.post(
        "/v1/token",
        "{\"grant_type\":\"urn:ietf:params:oauth:grant-type:device_code\",\"device_code\":\""
            + deviceCode
            + "\"}");
  }

  private static HttpApi.Answer verify(HttpApi api, String accessToken, String userCode) {
    return api.post("/v1/device/verify", "{\"user_code\":\"" + userCode + "\"}", accessToken);
  }

  private static HttpApi.Answer answer(HttpApi api, String accessToken, String code, boolean yes) {
    return api.post(
        "/v1/device/answer",
        "{\"user_code\":\"" + code + "\",\"decision\":\"" + (yes ? "approve" : "deny") + "\"}",
        accessToken);
  }

  private HttpApi.Answer signIn(HttpApi api, String user, String device) {
    HttpApi.Answer a = api.signIn(app.identity(user), device, device + " of " + user, "ios");
    assertEquals(201, a.status(), a.toString());
    return a;
  }

  @Test
  void tvGetsACodeAPhoneOnAnotherNodeApprovesAndTheTvConnects() throws Exception {
    HandoffServer n1 = node("n1");
    HandoffServer n2 = node("n2");
    HttpApi tvApi = new HttpApi(n1.port());
    HttpApi phoneApi = new HttpApi(n2.port());
    HttpApi.Answer code = requestCode(tvApi, "tv-1");
    String userCode = code.field("user_code");
    assertTrue(userCode.matches("[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}"), userCode);
    assertEquals("https://app.example/device", code.field("verification_uri"));
    assertEquals(600, code.number("expires_in"));
    assertEquals(5, code.number("interval"));
    HttpApi.Answer pending = poll(tvApi, code.field("device_code"));
    assertEquals("authorization_pending", pending.field("error"), pending.toString());

    HttpApi.Answer phone = signIn(phoneApi, "ada", "phone");
    String approvalId;
    // The phone sees who asks, over its socket on node 2, typing the code in lower case.
    try (TestDevice p = TestDevice.connect(n2.port(), phone.field("access_token"))) {
      p.hello();
      long id =
          p.send(
              ClientFrame.newBuilder()
                  .setVerifyUserCode(
                      VerifyUserCode.newBuilder().setUserCode(userCode.toLowerCase())));
      ServerFrame shown = p.next(f -> f.getRequestId() == id);
      assertTrue(shown.hasApprovalPrompt(), shown.toString());
      assertEquals("tv-1", shown.getApprovalPrompt().getRequest().getDeviceId());
      assertEquals("Living room", shown.getApprovalPrompt().getRequest().getDeviceName());
      assertEquals("tv", shown.getApprovalPrompt().getRequest().getPlatform());
      assertEquals("127.0.0.1", shown.getApprovalPrompt().getRequest().getAddress());
      approvalId = shown.getApprovalPrompt().getRequest().getApprovalId();
      long yes =
          p.send(
              ClientFrame.newBuilder()
                  .setAnswerApproval(
                      AnswerApproval.newBuilder()
                          .setApprovalId(shown.getApprovalPrompt().getRequest().getApprovalId())
                          .setApprove(true)));
      ServerFrame answered = p.next(f -> f.getRequestId() == yes);
      assertEquals(
          ApprovalOutcome.APPROVAL_APPROVED,
          answered.getApprovalAnswered().getOutcome(),
          "" + answered);
      // The same answer again, by the code as typed: named by the request's approval id.
      long typed =
          p.send(
              ClientFrame.newBuilder()
                  .setAnswerApproval(
                      AnswerApproval.newBuilder()
                          .setApprovalId(userCode.toLowerCase())
                          .setApprove(true)));
      ServerFrame again = p.next(f -> f.getRequestId() == typed);
      assertEquals(approvalId, again.getApprovalAnswered().getApprovalId(), "" + again);
    }
    // The code cannot be answered otherwise now, on either node; the same answer sent again by the
    // device that gave it (its reply lost) gets that answer again, and changes nothing.
    HttpApi.Answer other = answer(tvApi, phone.field("access_token"), userCode, false);
    assertEquals(409, other.status(), other.toString());
    assertEquals("approval_ended", other.field("error"));
    HttpApi.Answer again = answer(tvApi, phone.field("access_token"), userCode, true);
    assertEquals(200, again.status(), again.toString());
    assertEquals("approved", again.field("outcome"));
    // Answered by its user code as typed, the answer names the request by its approval id, the one
    // the prompt and /v1/device/verify give, not by the code as typed.
    HttpApi.Answer typed =
        answer(tvApi, phone.field("access_token"), " " + userCode.toLowerCase() + " ", true);
    assertEquals(200, typed.status(), typed.toString());
    assertEquals(approvalId, typed.field("approval_id"), typed.toString());
    assertEquals(approvalId, again.field("approval_id"), again.toString());

    clock.advance(INTERVAL);
    HttpApi.Answer tokens = poll(tvApi, code.field("device_code"));
    assertEquals(200, tokens.status(), tokens.toString());
    assertEquals("ada", tokens.field("user_id"));
    assertEquals("tv-1", tokens.field("device_id"));
    try (TestDevice tv = TestDevice.connect(n2.port(), tokens.field("access_token"))) {
      Welcome w = tv.hello().getWelcome();
      assertEquals("ada", w.getUserId());
      assertEquals("tv-1", w.getDeviceId());
      assertEquals(tokens.field("session_id"), w.getSessionId());
    }
    assertEquals(200, tvApi.refresh(tokens.field("refresh_token")).status());
    // The code is consumed: polling again is refused.
    clock.advance(INTERVAL);
    HttpApi.Answer consumed = poll(tvApi, code.field("device_code"));
    assertEquals("invalid_grant", consumed.field("error"), consumed.toString());
    long granted =
        n1.deviceSessions().approvals().metrics().granted.sum()
            + n2.deviceSessions().approvals().metrics().granted.sum();
    assertEquals(1, granted);
    assertEquals(1, n2.deviceSessions().approvals().metrics().approvalsTimed());
    assertEquals(1, n1.deviceSessions().approvals().metrics().requested.sum());
    String scrape = n2.metrics().scrape();
    for (String metric :
        List.of(
            "handoff_device_approvals_total{",
            "outcome=\"requested\"",
            "outcome=\"granted\"",
            "outcome=\"denied\"",
            "outcome=\"expired\"",
            "handoff_device_approval_time_seconds_count{",
            "handoff_device_approval_time_seconds_bucket{",
            "handoff_device_approval_attempts_refused_total{")) {
      assertTrue(scrape.contains(metric), metric + " in /metrics:\n" + scrape);
    }
  }

  @Test
  void deniedExpiredAndUnknownCodesGiveTheRfcErrorsAndFastPollingGivesSlowDown() throws Exception {
    HandoffServer n1 = node("n1");
    HttpApi api = new HttpApi(n1.port());
    HttpApi.Answer phone = signIn(api, "bea", "phone");

    HttpApi.Answer denied = requestCode(api, "tv-denied");
    assertEquals("authorization_pending", poll(api, denied.field("device_code")).field("error"));
    HttpApi.Answer fast = poll(api, denied.field("device_code"));
    assertEquals(400, fast.status());
    assertEquals("slow_down", fast.field("error"), fast.toString());
    assertEquals(200, verify(api, phone.field("access_token"), denied.field("user_code")).status());
    HttpApi.Answer no = answer(api, phone.field("access_token"), denied.field("user_code"), false);
    assertEquals("denied", no.field("outcome"), no.toString());
    clock.advance(INTERVAL.multipliedBy(3));
    assertEquals("access_denied", poll(api, denied.field("device_code")).field("error"));

    HttpApi.Answer late = requestCode(api, "tv-late");
    clock.advance(Duration.ofMinutes(10));
    HttpApi.Answer expired = poll(api, late.field("device_code"));
    assertEquals("expired_token", expired.field("error"), expired.toString());
    HttpApi.Answer tooLate =
        answer(api, phone.field("access_token"), late.field("user_code"), true);
    assertEquals(409, tooLate.status(), tooLate.toString());
    assertEquals(1, n1.deviceSessions().approvals().metrics().expired.sum());
    assertEquals(1, n1.deviceSessions().approvals().metrics().denied.sum());

    String real = denied.field("device_code");
    String forged = real.substring(0, real.lastIndexOf('.') + 1) + "A".repeat(43);
    assertEquals("invalid_grant", poll(api, forged).field("error"));
    assertEquals("invalid_grant", poll(api, "dc1.nonsense").field("error"));
    HttpApi.Answer unknown = verify(api, phone.field("access_token"), "BCDF-GHJK");
    assertEquals(404, unknown.status());
    assertEquals("unknown_code", unknown.field("error"));
  }

  @Test
  void aCodeApprovedWithoutVerifyingGivesNoSessionOnceItsApproverIsErasedOnRedis()
      throws Exception {
    approvedDirectlyThenErased(node("n1"));
  }

  @Test
  void aCodeApprovedWithoutVerifyingGivesNoSessionOnceItsApproverIsErasedInMemory()
      throws Exception {
    approvedDirectlyThenErased(nodes.memory("n1", clock, this::configure));
  }

  /**
   * A user approves a code by answering it at once (no /v1/device/verify first), then erases their
   * account before the device polls: the device gets no session for the erased user.
   */
  private void approvedDirectlyThenErased(HandoffServer n) {
    HttpApi api = new HttpApi(n.port());
    HttpApi.Answer code = requestCode(api, "tv-gone");
    HttpApi.Answer phone = signIn(api, "zoe", "phone");
    HttpApi.Answer yes = answer(api, phone.field("access_token"), code.field("user_code"), true);
    assertEquals("approved", yes.field("outcome"), yes.toString());
    HttpApi.Answer erased = api.delete("/v1/me", phone.field("access_token"));
    assertEquals(200, erased.status(), erased.toString());
    clock.advance(INTERVAL);
    HttpApi.Answer polled = poll(api, code.field("device_code"));
    assertEquals(400, polled.status(), polled.toString());
    assertEquals("invalid_grant", polled.field("error"), polled.toString());
    // Another user's code, approved the same way, still signs its device in.
    HttpApi.Answer other = requestCode(api, "tv-kept");
    HttpApi.Answer kept = signIn(api, "yan", "phone");
    assertEquals(
        "approved",
        answer(api, kept.field("access_token"), other.field("user_code"), true).field("outcome"));
    clock.advance(INTERVAL);
    HttpApi.Answer tokens = poll(api, other.field("device_code"));
    assertEquals(200, tokens.status(), tokens.toString());
    assertEquals("yan", tokens.field("user_id"));
  }

  @Test
  void aDeviceOfAnotherUserCannotSeeOrApproveTheCodeAndARevokedDeviceCannotApprove()
      throws Exception {
    HandoffServer n1 = node("n1");
    HandoffServer n2 = node("n2");
    HttpApi api1 = new HttpApi(n1.port());
    HttpApi api2 = new HttpApi(n2.port());
    HttpApi.Answer cal = signIn(api1, "cal", "phone");
    HttpApi.Answer calLaptop = signIn(api1, "cal", "laptop");
    HttpApi.Answer eve = signIn(api2, "eve", "phone");
    HttpApi.Answer code = requestCode(api1, "tv-cal");
    String userCode = code.field("user_code");
    assertEquals(200, verify(api1, cal.field("access_token"), userCode).status());
    HttpApi.Answer seen = verify(api2, eve.field("access_token"), userCode);
    assertEquals(404, seen.status(), "held for cal: " + seen);
    HttpApi.Answer taken = answer(api2, eve.field("access_token"), userCode, true);
    assertEquals(404, taken.status(), taken.toString());
    // Cal's phone is revoked; its still-unexpired access token cannot approve.
    assertEquals(200, api1.delete("/v1/devices/phone", calLaptop.field("access_token")).status());
    HttpApi.Answer revoked = answer(api2, cal.field("access_token"), userCode, true);
    assertEquals(401, revoked.status(), revoked.toString());
    assertEquals("invalid_token", revoked.field("error"));
    clock.advance(INTERVAL);
    assertEquals("authorization_pending", poll(api1, code.field("device_code")).field("error"));
    // Cal's live laptop can.
    assertEquals(
        "approved", answer(api2, calLaptop.field("access_token"), userCode, true).field("outcome"));
  }

  /** {@code code} as typed with a full-width keyboard (an East Asian input method). */
  private static String fullWidth(String code) {
    StringBuilder b = new StringBuilder();
    for (char c : code.toCharArray()) {
      b.append((char) (c + 0xFEE0)); // '-' to U+FF0D, 'A' to U+FF21, 'a' to U+FF41
    }
    return b.toString();
  }

  /**
   * A code pasted with a tab, a line break, no-break or other Unicode spaces, invisible format
   * characters, typographic dashes, or typed full-width, is the code: each is looked up as right,
   * none counts as a wrong attempt (more of them than the per-user limit of 10 pass), on HTTP and
   * on the socket. Other characters still make it a wrong code.
   */
  @Test
  void aCodePastedWithAnyWhitespaceOrDashOrTypedFullWidthIsTheCode() throws Exception {
    HandoffServer n1 = node("n1");
    HttpApi api = new HttpApi(n1.port());
    String code = requestCode(api, "tv-paste").field("user_code");
    String a = code.substring(0, 4);
    String b = code.substring(5);
    String token = signIn(api, "pia", "phone").field("access_token");
    // As JSON string contents: \\t and \\n are JSON escapes, the rest is sent as UTF-8.
    List<String> typed =
        List.of(
            "\\t" + code + "\\n",
            a + "\\r\\n" + b,
            a + "\u00a0" + b,
            "\u00a0" + code + "\u00a0",
            a + "\u202f" + b,
            a + "\u3000" + b,
            "\u200b" + code + "\ufeff",
            a + "\u2010" + b,
            a + "\u2011" + b,
            a + "\u2013" + b,
            a + "\u2014" + b,
            a + "\u2212" + b,
            a + "\u30fc" + b,
            fullWidth(code),
            fullWidth(code.toLowerCase()),
            a.toLowerCase() + " \u2013 " + b);
    assertTrue(typed.size() > 10);
    String approvalId = null;
    for (String t : typed) {
      HttpApi.Answer shown = verify(api, token, t);
      assertEquals(200, shown.status(), t + ": " + shown);
      if (approvalId == null) {
        approvalId = shown.field("approval_id");
      }
      assertEquals(approvalId, shown.field("approval_id"), t);
    }
    try (TestDevice p = TestDevice.connect(n1.port(), token)) {
      p.hello();
      long id =
          p.send(
              ClientFrame.newBuilder()
                  .setVerifyUserCode(
                      VerifyUserCode.newBuilder().setUserCode(fullWidth(code) + "\n")));
      ServerFrame shown = p.next(f -> f.getRequestId() == id);
      assertTrue(shown.hasApprovalPrompt(), shown.toString());
      assertEquals(approvalId, shown.getApprovalPrompt().getRequest().getApprovalId());
    }
    HttpApi.Answer yes = answer(api, token, a + "\u2010" + b.toLowerCase() + "\\t", true);
    assertEquals(200, yes.status(), yes.toString());
    assertEquals(approvalId, yes.field("approval_id"));
    for (String wrong : List.of(a + "." + b, a + "_" + b, a + "/" + b, code + "B")) {
      assertEquals(404, verify(api, token, wrong).status(), wrong);
    }
  }

  @Test
  void wrongCodesFromManyAddressesOfOneIpv6Slash64CountAgainstOneAddress() throws Exception {
    HandoffServer n1 = node("n1");
    HandoffServer n2 = node("n2");
    DeviceApprovals[] approvals = {
      n1.deviceSessions().approvals(), n2.deviceSessions().approvals()
    };
    long exp = clock.millis() + 3_600_000;
    int wrong = 0;
    int refused = 0;
    // Three accounts (under the per-user limit of 10 each), each guess from another address of
    // one /64, as a host that owns the /64 can send them: the address limit (25) stops them.
    for (int u = 0; u < 3; u++) {
      Principal p = new Principal("six" + u, "laptop", exp);
      for (int i = 0; i < 10; i++) {
        int status = verifyStatus(approvals[i % 2], p, "2001:db8:5:6:" + u + ":" + i + ":0:1");
        if (status == 404) {
          wrong++;
        } else {
          assertEquals(429, status);
          refused++;
        }
      }
    }
    assertEquals(25, wrong, "25 wrong codes per address, the /64 being one address");
    assertEquals(5, refused);
    assertEquals(
        404,
        verifyStatus(approvals[0], new Principal("seven", "laptop", exp), "2001:db8:5:7::1"),
        "the next /64 is another address");
  }

  /**
   * Lookups made at once, on two nodes, cannot pass the per-user limit of wrong codes: each is
   * counted before it looks anything up. A right code is not counted against the user.
   */
  @Test
  void wrongCodesSentAtOnceOnTwoNodesLookUpNoMoreThanTheLimitAndRightCodesDoNotCount()
      throws Exception {
    HandoffServer n1 = node("n1");
    HandoffServer n2 = node("n2");
    DeviceApprovals[] approvals = {
      n1.deviceSessions().approvals(), n2.deviceSessions().approvals()
    };
    Principal p = new Principal("hal", "laptop", clock.millis() + 3_600_000);
    List<CompletableFuture<?>> guesses = new ArrayList<>();
    for (int i = 0; i < 60; i++) {
      guesses.add(approvals[i % 2].verify(p, "BBBB-BBBB", "192.0.2." + (i % 2)));
    }
    int wrong = 0;
    int refused = 0;
    for (CompletableFuture<?> g : guesses) {
      ExecutionException e =
          assertThrows(ExecutionException.class, () -> g.get(10, TimeUnit.SECONDS));
      ApiException refusal = (ApiException) e.getCause();
      if (refusal.status() == 404) {
        wrong++;
      } else {
        assertEquals("too_many_attempts", refusal.error(), refusal.toString());
        refused++;
      }
    }
    assertEquals(10, wrong, "the per-user limit, however many are sent at once");
    assertEquals(50, refused);

    HandoffServer n3 = node("n3");
    HttpApi api = new HttpApi(n3.port());
    HttpApi.Answer ivy = signIn(api, "ivy", "phone");
    Principal q = new Principal("ivy", "phone", clock.millis() + 3_600_000);
    for (int i = 0; i < 9; i++) {
      assertEquals(404, verifyStatus(approvals[i % 2], q, "192.0.2.10"));
    }
    for (int i = 0; i < 3; i++) {
      String right = requestCode(api, "tv-" + i).field("user_code");
      assertEquals(200, verify(api, ivy.field("access_token"), right).status());
    }
    assertEquals(404, verifyStatus(approvals[0], q, "192.0.2.10"), "the tenth wrong code");
    assertEquals(429, verifyStatus(approvals[1], q, "192.0.2.10"));
  }

  /**
   * A user erasing their state while a device-code poll has consumed the approval but not yet made
   * the session: the erase answers, the poll is refused, and no session of the user is left.
   */
  @Test
  void aPollWhoseSessionIsMadeAfterTheUserErasedTheirStateIsRefusedAndLeavesNoSession()
      throws Exception {
    GatedEngine engine = new GatedEngine(new MemoryEngine(StoreLimits.builder().build(), clock));
    HandoffServer n1 = nodes.start("n1", engine, this::configure);
    HttpApi api = new HttpApi(n1.port());
    String at = signIn(api, "eli", "phone").field("access_token");
    HttpApi.Answer code = requestCode(api, "tv-eli");
    assertEquals("approved", answer(api, at, code.field("user_code"), true).field("outcome"));
    engine.holdSessionCreates(1);
    CompletableFuture<HttpApi.Answer> polled =
        CompletableFuture.supplyAsync(() -> poll(api, code.field("device_code")));
    Conditions.await(
        "the poll's session creation held",
        () -> engine.heldSessionCreates() == 1,
        Duration.ofSeconds(10));
    assertEquals(200, api.delete("/v1/me", at).status());
    engine.releaseSessionCreates();
    HttpApi.Answer tv = polled.get(10, TimeUnit.SECONDS);
    assertEquals(400, tv.status(), tv.toString());
    assertEquals("invalid_grant", tv.field("error"));
    assertTrue(tv.field("message").contains("erased"), tv.toString());
    assertEquals(List.of(), engine.sessions().list("eli").get(10, TimeUnit.SECONDS));
  }

  /**
   * A node draining while a device-code poll has consumed the approval and its session is being
   * made answers the poll before it closes the connection: the code works once, so a poll answer
   * dropped by the drain would lose the device's sign-in.
   */
  @Test
  void aPollInFlightWhenTheNodeStopsGetsItsSessionBeforeTheConnectionCloses() throws Exception {
    GatedEngine engine = new GatedEngine(new MemoryEngine(StoreLimits.builder().build(), clock));
    HandoffServer n1 = nodes.start("n1", engine, this::configure);
    HttpApi api = new HttpApi(n1.port());
    String at = signIn(api, "odo", "phone").field("access_token");
    HttpApi.Answer code = requestCode(api, "tv-odo");
    assertEquals("approved", answer(api, at, code.field("user_code"), true).field("outcome"));
    engine.holdSessionCreates(1);
    CompletableFuture<HttpApi.Answer> polled =
        CompletableFuture.supplyAsync(() -> poll(api, code.field("device_code")));
    Conditions.await(
        "the poll's session creation held",
        () -> engine.heldSessionCreates() == 1,
        Duration.ofSeconds(10));
    CompletableFuture<Void> stopped = CompletableFuture.runAsync(n1::close);
    Conditions.await(
        "the node draining", () -> n1.readiness().problem() != null, Duration.ofSeconds(10));
    engine.releaseSessionCreates();
    HttpApi.Answer tv = polled.get(10, TimeUnit.SECONDS);
    assertEquals(200, tv.status(), tv.toString());
    assertEquals("tv-odo", tv.field("device_id"));
    stopped.get(30, TimeUnit.SECONDS);
  }

  /**
   * An approved code whose session cannot be made yet (the user is at the device limit) is not used
   * up: the device polling again after the user made room gets its session.
   */
  @Test
  void anApprovalThatCouldNotBecomeASessionYetIsKeptForTheNextPoll() throws Exception {
    StoreLimits one = StoreLimits.builder().maxDevicesPerUser(1).build();
    HandoffServer n1 =
        nodes.start("n1", new MemoryEngine(one, clock), b -> configure(b.storeLimits(one)));
    HttpApi api = new HttpApi(n1.port());
    String phone = signIn(api, "uma", "phone").field("access_token");
    HttpApi.Answer code = requestCode(api, "tv-uma");
    assertEquals("approved", answer(api, phone, code.field("user_code"), true).field("outcome"));
    HttpApi.Answer full = poll(api, code.field("device_code"));
    assertEquals(409, full.status(), full.toString());
    assertEquals("device_limit", full.field("error"));
    assertEquals(200, api.delete("/v1/devices/phone", phone).status());
    clock.advance(INTERVAL);
    HttpApi.Answer tv = poll(api, code.field("device_code"));
    assertEquals(200, tv.status(), tv.toString());
    assertEquals("tv-uma", tv.field("device_id"));
    clock.advance(INTERVAL);
    assertEquals("invalid_grant", poll(api, code.field("device_code")).field("error"), "used once");
  }

  /** The status a lookup of a code nobody holds gets from {@code address}. */
  private static int verifyStatus(DeviceApprovals approvals, Principal p, String address)
      throws Exception {
    try {
      approvals.verify(p, "BBBB-BBBB", address).get(10, TimeUnit.SECONDS);
      throw new AssertionError("a code nobody holds was found");
    } catch (ExecutionException e) {
      return ((ApiException) e.getCause()).status();
    }
  }

  @Test
  void guessingUserCodesHitsTheAttemptLimitLongBeforeAMeaningfulFractionOfTheSpace()
      throws Exception {
    HandoffServer n1 = node("n1");
    HandoffServer n2 = node("n2");
    HttpApi[] apis = {new HttpApi(n1.port()), new HttpApi(n2.port())};
    HttpApi.Answer mallory = signIn(apis[0], "mallory", "laptop");
    HttpApi.Answer victimCode = requestCode(apis[0], "tv-victim");
    Random random = new Random(42);
    int tried = 0;
    int refused = 0;
    for (int i = 0; i < 40; i++) {
      StringBuilder guess = new StringBuilder();
      for (int c = 0; c < 8; c++) {
        guess.append("BCDFGHJKLMNPQRSTVWXZ".charAt(random.nextInt(20)));
      }
      HttpApi.Answer a = verify(apis[i % 2], mallory.field("access_token"), guess.toString());
      if (a.status() == 429) {
        assertEquals("too_many_attempts", a.field("error"));
        refused++;
      } else {
        assertEquals(404, a.status(), a.toString());
        tried++;
      }
    }
    assertEquals(10, tried, "the per-user limit holds across nodes");
    assertEquals(30, refused);
    // Even the right code is refused now.
    assertEquals(
        429,
        verify(apis[1], mallory.field("access_token"), victimCode.field("user_code")).status());
    assertTrue((double) tried / UserCodes.SPACE < 1e-9);
    // Other users from the same address: the address limit (25) stops them too.
    int byOthers = 0;
    for (int u = 0; u < 5; u++) {
      HttpApi.Answer other = signIn(apis[0], "sock" + u, "laptop");
      for (int i = 0; i < 10; i++) {
        HttpApi.Answer a = verify(apis[0], other.field("access_token"), "BBBB-BBBB");
        if (a.status() == 404) {
          byOthers++;
        }
      }
    }
    assertEquals(15, byOthers, "25 wrong codes per address in all, 10 of them mallory's");
    assertTrue(n1.deviceSessions().approvals().metrics().attemptsRefused.sum() > 0);
    // The socket refuses the same way.
    try (TestDevice d = TestDevice.connect(n2.port(), mallory.field("access_token"))) {
      d.hello();
      long id =
          d.send(
              ClientFrame.newBuilder()
                  .setVerifyUserCode(
                      VerifyUserCode.newBuilder().setUserCode(victimCode.field("user_code"))));
      ServerFrame f = d.next(x -> x.getRequestId() == id);
      assertEquals(ErrorCode.TOO_MANY_ATTEMPTS, f.getError().getCode(), f.toString());
    }
  }
}
