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
  private final String allow;

  public ApiException(int status, String error, String message) {
    this(status, error, message, 0);
  }

  /**
   * A refusal that says when to try again: {@code retryAfterSeconds} (at least 1) as Retry-After.
   */
  public ApiException(int status, String error, String message, long retryAfterSeconds) {
    this(status, error, message, retryAfterSeconds, null);
  }

  private ApiException(
      int status, String error, String message, long retryAfterSeconds, String allow) {
    super(message, null, false, false);
    this.status = status;
    this.error = error;
    this.retryAfterSeconds = retryAfterSeconds;
    this.allow = allow;
  }

  /**
   * 405 {@code method_not_allowed} for {@code method} on a path that takes only {@code allowed}:
   * the message names them, and they go out as the Allow header (RFC 9110 section 15.5.6).
   */
  public static ApiException methodNotAllowed(String method, String... allowed) {
    String list = String.join(", ", allowed);
    return new ApiException(
        405,
        "method_not_allowed",
        "this path takes " + String.join(" or ", allowed) + ", not " + method,
        0,
        list);
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

  /** The methods the path takes, for an Allow header (a 405); null otherwise. */
  public String allow() {
    return allow;
  }
}
