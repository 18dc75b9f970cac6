/**
 * The per-connection session after the WebSocket upgrade, and the {@link
 * io.handoff.server.session.Hub} of this node's sessions by user. A session's state is touched only
 * on its channel's event loop; see {@code docs/concurrency.md}.
 */
package io.handoff.server.session;
