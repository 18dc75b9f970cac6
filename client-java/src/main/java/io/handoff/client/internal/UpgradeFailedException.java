package io.handoff.client.internal;

/**
 * The WebSocket upgrade did not succeed: the server answered with another status than 101 (a
 * refusal: {@link #status()} and, from its body, the server's {@link #reason()}), or with a 101
 * that is no valid RFC 6455 answer to the request (status 101, the problem in the message), or not
 * in time or not within {@link Handshake#MAX_RESPONSE_BYTES} (status 0). {@link ClosedBy} turns it
 * into a close code.
 */
public final class UpgradeFailedException extends Exception {
  private static final long serialVersionUID = 1L;

  private final int status;
  private final String reason;

  /**
   * @param status the response's status code; 0 when no complete response was read
   * @param message what went wrong, for people
   * @param reason the server's own reason (a refusal's {@code message}), or null
   */
  public UpgradeFailedException(int status, String message, String reason) {
    super(message, null, false, false);
    this.status = status;
    this.reason = reason;
  }

  /** The response's status code; 0 when no complete response was read. */
  public int status() {
    return status;
  }

  /** The server's reason for a refusal (from its body), or null. */
  public String reason() {
    return reason;
  }
}
