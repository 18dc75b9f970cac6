package io.handoff.server.auth;

/**
 * The identity JWKS URL gave no key set at start: it did not answer (refused, timed out, a name
 * that does not resolve) or answered with no document (a 5xx, a 429, a 404). Unlike a file that is
 * missing or a document that is no JWKS, this may pass by itself: the launcher exits with the code
 * of an unreachable store (3), so that a supervisor starts the node again.
 */
public final class JwksUnavailableException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  JwksUnavailableException(String message, Throwable cause) {
    super(message, cause);
  }
}
