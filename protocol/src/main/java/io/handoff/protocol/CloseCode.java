package io.handoff.protocol;

/**
 * The one table of WebSocket close codes used by the Handoff server and clients.
 *
 * <p>Codes 4000-4499 mean "reconnect": the condition is temporary (the node is draining, the device
 * read too slowly, the token needs a refresh) and the client reconnects with backoff and resumes.
 * Codes 4500-4999 are terminal: reconnecting with the same credentials and the same behaviour would
 * fail again, so the client stops and reports the code to the application. Every other code (the
 * standard ones a proxy or the network closes with) means reconnect too. Every code is documented
 * in {@code docs/protocol.md}.
 */
public enum CloseCode {
  /** The node is shutting down or draining; reconnect, ideally to another node. */
  SHUTDOWN(4000, "server shutting down, reconnect elsewhere"),
  /** The device did not read fast enough and its outbound queue hit its bound. */
  SLOW_CONSUMER(4001, "outbound queue full, device reads too slowly"),
  /** Nothing was received for two heartbeat intervals. */
  IDLE_TIMEOUT(4002, "no frame or pong received within the idle timeout"),
  /** The access token expired; reconnect with a fresh token. */
  TOKEN_EXPIRED(4003, "access token expired"),
  /** An unexpected server fault; reconnect and resume. */
  INTERNAL_ERROR(4004, "internal server error"),
  /** The store behind the node is unavailable; reconnect later. */
  UNAVAILABLE(4005, "server temporarily unavailable"),

  /** A frame could not be decoded, was not binary, or broke the protocol's order. */
  PROTOCOL_ERROR(4500, "protocol error"),
  /** A frame was larger than the server's limit. */
  FRAME_TOO_LARGE(4501, "frame too large"),
  /** The credentials are not (or no longer) accepted. */
  UNAUTHORIZED(4502, "unauthorized"),
  /** The device session was revoked. */
  SESSION_REVOKED(4503, "device session revoked"),
  /** Another connection of the same device replaced this one. */
  REPLACED(4504, "replaced by a newer connection of the same device"),
  /** A policy limit (connections per user, devices per user) refused the connection. */
  POLICY_VIOLATION(4505, "policy limit reached");

  /** First code of the "reconnect" range. */
  public static final int RECONNECT_MIN = 4000;

  /** First code of the "terminal" range. */
  public static final int TERMINAL_MIN = 4500;

  /** Last code of the application range. */
  public static final int MAX = 4999;

  private final int code;
  private final String reason;

  CloseCode(int code, String reason) {
    this.code = code;
    this.reason = reason;
  }

  /** The WebSocket close status code. */
  public int code() {
    return code;
  }

  /** A default reason phrase, short enough for a close frame. */
  public String reason() {
    return reason;
  }

  /** Whether a client should reconnect (with backoff) after this code. */
  public boolean reconnect() {
    return isReconnect(code);
  }

  /**
   * Whether a client should reconnect after the given close code: every code but Handoff's terminal
   * range (4500-4999) says yes. A Handoff node closes only with its own codes (after a {@code
   * Disconnect} of the same code), so a standard code (1000 normal closure, 1001 going away, 1005
   * no status, 1006 abnormal closure, ...) or any other comes from something between the device and
   * the node (a proxy reloading, a load balancer's idle timeout, the network) and says nothing
   * about whether the node would take the device back: only the node's terminal codes stop a
   * client.
   */
  public static boolean isReconnect(int code) {
    return !isTerminal(code);
  }

  /** Whether the given close code is in Handoff's terminal range (4500-4999). */
  public static boolean isTerminal(int code) {
    return code >= TERMINAL_MIN && code <= MAX;
  }

  /** Whether the given close code is one of Handoff's range (4000-4999), known or not. */
  public static boolean isHandoffCode(int code) {
    return code >= RECONNECT_MIN && code <= MAX;
  }

  /** The code with this number, or {@code null} if it is not one of Handoff's. */
  public static CloseCode of(int code) {
    for (CloseCode c : values()) {
      if (c.code == code) {
        return c;
      }
    }
    return null;
  }
}
