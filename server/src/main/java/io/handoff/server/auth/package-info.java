/**
 * Authentication at WebSocket upgrade: {@link io.handoff.server.auth.TokenVerifier} turns the
 * bearer token into a {@link io.handoff.server.auth.Principal} (user and device). The HS256
 * verifier serves development and tests.
 */
package io.handoff.server.auth;
