package io.handoff.server.auth;

/** A token was refused; the message says why, for the 401 body and the logs. */
public final class AuthException extends Exception {
  public AuthException(String message) {
    super(message, null, false, false);
  }
}
