/**
 * Device sessions: sign-in with an identity token, rotating refresh tokens with reuse detection,
 * access tokens, the device list, revocation and erasure, over the engine's {@link
 * io.handoff.server.engine.SessionStore}. Used by the HTTP API and by the WebSocket session.
 */
package io.handoff.server.sessions;
