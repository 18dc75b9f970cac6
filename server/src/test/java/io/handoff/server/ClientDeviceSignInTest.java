package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.client.ApprovalListener;
import io.handoff.client.DeviceSignIn;
import io.handoff.client.HandoffClient;
import io.handoff.client.HandoffException;
import io.handoff.protocol.v1.ApprovalOutcome;
import io.handoff.protocol.v1.ApprovalRequest;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.server.devices.ApprovalConfig;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The Java client's device sign-in: a TV's device code, and "is this you?" prompts. */
class ClientDeviceSignInTest {
  private final AppBackend app = new AppBackend();
  private final List<AutoCloseable> closeables = new ArrayList<>();
  private TestServer server;
  private DeviceSignIn signIn;

  @BeforeEach
  void start() throws Exception {
    server =
        TestServer.start(
            b ->
                b.tokens(app.tokens().build())
                    .approvals(
                        ApprovalConfig.builder()
                            .newDeviceApproval(true)
                            .pollInterval(Duration.ofMillis(100))
                            .build()));
    closeables.add(server);
    signIn = DeviceSignIn.of(URI.create("http://127.0.0.1:" + server.port()));
    closeables.add(signIn);
  }

  @AfterEach
  void stop() throws Exception {
    for (int i = closeables.size() - 1; i >= 0; i--) {
      closeables.get(i).close();
    }
  }

  /** Records prompts and withdrawals. */
  static final class Prompts implements ApprovalListener {
    final Signal signal = new Signal();
    final List<ApprovalRequest> shown = new CopyOnWriteArrayList<>();
    final List<String> withdrawn = new CopyOnWriteArrayList<>();

    @Override
    public void onApprovalPrompt(ApprovalRequest request) {
      shown.add(request);
      signal.fire();
    }

    @Override
    public void onApprovalWithdrawn(String approvalId, ApprovalOutcome outcome, String byDevice) {
      withdrawn.add(approvalId + ":" + outcome + ":" + byDevice);
      signal.fire();
    }
  }

  private HandoffClient client(String accessToken, Prompts prompts) throws Exception {
    HandoffClient c =
        HandoffClient.builder()
            .url(URI.create(server.url()))
            .token(accessToken)
            .approvalListener(prompts)
            .build();
    closeables.add(c);
    c.connect().get(10, TimeUnit.SECONDS);
    return c;
  }

  @Test
  void aTvWaitsForItsCodeAndAPhoneClientApprovesIt() throws Exception {
    DeviceSignIn.SignIn first =
        signIn.signIn(app.identity("gia"), "phone", "Gia's phone", "ios").get(10, TimeUnit.SECONDS);
    HandoffClient phone = client(first.session().accessToken(), new Prompts());

    DeviceSignIn.DeviceCode code =
        signIn.requestCode("tv", "Living room", "tv").get(10, TimeUnit.SECONDS);
    var waiting = signIn.awaitApproval(code);
    ApprovalRequest who =
        phone.approvals().verifyUserCode(code.userCode()).get(10, TimeUnit.SECONDS);
    assertEquals("Living room", who.getDeviceName());
    assertEquals(
        ApprovalOutcome.APPROVAL_APPROVED,
        phone.approvals().answer(who.getApprovalId(), true).get(10, TimeUnit.SECONDS));
    DeviceSignIn.Session tv = waiting.get(30, TimeUnit.SECONDS);
    assertEquals("gia", tv.userId());
    HandoffClient tvClient = client(tv.accessToken(), new Prompts());
    assertEquals("tv", tvClient.deviceId());

    ExecutionException other =
        org.junit.jupiter.api.Assertions.assertThrows(
            ExecutionException.class,
            () -> phone.approvals().answer(who.getApprovalId(), false).get(10, TimeUnit.SECONDS));
    assertEquals(ErrorCode.APPROVAL_ENDED, ((HandoffException) other.getCause()).errorCode());
    assertEquals(
        ApprovalOutcome.APPROVAL_APPROVED,
        phone.approvals().answer(who.getApprovalId(), true).get(10, TimeUnit.SECONDS),
        "the same answer sent again by its device gets that answer again");
  }

