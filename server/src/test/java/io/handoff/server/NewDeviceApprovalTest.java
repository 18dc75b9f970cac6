package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.AnswerApproval;
import io.handoff.protocol.v1.ApprovalOutcome;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.Hello;
import io.handoff.protocol.v1.Ping;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.server.devices.ApprovalConfig;
import io.handoff.server.devices.ApprovalStore;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Opt-in "is this you?" approval of a sign-in from a new device, over real HTTP and sockets on
 * three nodes sharing a real Redis, with real tokens and an injected clock.
 */
@ExtendWith(SampledLeakDetection.class)
class NewDeviceApprovalTest {
  private static final Duration INTERVAL = Duration.ofSeconds(1);
  private static final Duration TTL = Duration.ofMinutes(2);
  private final AppBackend app = new AppBackend();
  private final MutableClock clock = new MutableClock();
  private final Nodes nodes = new Nodes();

  @AfterEach
  void stop() {
    nodes.close();
  }

  private HandoffServer node(String name) throws Exception {
    return nodes.redis(
        RedisProcess.sharedUrl(),
        name,
        clock,
        b ->
            // The test's HTTP client keeps connections for the whole run: the server's cut of
            // connections that never upgrade must not race its reuse of one.
            b.handshakeTimeout(Duration.ofMinutes(5))
                // A thousand rounds at machine speed answer far faster than a person taps, and sign
                // in far faster than people do from one address: the device-request rate and the
                // HTTP API's rate per caller are not what these tests are about.
                .deviceRequestRate(0, 1)
                .apiRequestRate(0, 1)
                .tokens(app.tokens().build())
                .approvals(
                    ApprovalConfig.builder()
                        .newDeviceApproval(true)
                        .pollInterval(INTERVAL)
                        .approvalTtl(TTL)
                        .build()));
  }

  private HttpApi.Answer signIn(HttpApi api, String user, String device, int status) {
    HttpApi.Answer a = api.signIn(app.identity(user), device, "New " + device, "android");
    assertEquals(status, a.status(), a.toString());
    return a;
  }

