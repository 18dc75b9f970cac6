package io.handoff.server.auth;

/**
 * Who a connection belongs to, from its verified token: the user ({@code sub}), the device ({@code
 * did}), and when the token expires. Immutable.
 */
public record Principal(String userId, String deviceId, long expiresAtMillis) {}
