package io.handoff.client;

import io.handoff.protocol.v1.ApprovalOutcome;
import io.handoff.protocol.v1.ApprovalRequest;

/**
 * Receives "is this you?" prompts: a new device of the user waits for approval. Show who asks
 * (device name, platform, address, time) and answer with {@link Approvals#answer}. Called on the
 * client's event loop; must not block.
 */
public interface ApprovalListener {
  /**
   * A new device waits for approval. Once per request: the server prompts again after a reconnect
   * for what still waits, which this client does not pass on again.
   */
  default void onApprovalPrompt(ApprovalRequest request) {}

  /**
   * The request ended elsewhere (another device answered, this device did from elsewhere such as
   * the HTTP API, or it expired): drop the prompt. One the server did not prompt for again after a
   * reconnect (it ended while this client was away) is withdrawn with {@code
   * APPROVAL_OUTCOME_UNSPECIFIED} and no device (how it ended is not known then): as soon as the
   * server says it prompted again for every request still waiting, or, from a server that does not
   * say so, at its {@code expires_ms} by this machine's clock.
   */
  default void onApprovalWithdrawn(String approvalId, ApprovalOutcome outcome, String byDevice) {}
}
