package io.handoff.client;

import io.handoff.protocol.v1.AnswerApproval;
import io.handoff.protocol.v1.ApprovalOutcome;
import io.handoff.protocol.v1.ApprovalRequest;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.protocol.v1.VerifyUserCode;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * A signed-in device's side of signing in other devices, from {@link HandoffClient#approvals()}:
 * look up a user code a person typed (a TV's device code) and approve or deny it, and answer the
 * "is this you?" prompts of new devices ({@link ApprovalListener}). Needs a server-issued access
 * token. Thread-safe.
 */
public final class Approvals {
  private final SyncEngine engine;
  private final HandoffRequests requests;

  Approvals(SyncEngine engine, HandoffRequests requests) {
    this.engine = engine;
    this.requests = requests;
  }

  /**
   * Who asks with this user code (any case, dash optional): completes with the request to show, or
   * fails with {@code APPROVAL_NOT_FOUND} or {@code TOO_MANY_ATTEMPTS}.
   */
  public CompletableFuture<ApprovalRequest> verifyUserCode(String userCode) {
    CompletableFuture<ServerFrame> answer = new CompletableFuture<>();
    engine.request(
        ClientFrame.newBuilder()
            .setVerifyUserCode(VerifyUserCode.newBuilder().setUserCode(userCode)),
        answer);
    return answer.thenApply(f -> expect(f, f.hasApprovalPrompt()).getApprovalPrompt().getRequest());
  }

  /**
   * Approves or denies a request ({@link ApprovalRequest#getApprovalId()}). Completes with the
   * outcome when this answer won (also when it is this device's winning answer sent again, after an
   * {@code UNAVAILABLE}); fails with {@code APPROVAL_ENDED} when another answer (or the deadline)
   * came first.
   */
  public CompletableFuture<ApprovalOutcome> answer(String approvalId, boolean approve) {
    CompletableFuture<ServerFrame> answer = new CompletableFuture<>();
    engine.request(
        ClientFrame.newBuilder()
            .setAnswerApproval(
                AnswerApproval.newBuilder().setApprovalId(approvalId).setApprove(approve)),
        answer);
    return answer.thenApply(
        f -> expect(f, f.hasApprovalAnswered()).getApprovalAnswered().getOutcome());
  }

  /**
   * The prompts shown now, oldest first: at most 64 (the server shows no more at once); a new one
   * over it makes the oldest go, without {@link ApprovalListener#onApprovalWithdrawn}.
   */
  public List<ApprovalRequest> prompts() {
    return List.copyOf(requests.approvalPrompts.values());
  }

  private static ServerFrame expect(ServerFrame f, boolean ok) {
    if (!ok) {
      throw HandoffException.local("unexpected answer " + f.getBodyCase(), null);
    }
    return f;
  }
}
