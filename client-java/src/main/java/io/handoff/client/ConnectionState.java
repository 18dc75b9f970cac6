package io.handoff.client;

/**
 * The connection state of a {@link HandoffClient}, reported by {@link HandoffClient#state()} and
 * {@link HandoffListener#onStateChanged}.
 *
 * <pre>
 *   CLOSED --connect()--> CONNECTING --Welcome--> CONNECTED
 *   CONNECTING / CONNECTED --connection lost, reconnect code--> RECONNECTING --Welcome--> CONNECTED
 *   any --terminal close code or close()--> CLOSED
 * </pre>
 */
public enum ConnectionState {
  /** The first connection attempt is under way; no Welcome has been received yet. */
  CONNECTING,
  /** A Welcome was received on the current connection; writes flow. */
  CONNECTED,
  /** The connection was lost with a code that says "reconnect"; the client retries with backoff. */
  RECONNECTING,
  /**
   * Not connected and not trying: before {@link HandoffClient#connect()}, after a terminal close
   * code, or after {@link HandoffClient#close()}.
   */
  CLOSED
}
