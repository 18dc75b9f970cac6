package io.handoff.server.devices;

/**
 * A refused request of the device-session API: an HTTP status, a short machine-readable error (the
 * OAuth 2.0 names where one applies: {@code invalid_grant}, {@code invalid_request}, {@code
 * invalid_token}) and a message a person can act on.
 */
public final class ApiException extends RuntimeException {
  private final int status;
  private final String error;

  public ApiException(int status, String error, String message) {
    super(message, null, false, false);
    this.status = status;
    this.error = error;
  }

  public int status() {
    return status;
  }

  public String error() {
    return error;
  }
}
