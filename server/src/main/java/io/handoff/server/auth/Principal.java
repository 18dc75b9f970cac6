package io.handoff.server.auth;

/**
 * Who a connection belongs to, from its verified token: the user ({@code sub}), the device ({@code
 * did}), when the token expires, and the device session ({@code sid}) of a server-issued access
 * token (empty for development tokens, which belong to no device session). Immutable.
 */
public record Principal(String userId, String deviceId, long expiresAtMillis, String sessionId) {
  public Principal(String userId, String deviceId, long expiresAtMillis) {
    this(userId, deviceId, expiresAtMillis, "");
  }

  /** Whether the token belongs to a device session, whose liveness must then be checked. */
  public boolean hasSession() {
    return !sessionId.isEmpty();
  }
}
