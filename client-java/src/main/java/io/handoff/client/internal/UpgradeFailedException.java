package io.handoff.client.internal;

/**
 * The WebSocket upgrade did not succeed: the server answered with another status than 101 (a
 * refusal: {@link #status()} and, from its body, the server's {@link #reason()}), or with a 101
 * that is no valid RFC 6455 answer to the request (status 101, the problem in the message), or not
 * in time or not within {@link Handshake#MAX_RESPONSE_BYTES} (status 0). {@link ClosedBy} turns it
 * into a close code. A refusal may say when to try again ({@link #retryAfterMillis()}, from its
 * {@code Retry-After}).
 */
public final class UpgradeFailedException extends Exception {
  private static final long serialVersionUID = 1L;

  private final int status;
  private final String reason;
  private final long retryAfterMillis;

  /**
   * @param status the response's status code; 0 when no complete response was read
   * @param message what went wrong, for people
   * @param reason the server's own reason (a refusal's {@code message}), or null
   */
  public UpgradeFailedException(int status, String message, String reason) {
    this(status, message, reason, -1);
  }

  /**
   * As {@link #UpgradeFailedException(int, String, String)}, with the refusal's {@code Retry-After}
   * in milliseconds (-1 when it has none).
   */
  public UpgradeFailedException(int status, String message, String reason, long retryAfterMillis) {
    super(message, null, false, false);
    this.status = status;
    this.reason = reason;
    this.retryAfterMillis = retryAfterMillis;
  }

  /** The response's status code; 0 when no complete response was read. */
  public int status() {
    return status;
  }

  /** The server's reason for a refusal (from its body), or null. */
  public String reason() {
    return reason;
  }

  /**
   * How long the refusal asked the client to wait ({@code Retry-After} in seconds, here in
   * milliseconds), or -1 when it did not say (or said it as a date, which is not read).
   */
  public long retryAfterMillis() {
    return retryAfterMillis;
  }
}
