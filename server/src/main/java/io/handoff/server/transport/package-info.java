/**
 * The network side of a node, Netty only: the pipeline ({@link
 * io.handoff.server.transport.HandoffChannelInitializer}), HTTP routing and authentication at
 * upgrade, the WebSocket handshake (answered by the node for a plain version-13 upgrade, by Netty's
 * handshaker otherwise), the protobuf frame codec, control frames, each connection's {@link
 * io.handoff.server.transport.ConnectionHandler} (handshake limit, heartbeats, the close sequence)
 * and what it does with an exception ({@code ConnectionErrors}: a JSON answer before the 101, a
 * close code by exception type after it), rate limiters, and their settings ({@link
 * io.handoff.server.transport.TransportConfig}: I/O transport, event loops, TLS, compression,
 * buffers). It knows frames and bytes, not features: it hands each upgraded connection to an {@link
 * io.handoff.server.transport.Endpoint} (the session) and offers it a {@link
 * io.handoff.server.transport.Link}. Threading rules are in {@code docs/concurrency.md}.
 */
package io.handoff.server.transport;
