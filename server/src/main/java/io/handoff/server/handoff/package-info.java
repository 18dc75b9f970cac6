/**
 * Handoff: activities, offers and presence. The {@link io.handoff.server.handoff.HandoffStore}
 * contract (activities, offers with their atomic end, presence), their limits ({@link
 * io.handoff.server.handoff.HandoffLimits}), the node's {@link
 * io.handoff.server.handoff.HandoffService} (shared parts and the presence keeper) and one {@link
 * io.handoff.server.handoff.HandoffSession} per connection.
 */
package io.handoff.server.handoff;