  @Test
  void aNewDeviceIsPromptedOnTheUsersDevicesAndTheOtherSeesItWithdrawn() throws Exception {
    DeviceSignIn.Session phoneSession =
        signIn
            .signIn(app.identity("hal"), "phone", "Hal's phone", "ios")
            .get(10, TimeUnit.SECONDS)
            .session();
    Prompts phonePrompts = new Prompts();
    HandoffClient phone = client(phoneSession.accessToken(), phonePrompts);
    // The laptop is new: held until the phone approves it.
    DeviceSignIn.SignIn held =
        signIn
            .signIn(app.identity("hal"), "laptop", "Hal's laptop", "macos")
            .get(10, TimeUnit.SECONDS);
    assertEquals(1, held.approversOnline());
    phonePrompts.signal.await("phone is prompted", () -> !phonePrompts.shown.isEmpty());
    ApprovalRequest laptopAsks = phonePrompts.shown.get(0);
    assertEquals("laptop", laptopAsks.getDeviceId());
    assertEquals(1, phone.approvals().prompts().size());
    phone.approvals().answer(laptopAsks.getApprovalId(), true).get(10, TimeUnit.SECONDS);
    DeviceSignIn.Session laptopSession =
        signIn.awaitApproval(held.pending()).get(30, TimeUnit.SECONDS);
    Prompts laptopPrompts = new Prompts();
    client(laptopSession.accessToken(), laptopPrompts);

    // A third device: both are prompted; the laptop denies; the phone sees it withdrawn.
    DeviceSignIn.SignIn stranger =
        signIn.signIn(app.identity("hal"), "stranger", "?", "linux").get(10, TimeUnit.SECONDS);
    phonePrompts.signal.await("phone prompted again", () -> phonePrompts.shown.size() == 2);
    laptopPrompts.signal.await("laptop prompted", () -> !laptopPrompts.shown.isEmpty());
    String id = laptopPrompts.shown.get(0).getApprovalId();
    HandoffClient laptop = (HandoffClient) closeables.get(closeables.size() - 1);
    assertEquals(
        ApprovalOutcome.APPROVAL_DENIED,
        laptop.approvals().answer(id, false).get(10, TimeUnit.SECONDS));
    phonePrompts.signal.await("phone sees it withdrawn", () -> !phonePrompts.withdrawn.isEmpty());
    assertEquals(id + ":APPROVAL_DENIED:laptop", phonePrompts.withdrawn.get(0));
    ExecutionException denied =
        org.junit.jupiter.api.Assertions.assertThrows(
            ExecutionException.class,
            () -> signIn.awaitApproval(stranger.pending()).get(30, TimeUnit.SECONDS));
    assertTrue(denied.getCause().getMessage().startsWith("access_denied"), denied.toString());
    HandoffException typed = (HandoffException) denied.getCause();
    assertEquals("access_denied", typed.apiError());
    assertFalse(typed.retryable(), "a person said no: asking again gives the same answer");
  }

  /**
   * A held sign-in restored without its interval, lifetime or device code (storage that kept only
   * some of them) is refused at once, before any poll, as the TypeScript client refuses it: it
   * could neither pause between polls nor end.
   */
  @Test
  void aHeldSignInRestoredWithoutItsIntervalLifetimeOrDeviceCodeIsRefusedBeforeAnyPoll()
      throws Exception {
    signIn.signIn(app.identity("rio"), "phone", "Rio's phone", "ios").get(10, TimeUnit.SECONDS);
    DeviceSignIn.DeviceCode p =
        signIn.signIn(app.identity("rio"), "tv", "TV", "tv").get(10, TimeUnit.SECONDS).pending();
    List<DeviceSignIn.DeviceCode> partial =
        List.of(
            new DeviceSignIn.DeviceCode(p.deviceCode(), "", "", p.expiresIn(), null),
            new DeviceSignIn.DeviceCode(p.deviceCode(), "", "", null, p.interval()),
            new DeviceSignIn.DeviceCode(null, "", "", p.expiresIn(), p.interval()),
            new DeviceSignIn.DeviceCode("", "", "", p.expiresIn(), p.interval()));
    for (DeviceSignIn.DeviceCode c : partial) {
      org.junit.jupiter.api.Assertions.assertThrows(
          IllegalArgumentException.class, () -> signIn.awaitApproval(c), c.toString());
    }
    org.junit.jupiter.api.Assertions.assertThrows(
        IllegalArgumentException.class, () -> signIn.awaitApproval(null));
  }

