/**
 * The client's Netty plumbing; not a public API, may change without notice.
 *
 * <p>{@link io.handoff.client.internal.WebSocketConnector} opens connections; {@code
 * ClientChannelInitializer} assembles each pipeline (TLS, read-idle timeout, the connection
 * handler); {@link io.handoff.client.internal.ClientWire} does the WebSocket upgrade ({@link
 * io.handoff.client.internal.Handshake}) and the framing in the connection's own handler; {@code
 * ConnectionHandler} (a ClientWire) turns what happens on the channel into {@link
 * io.handoff.client.internal.FrameListener} calls and is the {@link
 * io.handoff.client.internal.FrameChannel} the sync engine writes to. {@link
 * io.handoff.client.internal.LookupResolver} looks server names up.
 *
 * <p>Threading: everything here runs on the connection's event loop, which is the owning client's
 * event loop, but for the name lookups, which run on {@code LookupResolver}'s threads and answer on
 * the loop; listener calls happen on it and {@code FrameChannel} methods must be called on it.
 * Nothing here runs application code directly.
 */
package io.handoff.client.internal;