  private static HttpApi.Answer poll(HttpApi api, String deviceCode) {
    return api.post(
        "/v1/token",
        "{\"grant_type\":\"urn:ietf:params:oauth:grant-type:device_code\",\"device_code\":\""
            + deviceCode
            + "\"}");
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

  /** Users racing at once, each with its own three devices; together they play every round. */
  private static final int USERS = 8;

  private static final int ROUNDS = 1000;

  private static final String[] NAMES = {"phone", "laptop", "tablet"};

  /**
   * The user's three devices, one per node: the first is let in at once (nobody could approve it),
   * the next two are new devices of a user with a device, approved by the first.
   */
  private TestDevice[] threeDevices(HandoffServer[] n, HttpApi[] apis, String user) {
    String phoneToken = signIn(apis[0], user, "phone", 201).field("access_token");
    TestDevice[] devices = new TestDevice[3];
    devices[0] = connected(n[0], phoneToken);
    TestDevice phone = devices[0];
    for (int i = 1; i < 3; i++) {
      HttpApi.Answer held = signIn(apis[i], user, NAMES[i], 202);
      String id = held.field("approval_id");
      promptFor(phone, id);
      long req = answer(phone, id, true);
      assertTrue(phone.next(f -> f.getRequestId() == req).hasApprovalAnswered());
      // The first poll of a code is never too soon, so the shared clock need not move.
      HttpApi.Answer tokens = poll(apis[i], held.field("device_code"));
      assertEquals(200, tokens.status(), tokens.toString());
      devices[i] = connected(n[i], tokens.field("access_token"));
    }
    return devices;
  }

  private TestDevice connected(HandoffServer node, String token) {
    TestDevice d;
    synchronized (nodes) {
      d = nodes.add(TestDevice.connect(node.port(), token));
    }
    d.hello();
    return d;
  }

  /**
   * Plays {@code rounds} rounds for one user: a visitor's sign-in is held, the three devices answer
   * at once (each first a third of the time), exactly one wins. Returns the wins per device.
   */
  private int[] race(
      HttpApi[] apis, ApprovalStore store, String user, TestDevice[] devices, int rounds, long seed)
      throws Exception {
    Random random = new Random(seed);
    int[] wins = new int[3];
    // The visitor's identity token, signed anew once a minute (it is valid for five) rather than
    // for every round, and with RS256, whose check costs the node a tenth of an ES256 one: these
    // rounds race approvals, not signatures (the devices signed in with ES256 tokens).
    String identity = null;
    long signedAt = 0;
    for (int round = 0; round < rounds; round++) {
      if (identity == null || System.nanoTime() - signedAt > TimeUnit.MINUTES.toNanos(1)) {
        identity = app.identityRs256(user);
        signedAt = System.nanoTime();
      }
      HttpApi.Answer held = apis[round % 3].signIn(identity, "visitor", "New visitor", "android");
      assertEquals(202, held.status(), held.toString());
      String id = held.field("approval_id");
      long[] requests = new long[3];
      boolean[] approve = new boolean[3];
      for (TestDevice d : devices) {
        promptFor(d, id);
      }
      for (int k = 0; k < 3; k++) {
        int i = (round + k) % 3;
        approve[i] = random.nextBoolean();
        requests[i] = answer(devices[i], id, approve[i]);
      }
      int winner = -1;
      for (int i = 0; i < 3; i++) {
        long req = requests[i];
        ServerFrame f = devices[i].next(x -> x.getRequestId() == req);
        if (f.hasApprovalAnswered()) {
          assertEquals(-1, winner, user + " round " + round + ": two winners");
          winner = i;
          assertEquals(
              approve[i] ? ApprovalOutcome.APPROVAL_APPROVED : ApprovalOutcome.APPROVAL_DENIED,
              f.getApprovalAnswered().getOutcome());
        } else {
          assertEquals(ErrorCode.APPROVAL_ENDED, f.getError().getCode(), f.toString());
        }
      }
      assertTrue(winner >= 0, user + " round " + round + ": no winner");
      wins[winner]++;
      // Ground truth: the store holds the winner's decision.
      ApprovalStore.Decision truth = store.decide(id, user, "check", true, clock.millis()).get();
      assertEquals(ApprovalStore.Decision.Status.ALREADY_DECIDED, truth.status());
      assertEquals(NAMES[winner], truth.request().byDevice(), user + " round " + round);
      assertEquals(
          approve[winner] ? ApprovalStore.State.APPROVED : ApprovalStore.State.DENIED,
          truth.request().state());
    }
    return wins;
  }

  @Test
  void threeDevicesAnswerOnePromptAtOnceOnThreeNodesAThousandTimesAndExactlyOneWinsEachTime()
      throws Exception {
    HandoffServer[] n = {node("n1"), node("n2"), node("n3")};
    HttpApi[] apis = {new HttpApi(n[0].port()), new HttpApi(n[1].port()), new HttpApi(n[2].port())};
    ApprovalStore store = n[0].engine().approvals();
    ExecutorService pool = Executors.newFixedThreadPool(USERS);
    try {
      List<Future<int[]>> users = new ArrayList<>();
      for (int u = 0; u < USERS; u++) {
        String user = "una-" + u;
        long seed = 7 + u;
        users.add(
            pool.submit(
                () -> race(apis, store, user, threeDevices(n, apis, user), ROUNDS / USERS, seed)));
      }
      int[] wins = new int[3];
      for (Future<int[]> f : users) {
        int[] w;
        try {
          w = f.get(5, TimeUnit.MINUTES);
        } catch (ExecutionException e) {
          if (e.getCause() instanceof Error err) {
            throw err; // An assertion of that user's rounds: report it as it is.
          }
          throw e;
        }
        for (int i = 0; i < 3; i++) {
          wins[i] += w[i];
        }
      }
      assertEquals(ROUNDS, wins[0] + wins[1] + wins[2]);
    } finally {
      pool.shutdownNow();
    }
    long decided = 0;
    for (HandoffServer node : n) {
      decided +=
          node.deviceSessions().approvals().metrics().granted.sum()
              + node.deviceSessions().approvals().metrics().denied.sum();
    }
    assertEquals(ROUNDS + 2L * USERS, decided, "each request counted once, by the winner's node");
  }

  @Test
  void theOtherDevicesSeeThePromptWithdrawnAndTheNewDeviceGetsASessionByPolling() throws Exception {
    HandoffServer n1 = node("n1");
    HandoffServer n2 = node("n2");
    HttpApi api1 = new HttpApi(n1.port());
    HttpApi api2 = new HttpApi(n2.port());
    HttpApi.Answer phone = signIn(api1, "vic", "phone", 201);
    try (TestDevice p = TestDevice.connect(n1.port(), phone.field("access_token"))) {
      p.hello();
      HttpApi.Answer laptopHeld = signIn(api2, "vic", "laptop", 202);
      assertEquals(1, laptopHeld.number("approvers_online"));
      long r =
          answer(
              p,
              promptFor(p, laptopHeld.field("approval_id"))
                  .getApprovalPrompt()
                  .getRequest()
                  .getApprovalId(),
              true);
      assertTrue(p.next(f -> f.getRequestId() == r).hasApprovalAnswered());
      clock.advance(INTERVAL);
      HttpApi.Answer laptop = poll(api2, laptopHeld.field("device_code"));
      assertEquals(200, laptop.status(), laptop.toString());
      try (TestDevice l = TestDevice.connect(n2.port(), laptop.field("access_token"))) {
        l.hello();
        HttpApi.Answer held = signIn(api2, "vic", "stranger", 202);
        assertEquals("authorization_pending", poll(api2, held.field("device_code")).field("error"));
        String id = held.field("approval_id");
        ServerFrame shown = promptFor(l, id);
        assertEquals("stranger", shown.getApprovalPrompt().getRequest().getDeviceId());
        assertEquals("New stranger", shown.getApprovalPrompt().getRequest().getDeviceName());
        promptFor(p, id);
        long no = answer(l, id, false);
        assertTrue(l.next(f -> f.getRequestId() == no).hasApprovalAnswered());
        ServerFrame withdrawn =
            p.next(
                f ->
                    f.hasApprovalWithdrawn()
                        && f.getApprovalWithdrawn().getApprovalId().equals(id));
        assertEquals(
            ApprovalOutcome.APPROVAL_DENIED, withdrawn.getApprovalWithdrawn().getOutcome());
        assertEquals("laptop", withdrawn.getApprovalWithdrawn().getByDevice());
        clock.advance(INTERVAL);
        assertEquals("access_denied", poll(api1, held.field("device_code")).field("error"));
      }
    }
  }

  /**
   * Device ids are the app's, not secrets: a sign-in as a device the user already has is held like
   * any other while another device could approve it, a deny leaves that device's session alone, and
   * an approval replaces it, closing the old session's connections. A user's only device signs in
   * again at once (nobody could approve it), and that too closes its old session's connections.
   */
  @Test
  void aDeviceSigningInAgainIsHeldWhileAnotherDeviceCouldApproveItAndApprovalClosesItsOldSession()
      throws Exception {
    HandoffServer n1 = node("n1");
    HandoffServer n2 = node("n2");
    HttpApi api1 = new HttpApi(n1.port());
    HttpApi api2 = new HttpApi(n2.port());
    HttpApi.Answer first = signIn(api1, "kit", "phone", 201);
    TestDevice firstPhone = connected(n1, first.field("access_token"));
    HttpApi.Answer again = signIn(api2, "kit", "phone", 201);
    assertEquals(CloseCode.SESSION_REVOKED.code(), firstPhone.awaitClose());
    TestDevice phone = connected(n1, again.field("access_token"));

    HttpApi.Answer laptopHeld = signIn(api2, "kit", "laptop", 202);
    String laptopId = laptopHeld.field("approval_id");
    promptFor(phone, laptopId);
    long yes = answer(phone, laptopId, true);
    assertTrue(phone.next(f -> f.getRequestId() == yes).hasApprovalAnswered());
    HttpApi.Answer laptopTokens = poll(api2, laptopHeld.field("device_code"));
    assertEquals(200, laptopTokens.status(), laptopTokens.toString());
    TestDevice laptop = connected(n2, laptopTokens.field("access_token"));

    HttpApi.Answer thief = signIn(api2, "kit", "phone", 202);
    String thiefId = thief.field("approval_id");
    assertEquals(
        "phone", promptFor(laptop, thiefId).getApprovalPrompt().getRequest().getDeviceId());
    long no = answer(laptop, thiefId, false);
    assertTrue(laptop.next(f -> f.getRequestId() == no).hasApprovalAnswered());
    clock.advance(INTERVAL);
    assertEquals("access_denied", poll(api2, thief.field("device_code")).field("error"));
    phone.send(ClientFrame.newBuilder().setPing(Ping.newBuilder().setNonce(7)));
    assertEquals(7, phone.next(ServerFrame::hasPong).getPong().getNonce());
    assertFalse(phone.isClosed(), "a denied sign-in leaves the device's session alone");

    HttpApi.Answer reinstall = signIn(api1, "kit", "phone", 202);
    String reinstallId = reinstall.field("approval_id");
    promptFor(laptop, reinstallId);
    long ok = answer(laptop, reinstallId, true);
    assertTrue(laptop.next(f -> f.getRequestId() == ok).hasApprovalAnswered());
    clock.advance(INTERVAL);
    HttpApi.Answer reinstalled = poll(api1, reinstall.field("device_code"));
    assertEquals(200, reinstalled.status(), reinstalled.toString());
    assertEquals(CloseCode.SESSION_REVOKED.code(), phone.awaitClose());
    assertEquals(401, TestDevice.upgradeStatus(n1.port(), again.field("access_token")));
    TestDevice newPhone = connected(n2, reinstalled.field("access_token"));
    newPhone.send(ClientFrame.newBuilder().setPing(Ping.newBuilder().setNonce(8)));
    assertEquals(8, newPhone.next(ServerFrame::hasPong).getPong().getNonce());
  }

  /**
   * A connection makes its approval prompts only when it needs them: one that never used approvals
   * is still prompted when a request arrives, and one that connects while a request is pending is
   * prompted right after its Welcome.
   */
  @Test
  void aConnectionThatNeverUsedApprovalsIsPromptedAsARequestArrivesAndAtItsWelcome()
      throws Exception {
    HandoffServer n1 = node("n1");
    HttpApi api = new HttpApi(n1.port());
    String token = signIn(api, "ida", "phone", 201).field("access_token");
    String pendingId;
    try (TestDevice p = TestDevice.connect(n1.port(), token)) {
      p.hello();
      HttpApi.Answer held = signIn(api, "ida", "tv", 202);
      pendingId = held.field("approval_id");
      assertEquals("tv", promptFor(p, pendingId).getApprovalPrompt().getRequest().getDeviceId());
    }
    try (TestDevice again = TestDevice.connect(n1.port(), token)) {
      again.hello();
      promptFor(again, pendingId);
      long no = answer(again, pendingId, false);
      ServerFrame answered = again.next(f -> f.getRequestId() == no);
      assertEquals(
          ApprovalOutcome.APPROVAL_DENIED,
          answered.getApprovalAnswered().getOutcome(),
          "" + answered);
    }
  }

  private static HttpApi.Answer verify(HttpApi api, String accessToken, String userCode) {
    return api.post("/v1/device/verify", "{\"user_code\":\"" + userCode + "\"}", accessToken);
  }

  private static HttpApi.Answer answerOverHttp(
      HttpApi api, String accessToken, String field, String id, boolean approve) {
    return api.post(
        "/v1/device/answer",
        "{\""
            + field
            + "\":\""
            + id
            + "\",\"decision\":\""
            + (approve ? "approve" : "deny")
            + "\"}",
        accessToken);
  }

  /**
   * Wrong user codes, the user's own (its limit, 10) and others' behind the same address (a shared
   * NAT: its limit, 30), stop lookups and answers by user code, which can be guessed, but not
   * answers to a prompt by its request id (128 random bits, known only to the devices it was shown
   * to), on the socket or over HTTP. A revoked device still cannot answer one.
   */
  @Test
  void wrongUserCodesFromTheUserAndItsAddressDoNotStopAnswersToItsPromptsByTheirIds()
      throws Exception {
    HandoffServer n1 = node("n1");
    HttpApi api = new HttpApi(n1.port());
    String phoneToken = signIn(api, "nat", "phone", 201).field("access_token");
    TestDevice phone = connected(n1, phoneToken);
    for (int i = 0; i < 10; i++) {
      assertEquals(404, verify(api, phoneToken, "BBBB-BBBB").status());
    }
    for (int u = 0; u < 2; u++) {
      String other = signIn(api, "neighbour" + u, "phone", 201).field("access_token");
      for (int i = 0; i < 10; i++) {
        assertEquals(404, verify(api, other, "BBBB-BBBB").status());
      }
    }
    String stranger = signIn(api, "stranger", "phone", 201).field("access_token");
    assertEquals(429, verify(api, stranger, "BBBB-BBBB").status(), "the address is over");
    assertEquals(429, verify(api, phoneToken, "BBBB-BBBB").status(), "and so is the user");

    HttpApi.Answer laptop = signIn(api, "nat", "laptop", 202);
    String laptopId = laptop.field("approval_id");
    promptFor(phone, laptopId);
    long yes = answer(phone, laptopId, true);
    ServerFrame answered = phone.next(f -> f.getRequestId() == yes);
    assertEquals(
        ApprovalOutcome.APPROVAL_APPROVED,
        answered.getApprovalAnswered().getOutcome(),
        "" + answered);

    HttpApi.Answer tablet = signIn(api, "nat", "tablet", 202);
    promptFor(phone, tablet.field("approval_id"));
    HttpApi.Answer denied =
        answerOverHttp(api, phoneToken, "approval_id", tablet.field("approval_id"), false);
    assertEquals(200, denied.status(), denied.toString());
    assertEquals("denied", denied.field("outcome"));

    // An id no prompt named finds nothing.
    HttpApi.Answer madeUp =
        answerOverHttp(api, phoneToken, "approval_id", "AAAAAAAAAAAAAAAAAAAAAA", true);
    assertEquals(404, madeUp.status(), madeUp.toString());
    assertEquals("unknown_code", madeUp.field("error"));

    // Answers by a user code are lookups of a guessable code: refused while over, both ways.
    String userCode =
        api.post("/v1/device_authorization", "{\"device_id\":\"tv\"}").field("user_code");
    HttpApi.Answer byCode = answerOverHttp(api, phoneToken, "user_code", userCode, true);
    assertEquals(429, byCode.status(), byCode.toString());
    assertEquals("too_many_attempts", byCode.field("error"));
    long typed = answer(phone, userCode.toLowerCase(), true);
    ServerFrame refused = phone.next(f -> f.getRequestId() == typed);
    assertEquals(ErrorCode.TOO_MANY_ATTEMPTS, refused.getError().getCode(), "" + refused);

    // The laptop, approved, signs in and revokes the phone: the phone cannot answer any more.
    String laptopToken = poll(api, laptop.field("device_code")).field("access_token");
    HttpApi.Answer again = signIn(api, "nat", "tablet", 202);
    assertEquals(200, api.delete("/v1/devices/phone", laptopToken).status());
    HttpApi.Answer revoked =
        answerOverHttp(api, phoneToken, "approval_id", again.field("approval_id"), true);
    assertEquals(401, revoked.status(), revoked.toString());
    assertEquals("invalid_token", revoked.field("error"));
  }

  /** The approval ids prompted for after {@code d}'s Welcome, up to its ApprovalPromptsSent. */
  private static List<String> promptedUntilSent(TestDevice d) {
    List<String> prompted = new ArrayList<>();
    for (ServerFrame f = d.next(); !f.hasApprovalPromptsSent(); f = d.next()) {
      assertFalse(f.hasApprovalWithdrawn(), "nothing was shown on this connection: " + f);
      if (f.hasApprovalPrompt()) {
        prompted.add(f.getApprovalPrompt().getRequest().getApprovalId());
      }
    }
    return prompted;
  }

  private static final Hello HOLDING = Hello.newBuilder().setApprovalPromptsHeld(true).build();

  /**
   * A device that holds prompts from before says so in its Hello; after its Welcome it is prompted
   * again for each request still waiting and then told all were sent, so it can drop the others at
   * once: here one answered on the other node while the device was away, then both.
   */
  @Test
  void aDeviceHoldingPromptsIsToldAfterItsWelcomeWhenEveryOneStillWaitingWasSentAgain()
      throws Exception {
    HandoffServer n1 = node("n1");
    HandoffServer n2 = node("n2");
    HttpApi api1 = new HttpApi(n1.port());
    HttpApi api2 = new HttpApi(n2.port());
    String phoneToken = signIn(api1, "amy", "phone", 201).field("access_token");
    TestDevice phone = connected(n1, phoneToken);
    HttpApi.Answer laptopHeld = signIn(api2, "amy", "laptop", 202);
    String laptopId = laptopHeld.field("approval_id");
    promptFor(phone, laptopId);
    long yes = answer(phone, laptopId, true);
    assertTrue(phone.next(f -> f.getRequestId() == yes).hasApprovalAnswered());
    HttpApi.Answer laptopTokens = poll(api2, laptopHeld.field("device_code"));
    assertEquals(200, laptopTokens.status(), laptopTokens.toString());
    TestDevice laptop = connected(n2, laptopTokens.field("access_token"));

    String tv = signIn(api2, "amy", "tv", 202).field("approval_id");
    String watch = signIn(api1, "amy", "watch", 202).field("approval_id");
    for (TestDevice d : new TestDevice[] {phone, laptop}) {
      promptFor(d, tv);
      promptFor(d, watch);
    }
    phone.abort(); // The phone goes away holding both prompts.
    long no = answer(laptop, tv, false); // On the other node, while the phone is away.
    assertTrue(laptop.next(f -> f.getRequestId() == no).hasApprovalAnswered());

    TestDevice back;
    synchronized (nodes) {
      back = nodes.add(TestDevice.connect(n1.port(), phoneToken));
    }
    back.hello(HOLDING);
    assertEquals(List.of(watch), promptedUntilSent(back));
    back.close();

    long yesToo = answer(laptop, watch, true);
    assertTrue(laptop.next(f -> f.getRequestId() == yesToo).hasApprovalAnswered());
    TestDevice again;
    synchronized (nodes) {
      again = nodes.add(TestDevice.connect(n2.port(), phoneToken));
    }
    again.hello(HOLDING);
    assertEquals(List.of(), promptedUntilSent(again), "nothing waits: told so at once");
  }

  @Test
  void withNoTrustedDeviceOnlineTheNewDeviceWaitsUntilItsDeadlineThenFailsClearly()
      throws Exception {
    HandoffServer n1 = node("n1");
    HttpApi api = new HttpApi(n1.port());
    signIn(api, "wes", "phone", 201);
    HttpApi.Answer held = signIn(api, "wes", "tv", 202);
    assertEquals(0, held.number("approvers_online"), "the app can tell its user at once");
    assertEquals(TTL.toSeconds(), held.number("expires_in"));
    assertEquals("authorization_pending", poll(api, held.field("device_code")).field("error"));
    clock.advance(TTL);
    HttpApi.Answer expired = poll(api, held.field("device_code"));
    assertEquals("expired_token", expired.field("error"), expired.toString());
    assertTrue(expired.field("message").contains("no trusted device approved"), expired.toString());
    assertEquals(1, n1.deviceSessions().approvals().metrics().expired.sum());
    // Pending requests are bounded per user.
    for (int i = 0; i < ApprovalConfig.DEFAULT_MAX_PENDING_PER_USER; i++) {
      signIn(api, "wes", "tv" + i, 202);
    }
    HttpApi.Answer over = api.signIn(app.identity("wes"), "tv-more", "x", "tv");
    assertEquals(429, over.status(), over.toString());
    assertEquals("too_many_pending", over.field("error"));
  }
}
