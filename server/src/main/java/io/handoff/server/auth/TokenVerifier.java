package io.handoff.server.auth;

/**
 * Turns an access token into a {@link Principal}, or refuses it. Implementations are thread-safe.
 */
public interface TokenVerifier {
  Principal verify(String token) throws AuthException;
}
