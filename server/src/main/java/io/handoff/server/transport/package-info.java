/**
 * The network side of a node: the pipeline ({@link
 * io.handoff.server.transport.HandoffChannelInitializer}), HTTP endpoints and authentication at
 * upgrade, the protobuf frame codec, one session handler per device connection, and the {@link
 * io.handoff.server.transport.Hub} of this node's sessions by user. Activities, offers and presence
 * live beside each session in a {@code HandoffSession}, with the node's {@link
 * io.handoff.server.transport.HandoffService} (shared parts and the presence keeper). Threading
 * rules are in {@code docs/concurrency.md}: a session's state is touched only on its channel's
 * event loop.
 */
package io.handoff.server.transport;
