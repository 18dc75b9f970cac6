package io.handoff.server.devices;

/**
 * A refused request of the device-session API: an HTTP status, a short machine-readable error (the
 * OAuth 2.0 names where one applies: {@code invalid_grant}, {@code invalid_request}, {@code
 * invalid_token}) and a message a person can act on.
 */
public final class ApiException extends RuntimeException {
  private final int status;
  private final String error;
  private final long retryAfterSeconds;

  public ApiException(int status, String error, String message) {
    this(status, error, message, 0);
  }

  /**
   * A refusal that says when to try again: {@code retryAfterSeconds} (at least 1) as Retry-After.
   */
  public ApiException(int status, String error, String message, long retryAfterSeconds) {
    super(message, null, false, false);
    this.status = status;
    this.error = error;
    this.retryAfterSeconds = retryAfterSeconds;
  }

  public int status() {
    return status;
  }

  public String error() {
    return error;
  }

  /** Seconds to wait before trying again, for a Retry-After header; 0 when it does not say. */
  public long retryAfterSeconds() {
    return retryAfterSeconds;
  }
}
