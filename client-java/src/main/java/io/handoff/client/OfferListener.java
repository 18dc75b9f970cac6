package io.handoff.client;

import io.handoff.protocol.v1.Activity;
import io.handoff.protocol.v1.Offer;
import io.handoff.protocol.v1.OfferOutcome;

/**
 * Receives activities of the user's other devices and "continue here?" prompts. Every method has an
 * empty default. Called on the client's event loop, in order; must not block (see {@link
 * HandoffListener}).
 */
public interface OfferListener {
  /**
   * Another device published its activity, or cleared it ({@code activity} null). Also called for
   * each activity in a Welcome the client did not already hold as it is (the first Welcome's are
   * all new), so an app can offer "resume where you left off", and with null for one cleared while
   * the client was disconnected.
   */
  default void onActivity(String deviceId, Activity activity) {}

  /** An offer addressed to this device is live: show a prompt; answer with accept or decline. */
  default void onPrompt(Offer offer) {}

  /**
   * The server pushed the prompt of an offer this client already shows. The protocol pushes each
   * prompt once per connection (one live when the client connects comes in the Welcome only), so a
   * server that keeps its promises never does it; the client ignores it ({@link #onPrompt} is not
   * called again). For monitoring and load testing.
   */
  default void onPromptRepeated(Offer offer) {}

  /**
   * A prompt is withdrawn: another device took it ({@code ACCEPTED}), a device declined it, the
   * offerer cancelled it, or it expired. {@code byDevice} is empty unless a device ended it. A
   * prompt that ended while the client was disconnected is withdrawn when it reconnects, with
   * {@code OFFER_OUTCOME_UNSPECIFIED} (how it ended is not known then).
   */
  default void onWithdrawn(String offerId, OfferOutcome outcome, String byDevice) {}

  /**
   * The server pushed a withdrawal of a prompt this client does not show: one it already won (its
   * accept was granted), one withdrawn before, or one it never had. The protocol withdraws a prompt
   * once, and never the winner's, so a server that keeps its promises never does it; the client
   * ignores it ({@link #onWithdrawn} is not called). For monitoring and load testing.
   */
  default void onWithdrawnUnheld(String offerId, OfferOutcome outcome, String byDevice) {}
}