  /**
   * A wait whose server goes away polls on while the code could still be approved, and fails once
   * the code's lifetime and one interval have passed, as the TypeScript client's does, instead of
   * polling an unreachable server for ever.
   */
  @Test
  void aWaitForApprovalWhoseServerIsGoneEndsOnceTheCodeHasExpired() throws Exception {
    TestServer gone =
        TestServer.start(
            b ->
                b.tokens(app.tokens().build())
                    .approvals(ApprovalConfig.builder().newDeviceApproval(true).build()));
    DeviceSignIn.DeviceCode held;
    try (DeviceSignIn s = DeviceSignIn.of(URI.create("http://127.0.0.1:" + gone.port()))) {
      try {
        s.signIn(app.identity("uma"), "phone", "Uma's phone", "ios").get(10, TimeUnit.SECONDS);
        held = s.signIn(app.identity("uma"), "tv", "TV", "tv").get(10, TimeUnit.SECONDS).pending();
      } finally {
        gone.close();
      }
      // The held sign-in as restored with one second left.
      DeviceSignIn.DeviceCode lastSecond =
          new DeviceSignIn.DeviceCode(
              held.deviceCode(), "", "", Duration.ofSeconds(1), Duration.ofMillis(100));
      CompletableFuture<DeviceSignIn.Session> waiting = s.awaitApproval(lastSecond);
      ExecutionException failed =
          org.junit.jupiter.api.Assertions.assertThrows(
              ExecutionException.class, () -> waiting.get(60, TimeUnit.SECONDS));
      assertTrue(failed.getCause() instanceof HandoffException, failed.toString());
      assertTrue(failed.getCause().getMessage().contains("could not reach"), failed.toString());
    }
  }

  /**
   * A prompt answered on another device while the phone was away is withdrawn as soon as the phone
   * is back and the server has prompted it again for the one still waiting, long before the
   * prompts' deadline (two minutes; the waits here give up after one).
   */
  @Test
  void aPromptAnsweredWhileThePhoneWasAwayIsWithdrawnOnceItIsBackNotAtItsDeadline()
      throws Exception {
    DeviceSignIn.Session phoneSession =
        signIn
            .signIn(app.identity("jo"), "phone", "Jo's phone", "ios")
            .get(10, TimeUnit.SECONDS)
            .session();
    // The phone's reconnects wait for the test to hand over the token: it is away until then.
    CompletableFuture<String> back = new CompletableFuture<>();
    AtomicInteger asked = new AtomicInteger();
    Signal reconnecting = new Signal();
    Prompts phonePrompts = new Prompts();
    HandoffClient phone =
        HandoffClient.builder()
            .url(URI.create(server.url()))
            .tokenSource(
                () -> {
                  int n = asked.incrementAndGet();
                  reconnecting.fire();
                  return n == 1
                      ? CompletableFuture.completedFuture(phoneSession.accessToken())
                      : back;
                })
            .approvalListener(phonePrompts)
            .build();
    closeables.add(phone);
    phone.connect().get(10, TimeUnit.SECONDS);
    DeviceSignIn.SignIn held =
        signIn
            .signIn(app.identity("jo"), "laptop", "Jo's laptop", "macos")
            .get(10, TimeUnit.SECONDS);
    phonePrompts.signal.await("phone is prompted", () -> phonePrompts.shown.size() == 1);
    phone
        .approvals()
        .answer(phonePrompts.shown.get(0).getApprovalId(), true)
        .get(10, TimeUnit.SECONDS);
    Prompts laptopPrompts = new Prompts();
    HandoffClient laptop =
        client(
            signIn.awaitApproval(held.pending()).get(30, TimeUnit.SECONDS).accessToken(),
            laptopPrompts);

    signIn.signIn(app.identity("jo"), "tablet", "?", "android").get(10, TimeUnit.SECONDS);
    signIn.signIn(app.identity("jo"), "watch", "?", "wearos").get(10, TimeUnit.SECONDS);
    phonePrompts.signal.await("phone prompted for both", () -> phonePrompts.shown.size() == 3);
    laptopPrompts.signal.await("laptop prompted for both", () -> laptopPrompts.shown.size() == 2);
    String tablet = phonePrompts.shown.get(1).getApprovalId();
    String watch = phonePrompts.shown.get(2).getApprovalId();
    assertTrue(
        phonePrompts.shown.get(1).getExpiresMs() - System.currentTimeMillis()
            > Signal.DEFAULT_TIMEOUT.toMillis(),
        "the deadline is further away than the waits below");

    phone.dropConnection();
    reconnecting.await("the phone tries to come back", () -> asked.get() >= 2);
    assertEquals(
        ApprovalOutcome.APPROVAL_DENIED,
        laptop.approvals().answer(tablet, false).get(10, TimeUnit.SECONDS));
    back.complete(phoneSession.accessToken());
    phonePrompts.signal.await(
        "the prompt answered while away is withdrawn", () -> !phonePrompts.withdrawn.isEmpty());
    assertEquals(List.of(tablet + ":APPROVAL_OUTCOME_UNSPECIFIED:"), phonePrompts.withdrawn);
    assertEquals(
        List.of(watch),
        phone.approvals().prompts().stream().map(ApprovalRequest::getApprovalId).toList(),
        "the one still waiting was prompted again before the withdrawal");
    assertEquals(3, phonePrompts.shown.size(), "and not passed on again");
  }

