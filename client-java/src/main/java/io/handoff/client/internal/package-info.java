/**
 * The client's Netty plumbing; not a public API, may change without notice.
 *
 * <p>{@link io.handoff.client.internal.WebSocketConnector} opens connections; {@code
 * ClientChannelInitializer} assembles each pipeline (TLS, read-idle timeout, HTTP upgrade,
 * WebSocket protocol, protobuf codec); {@code ConnectionHandler} turns what happens on the channel
 * into {@link io.handoff.client.internal.FrameListener} calls and is the {@link
 * io.handoff.client.internal.FrameChannel} the sync engine writes to.
 *
 * <p>Threading: everything here runs on the connection's event loop, which is the owning client's
 * event loop; listener calls happen on it and {@code FrameChannel} methods must be called on it.
 * Nothing here runs application code directly.
 */
package io.handoff.client.internal;
