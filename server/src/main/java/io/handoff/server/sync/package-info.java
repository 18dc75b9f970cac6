/**
 * Document sync: the {@link io.handoff.server.sync.DocumentStore} contract (state, versions,
 * history, idempotency) and the {@link io.handoff.server.sync.Broker} contract (fan-out between
 * nodes), their value types ({@link io.handoff.server.sync.DocumentEvent}, {@link
 * io.handoff.server.sync.SyncResult}, {@link io.handoff.server.sync.WriteOutcome}), follow filters
 * and write validation.
 */
package io.handoff.server.sync;
