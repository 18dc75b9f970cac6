package io.handoff.client.internal;

/**
 * An access token that can never be sent on an upgrade: empty, or holding a character an HTTP
 * header cannot carry (a line break, a space, a control or non-ASCII character). Retrying with the
 * same token would fail the same way, so the client treats it as terminal, not as a lost
 * connection.
 */
public final class InvalidTokenException extends IllegalArgumentException {
  private static final long serialVersionUID = 1L;

  public InvalidTokenException(String message) {
    super(message);
  }
}
