package io.handoff.client;

import static io.handoff.client.Frames.welcome;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.ApprovalAnswered;
import io.handoff.protocol.v1.ApprovalOutcome;
import io.handoff.protocol.v1.ApprovalPrompt;
import io.handoff.protocol.v1.ApprovalPromptsSent;
import io.handoff.protocol.v1.ApprovalRequest;
import io.handoff.protocol.v1.ApprovalWithdrawn;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.Error;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.ServerFrame;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.Test;

/** The client's approval prompts and answers, on the socket-free engine. */
class ApprovalsTest {
  private final List<String> heard = new ArrayList<>();
  private final FakeEngine fake =
      new FakeEngine(
          FakeEngine.builder()
              .approvalListener(
                  new ApprovalListener() {
                    @Override
                    public void onApprovalPrompt(ApprovalRequest r) {
                      heard.add("prompt " + r.getApprovalId());
                    }

                    @Override
                    public void onApprovalWithdrawn(String id, ApprovalOutcome outcome, String by) {
                      heard.add("withdrawn " + id + " " + outcome + " " + by);
                    }
                  }));
  private final FakeConnector connector = fake.connector;
  private final ManualScheduler scheduler = fake.scheduler;
  private final SyncEngine engine = fake.engine;
  private final Approvals approvals = new Approvals(engine, engine.handoff);

  private FakeChannel connected() {
    return fake.connected();
  }

  private static ServerFrame prompt(String id) {
    return ServerFrame.newBuilder()
        .setApprovalPrompt(
            ApprovalPrompt.newBuilder()
                .setRequest(
                    ApprovalRequest.newBuilder()
                        .setApprovalId(id)
                        .setDeviceId("tv")
                        .setExpiresMs(System.currentTimeMillis() + 120_000)))
        .build();
  }

  @Test
  void aReconnectSurfacesAWaitingPromptOnceAndWithdrawsOneThatEndedMeanwhileAtItsDeadline() {
    FakeChannel first = connected();
    first.receive(prompt("waits"));
    first.receive(prompt("ended"));
    first.closeWith(1006, null);
    scheduler.runDueWithin(Duration.ofSeconds(5).toNanos()); // the reconnect, not the deadlines
    FakeChannel second = connector.last().open();
    second.receive(welcome(0));
    second.receive(prompt("waits")); // The server prompts again for what still waits.
    assertEquals(List.of("prompt waits", "prompt ended"), heard);
    assertEquals(
        List.of("waits"), approvals.prompts().stream().map(r -> r.getApprovalId()).toList());
    scheduler.runPending(); // Past the deadlines.
    assertEquals(
        List.of("prompt waits", "prompt ended", "withdrawn ended APPROVAL_OUTCOME_UNSPECIFIED "),
        heard);
  }

  private static final ServerFrame SENT =
      ServerFrame.newBuilder()
          .setApprovalPromptsSent(ApprovalPromptsSent.getDefaultInstance())
          .build();

  /**
   * The Hello says the client holds prompts; once the server says it prompted again for every one
   * still waiting, the rest are withdrawn at once, long before their deadlines.
   */
  @Test
  void promptsTheServerDidNotSendAgainAreWithdrawnWhenItSaysItSentAllNotAtTheirDeadlines() {
    engine.connect();
    FakeChannel first = connector.last().open();
    assertFalse(first.drain().get(0).getHello().getApprovalPromptsHeld(), "nothing held yet");
    first.receive(welcome(0));
    first.receive(prompt("waits"));
    first.receive(prompt("denied"));
    first.receive(prompt("approved"));
    first.closeWith(1006, null);
    scheduler.runDueWithin(Duration.ofSeconds(5).toNanos()); // the reconnect, not the deadlines
    FakeChannel second = connector.last().open();
    assertTrue(second.drain().get(0).getHello().getApprovalPromptsHeld());
    second.receive(welcome(0));
    second.receive(prompt("waits"));
    assertEquals(List.of("prompt waits", "prompt denied", "prompt approved"), heard);
    second.receive(SENT);
    assertEquals(
        List.of(
            "prompt waits",
            "prompt denied",
            "prompt approved",
            "withdrawn denied APPROVAL_OUTCOME_UNSPECIFIED ",
            "withdrawn approved APPROVAL_OUTCOME_UNSPECIFIED "),
        heard);
    assertEquals(
        List.of("waits"), approvals.prompts().stream().map(r -> r.getApprovalId()).toList());
    assertTrue(scheduler.pending().stream().noneMatch(t -> t.delayNanos > 60_000_000_000L));
    scheduler.runPending(); // Past the deadlines: nothing more.
    assertEquals(5, heard.size());
    second.receive(SENT); // Again (it never is): nothing.
    assertEquals(5, heard.size());
  }

  private static ServerFrame answered(long requestId, String id) {
    return ServerFrame.newBuilder()
        .setRequestId(requestId)
        .setApprovalAnswered(
            ApprovalAnswered.newBuilder()
                .setApprovalId(id)
                .setOutcome(ApprovalOutcome.APPROVAL_APPROVED))
        .build();
  }

