/**
 * The network side of a node: the pipeline ({@link
 * io.handoff.server.transport.HandoffChannelInitializer}), HTTP routing and authentication at
 * upgrade, the protobuf frame codec, control frames, heartbeats and rate limiters. Threading rules
 * are in {@code docs/concurrency.md}.
 */
package io.handoff.server.transport;
