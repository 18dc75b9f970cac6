/**
 * Document sync: what each connection follows, where it is in each document, and its writes.
 *
 * <p>Public face (what other packages may use): the {@link io.handoff.server.sync.DocumentStore}
 * contract (state, versions, history, idempotency) and the {@link io.handoff.server.sync.Broker}
 * contract (fan-out between nodes), their values ({@link io.handoff.server.sync.DocumentEvent},
 * {@link io.handoff.server.sync.SyncResult}, {@link io.handoff.server.sync.WriteOutcome}, {@link
 * io.handoff.server.sync.Fingerprint}, {@link io.handoff.server.sync.DocumentTag} (the document of
 * a remembered write outcome), and the two ways a write fails, {@link
 * io.handoff.server.sync.StoreUnavailableException} and {@link
 * io.handoff.server.sync.OutcomeUnknownException}), {@link io.handoff.server.sync.FollowFilter},
 * {@link io.handoff.server.sync.WriteValidator}, and {@link
 * io.handoff.server.sync.DocumentSession}, the per-connection part the session dispatches Write,
 * Follow, Unfollow and Resync to. Internal: cursors and the write tracker, the one place acks are
 * sent.
 */
package io.handoff.server.sync;
