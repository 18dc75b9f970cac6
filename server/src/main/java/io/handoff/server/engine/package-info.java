/**
 * What a node runs on: the {@link io.handoff.server.engine.Engine} that bundles one implementation
 * of every feature's store contract ({@code sync.DocumentStore}, {@code sync.Broker}, {@code
 * devices.SessionStore}, {@code handoff.HandoffStore}), and the {@link
 * io.handoff.server.engine.StoreLimits} they enforce. The in-memory implementations in {@code
 * engine.memory} are the embedded default; {@code engine.redis} serves many nodes.
 */
package io.handoff.server.engine;