  @Test
  void closingDeviceSignInEndsEveryWaitForApproval() throws Exception {
    signIn.signIn(app.identity("ivo"), "phone", "Ivo's phone", "ios").get(10, TimeUnit.SECONDS);
    DeviceSignIn.SignIn held =
        signIn.signIn(app.identity("ivo"), "tv", "TV", "tv").get(10, TimeUnit.SECONDS);
    CompletableFuture<DeviceSignIn.Session> waiting = signIn.awaitApproval(held.pending());
    signIn.close();
    ExecutionException closed =
        org.junit.jupiter.api.Assertions.assertThrows(
            ExecutionException.class, () -> waiting.get(10, TimeUnit.SECONDS));
    assertTrue(closed.getCause().getMessage().contains("closed"), closed.toString());
    assertTrue(
        signIn.awaitApproval(held.pending()).isCompletedExceptionally(),
        "a wait begun after close ends at once");
  }

  @Test
  void aTvWhosePollsAreRateLimitedKeepsWaitingAndGetsItsSession() throws Exception {
    // A node allowing an address one API request every two seconds, in bursts of two.
    TestServer strict =
        TestServer.start(
            b ->
                b.tokens(app.tokens().build())
                    .apiRequestRate(0.5, 2)
                    .approvals(
                        ApprovalConfig.builder()
                            .newDeviceApproval(true)
                            .pollInterval(Duration.ofMillis(100))
                            .build()));
    closeables.add(strict);
    DeviceSignIn strictSignIn = DeviceSignIn.of(URI.create("http://127.0.0.1:" + strict.port()));
    closeables.add(strictSignIn);
    DeviceSignIn.SignIn first =
        strictSignIn
            .signIn(app.identity("ida"), "phone", "Ida's phone", "ios")
            .get(10, TimeUnit.SECONDS);
    DeviceSignIn.DeviceCode code =
        strictSignIn.requestCode("tv", "Den", "tv").get(10, TimeUnit.SECONDS);
    HandoffClient phone =
        HandoffClient.builder()
            .url(URI.create(strict.url()))
            .token(first.session().accessToken())
            .build();
    closeables.add(phone);
    phone.connect().get(10, TimeUnit.SECONDS);
    ApprovalRequest who =
        phone.approvals().verifyUserCode(code.userCode()).get(10, TimeUnit.SECONDS);
    phone.approvals().answer(who.getApprovalId(), true).get(10, TimeUnit.SECONDS);
    // The address's bucket emptied, so the TV's first poll, 100 ms later, is refused.
    HttpClient http = HttpClient.newHttpClient();
    URI token = URI.create("http://127.0.0.1:" + strict.port() + "/v1/token");
    int status;
    do {
      status =
          http.send(
                  HttpRequest.newBuilder(token)
                      .header("Content-Type", "application/json")
                      .POST(HttpRequest.BodyPublishers.ofString("{}"))
                      .build(),
                  HttpResponse.BodyHandlers.ofString())
              .statusCode();
    } while (status != 429);

    assertEquals("ida", strictSignIn.awaitApproval(code).get(30, TimeUnit.SECONDS).userId());
    String metrics =
        http.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + strict.port() + "/metrics"))
                    .build(),
                HttpResponse.BodyHandlers.ofString())
            .body();
    double refused =
        metrics
            .lines()
            .filter(l -> l.startsWith("handoff_api_requests_refused_total{caller=\"address\""))
            .mapToDouble(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1)))
            .sum();
    assertTrue(
        refused >= 2, "the emptying request and the TV's first poll were refused: " + metrics);
  }
}