  @Test
  void aCarriedPromptThisDeviceAnswersAgainAfterAReconnectIsNeverWithdrawnToIt() {
    FakeChannel first = connected();
    first.receive(prompt("mine"));
    first.receive(prompt("again"));
    CompletableFuture<ApprovalOutcome> lost = approvals.answer("mine", true);
    CompletableFuture<ApprovalOutcome> lostToo = approvals.answer("again", true);
    first.drain();
    first.closeWith(1006, null); // Both replies are lost with the connection.
    assertTrue(lost.isCompletedExceptionally() && lostToo.isCompletedExceptionally());
    scheduler.runDueWithin(Duration.ofSeconds(5).toNanos()); // the reconnect, not the deadlines
    FakeChannel second = connector.last().open();
    second.receive(welcome(0));
    second.drain();
    // "mine" was decided by its first answer: not prompted for again. "again" was not: it is.
    second.receive(prompt("again"));
    CompletableFuture<ApprovalOutcome> retry = approvals.answer("mine", true);
    CompletableFuture<ApprovalOutcome> retryToo = approvals.answer("again", true);
    List<ClientFrame> sent = second.drain();
    second.receive(answered(sent.get(0).getRequestId(), "mine"));
    second.receive(answered(sent.get(1).getRequestId(), "again"));
    assertEquals(ApprovalOutcome.APPROVAL_APPROVED, retry.join());
    assertEquals(ApprovalOutcome.APPROVAL_APPROVED, retryToo.join());
    assertTrue(approvals.prompts().isEmpty());
    scheduler.runPending(); // Past the deadlines.
    assertEquals(List.of("prompt mine", "prompt again"), heard);
  }

  @Test
  void aPromptOverTheBoundMakesTheOldestGoWithoutAWithdrawal() {
    FakeChannel channel = connected();
    for (int i = 0; i <= HandoffRequests.MAX_APPROVAL_PROMPTS; i++) {
      channel.receive(prompt("a" + i));
    }
    List<ApprovalRequest> shown = approvals.prompts();
    assertEquals(HandoffRequests.MAX_APPROVAL_PROMPTS, shown.size());
    assertEquals("a1", shown.get(0).getApprovalId(), "the oldest went");
    assertEquals(
        "a" + HandoffRequests.MAX_APPROVAL_PROMPTS, shown.get(shown.size() - 1).getApprovalId());
    assertEquals(HandoffRequests.MAX_APPROVAL_PROMPTS + 1, heard.size(), "every prompt told once");
    assertTrue(heard.stream().noneMatch(h -> h.startsWith("withdrawn")), "no withdrawal: " + heard);
    channel.receive(prompt("a2")); // One still kept, again: nothing goes.
    assertEquals(ids(shown), ids(approvals.prompts()));
  }

  private static List<String> ids(List<ApprovalRequest> prompts) {
    return prompts.stream().map(ApprovalRequest::getApprovalId).toList();
  }

  @Test
  void promptsReachTheListenerOnceAndAWithdrawalRemovesThem() {
    FakeChannel channel = connected();
    channel.receive(prompt("a1"));
    channel.receive(prompt("a1")); // Again after a re-read: shown once.
    assertEquals(1, approvals.prompts().size());
    channel.receive(
        ServerFrame.newBuilder()
            .setApprovalWithdrawn(
                ApprovalWithdrawn.newBuilder()
                    .setApprovalId("a1")
                    .setOutcome(ApprovalOutcome.APPROVAL_DENIED)
                    .setByDevice("laptop"))
            .build());
    assertEquals(List.of("prompt a1", "withdrawn a1 APPROVAL_DENIED laptop"), heard);
    assertTrue(approvals.prompts().isEmpty());
  }

  @Test
  void answerCompletesWithTheOutcomeOrFailsWithApprovalEnded() {
    FakeChannel channel = connected();
    channel.receive(prompt("a2"));
    CompletableFuture<ApprovalOutcome> yes = approvals.answer("a2", true);
    ClientFrame sent = channel.drain().get(0);
    assertEquals("a2", sent.getAnswerApproval().getApprovalId());
    assertTrue(sent.getAnswerApproval().getApprove());
    channel.receive(
        ServerFrame.newBuilder()
            .setRequestId(sent.getRequestId())
            .setApprovalAnswered(
                ApprovalAnswered.newBuilder()
                    .setApprovalId("a2")
                    .setOutcome(ApprovalOutcome.APPROVAL_APPROVED))
            .build());
    assertEquals(ApprovalOutcome.APPROVAL_APPROVED, yes.join());
    assertTrue(approvals.prompts().isEmpty(), "answered here: no withdrawal needed");

    CompletableFuture<ApprovalRequest> verify = approvals.verifyUserCode("bcdf-ghjk");
    ClientFrame v = channel.drain().get(0);
    assertEquals("bcdf-ghjk", v.getVerifyUserCode().getUserCode());
    channel.receive(
        ServerFrame.newBuilder()
            .setRequestId(v.getRequestId())
            .setError(Error.newBuilder().setCode(ErrorCode.TOO_MANY_ATTEMPTS).setMessage("wait"))
            .build());
    CompletionException e =
        org.junit.jupiter.api.Assertions.assertThrows(CompletionException.class, verify::join);
    assertEquals(
        ErrorCode.TOO_MANY_ATTEMPTS,
        assertInstanceOf(HandoffException.class, e.getCause()).errorCode());
  }

  @Test
  void deviceSignInReadsTheFlatJsonOfTheApi() {
    Map<String, String> m =
        DeviceSignIn.Json.parse(
            "{\"device_code\":\"dc1.A.b\\\"c\",\"expires_in\":600, \"ok\":true,\"u\":\"\\u00e9\"}");
    assertEquals("dc1.A.b\"c", m.get("device_code"));
    assertEquals("600", m.get("expires_in"));
    assertEquals("true", m.get("ok"));
    assertEquals("é", m.get("u"));
    assertTrue(DeviceSignIn.Json.parse("not json").isEmpty());
  }
}
