package io.handoff.client;

import io.handoff.protocol.v1.ApprovalOutcome;
import io.handoff.protocol.v1.ApprovalRequest;

/**
 * Receives "is this you?" prompts: a new device of the user waits for approval. Show who asks
 * (device name, platform, address, time) and answer with {@link Approvals#answer}. Called on the
 * client's event loop; must not block.
 */
public interface ApprovalListener {
  /** A new device waits for approval (pushed, and again after a reconnect while it waits). */
  default void onApprovalPrompt(ApprovalRequest request) {}

  /**
   * The request ended elsewhere (another device answered, this device did from elsewhere such as
   * the HTTP API, or it expired): drop the prompt.
   */
  default void onApprovalWithdrawn(String approvalId, ApprovalOutcome outcome, String byDevice) {}
}
