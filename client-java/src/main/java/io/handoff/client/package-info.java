/**
 * The Handoff Java client: a device's connection to a Handoff server and its local replicas of the
 * user's documents.
 *
 * <p>The public surface is small: {@link io.handoff.client.HandoffClient} (and its builder), {@link
 * io.handoff.client.Document} (a replica and the way to write to it), {@link
 * io.handoff.client.HandoffListener} with {@link io.handoff.client.DocumentChange} and {@link
 * io.handoff.client.ConnectionState}, and {@link io.handoff.client.HandoffException}; for handoff
 * and presence {@link io.handoff.client.OfferListener}, {@link io.handoff.client.OutgoingOffer} and
 * {@link io.handoff.client.PresenceListener}; for device sign-in {@link
 * io.handoff.client.DeviceSignIn}, {@link io.handoff.client.Approvals} and {@link
 * io.handoff.client.ApprovalListener}. The package-private {@code SyncEngine} is the protocol state
 * machine (connect, resume, stop), {@code Link} one connection attempt of it (the wait for the
 * Welcome, the app's check), {@code Hellos} the Hello that opens each connection (in the upgrade
 * request, or as its first frame), {@code EarlyHellos} which URLs get it in the upgrade request
 * (dropped where it fails), {@code Reconnects} where and when the next attempt goes (endpoints,
 * backoff), {@code Replicas} what Deltas, Snapshots and Acks do to the replicas (ordering, gaps,
 * Resync), {@code WriteQueue} the life of each write (numbering, one in flight per document,
 * re-sends, the memory bound) and {@code TokenRefresher} the in-band renewal of the access token;
 * none has socket code, and {@code SyncEngineTest} drives them all without a socket. {@code
 * HandoffClient} is the face over them: {@code ClientLoop} is the event loop it lives on, {@code
 * EndpointConnector} opens its connections with their access tokens, {@code HandoffCalls} makes its
 * activity, offer and device requests, and {@code FollowSet} checks what its builder follows. The
 * Netty plumbing lives in {@link io.handoff.client.internal}.
 *
 * <p>Threading, in one place: each client is confined to one Netty event loop, picked when it is
 * built. Replicas, pending writes, sequence numbers and the connection state machine change only on
 * that thread; public methods called elsewhere hand their work to it. Futures are completed and
 * listeners called on it, one event at a time, so application callbacks must not block. Document
 * readers and {@code state()} may be called from any thread: they read immutable snapshots
 * published through volatile fields.
 */
package io.handoff.client;
