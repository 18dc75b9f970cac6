/**
 * The per-connection session after the WebSocket upgrade: its phases, the dispatch of each frame by
 * family to the feature that owns it, and the one bounded outbox every frame to the device goes
 * through; and the {@link io.handoff.server.session.Hub} of this node's sessions by user.
 *
 * <p>Public face: {@link io.handoff.server.session.Connection}, the narrow interface features reach
 * the device through (push, reply, error, flush, schedule, clock, close), and {@link
 * io.handoff.server.session.Deadline}, a long-lived timer of a connection that costs no task of its
 * own; {@link io.handoff.server.session.Hub}; {@link io.handoff.server.session.Sessions}, the
 * node's factory of sessions for the transport; {@link io.handoff.server.session.QueueBudget}, the
 * node's budget of bytes queued towards devices. Internal: Session, Outbox, LoopDeadlines (one heap
 * of deadlines per event loop) and LoopDrainer (one drain task per event loop for all its
 * outboxes). A session's state is touched only on its channel's event loop; see {@code
 * docs/concurrency.md}.
 */
package io.handoff.server.session;
