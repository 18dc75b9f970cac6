/**
 * The engine interfaces every node runs on, and their value types: {@link
 * io.handoff.server.engine.DocumentStore} (state, versions, history, idempotency), {@link
 * io.handoff.server.engine.Broker} (fan-out between nodes), {@link
 * io.handoff.server.engine.SessionStore} (device sessions, refresh-token families, revocation) and
 * {@link io.handoff.server.engine.HandoffStore} (activities, offers with their atomic end,
 * presence). The in-memory implementations in {@code engine.memory} are the embedded default; the
 * connection code depends only on these interfaces.
 */
package io.handoff.server.engine;
