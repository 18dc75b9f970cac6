/**
 * Handoff: activities, offers and presence.
 *
 * <p>Public face: the {@link io.handoff.server.handoff.HandoffStore} contract (activities, offers
 * with their atomic end, presence), {@link io.handoff.server.handoff.HandoffLimits}, the node's
 * {@link io.handoff.server.handoff.HandoffService} (shared parts and the presence keeper) and
 * {@link io.handoff.server.handoff.HandoffSession}, the per-connection part the session dispatches
 * PublishActivity, OfferActivity, AcceptOffer, DeclineOffer and CancelOffer to, and hands the
 * activity, offer and presence signals. Internal: Activities, Offers (prompts, own offers, deadline
 * timers), Presence and Refusal.
 */
package io.handoff.server.handoff;
