package io.handoff.client;

/**
 * Receives what happens on a {@link HandoffClient}. Every method has an empty default, so an
 * implementation overrides only what it needs.
 *
 * <p>Threading: methods are called on the client's event-loop thread, one at a time, in the order
 * the events happened. They must not block (no I/O, no {@code join()} on a client future): the same
 * thread reads the socket. Whatever a listener throws (an {@link Error} or a checked exception too,
 * but a {@link VirtualMachineError}) is logged and otherwise ignored. A listener may call the
 * client (write, {@code connect()}, {@code close()}): a state change that causes is told to every
 * listener after the event being handled has reached them all.
 */
public interface HandoffListener {

  /**
   * A document changed: a pushed delta, a snapshot, one of this client's own acked writes, or gone.
   */
  default void onChange(DocumentChange change) {}

  /**
   * The connection state changed.
   *
   * @param closeCode the WebSocket close code that caused the change, the code the client stopped
   *     under by itself ({@code 4502 UNAUTHORIZED} for an access token it cannot use or a Welcome
   *     for another user or device), or 0 when none did (e.g. a Hello the server refused)
   * @param reason the close reason, or {@code null}
   */
  default void onStateChanged(ConnectionState state, int closeCode, String reason) {}

  /**
   * The connection has caught up: its Welcome has been processed and every document its sync report
   * named has been brought to the reported version (deltas applied, snapshot replaced, or dropped
   * as gone). Called once per connection, after {@link ConnectionState#CONNECTED} and the changes
   * of the catch-up; not called for a connection that ends before it caught up. Live changes may
   * already have been applied too.
   */
  default void onSynced() {}

  /**
   * The server sent another device's delta out of turn on a connection that had caught up, for a
   * document this connection had not asked to repair: a version the replica already held ({@code
   * received} at or below {@code held}: sent twice, or behind a later one), or one past the next
   * ({@code received} above {@code held + 1}: its predecessor had not come). The client repairs it
   * by itself (the first is ignored, the second asks for what is missing), so the app's replica
   * stays right; a server that keeps its promises never does it, so this is for monitoring and load
   * testing.
   */
  default void onDeltaOutOfTurn(String document, long held, long received) {}

  /**
   * An error that is not tied to one of this client's writes: a server Error frame without a client
   * sequence number, a failure to start a connection attempt, a token source that failed when the
   * connection's token was about to expire, or why the client stopped by itself (a refused Hello, a
   * token it cannot use).
   */
  default void onError(HandoffException error) {}
}
