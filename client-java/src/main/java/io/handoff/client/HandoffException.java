package io.handoff.client;

import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.ErrorCode;

/**
 * Why a write, a connection or the client failed. Exactly one of {@link #errorCode()} (a server
 * Error frame, or a limit or check the client enforces itself) and {@link #closeCode()} (the
 * connection closed for good) is set, or neither when the client was closed by the application.
 *
 * <p>Errors that stop the client's connecting for good, like a terminal close code: a Hello the
 * server refused with an Error (e.g. {@code LIMIT_EXCEEDED} for a follow set over the server's
 * limit), and an access token this client cannot use (empty, holding a character an HTTP header
 * cannot carry, or for another user or device than the state the client holds: {@code 4502
 * UNAUTHORIZED}, raised by the client itself, as the TypeScript client does). The README's "What
 * the application sees" lists them all, the same for both clients.
 *
 * <p>Instances are immutable and safe to share between threads.
 */
public final class HandoffException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  private final ErrorCode errorCode;
  private final int closeCode;
  private final long currentVersion;
  private final long epoch;
  private final boolean retryable;
  private final String document;
  private final boolean mayHaveBeenApplied;
  private final String apiError;
  // Made from a server Error frame, not by the client itself (see fromServer()).
  private final boolean fromServer;

  private HandoffException(
      String message,
      Throwable cause,
      ErrorCode errorCode,
      int closeCode,
      long currentVersion,
      long epoch,
      boolean retryable,
      String document) {
    this(
        message,
        cause,
        errorCode,
        closeCode,
        currentVersion,
        epoch,
        retryable,
        document,
        false,
        null,
        false);
  }

  private HandoffException(
      String message,
      Throwable cause,
      ErrorCode errorCode,
      int closeCode,
      long currentVersion,
      long epoch,
      boolean retryable,
      String document,
      boolean mayHaveBeenApplied,
      String apiError,
      boolean fromServer) {
    super(message, cause);
    this.apiError = apiError;
    this.fromServer = fromServer;
    this.errorCode = errorCode;
    this.closeCode = closeCode;
    this.currentVersion = currentVersion;
    this.epoch = epoch;
    this.retryable = retryable;
    this.document = document;
    this.mayHaveBeenApplied = mayHaveBeenApplied;
  }

  /**
   * The server's error code, or the one the client gives a refusal of its own that the protocol has
   * a code for ({@code LIMIT_EXCEEDED} for a limit it enforces before sending, {@code
   * OUTCOME_UNKNOWN} for an offer whose result never came); {@code null} otherwise (a close, the
   * client closed, a request without an answer). The README's "What the application sees" lists
   * them, the same for both clients.
   */
  public ErrorCode errorCode() {
    return errorCode;
  }

  /** The WebSocket close code that ended the connection, or 0 when this is not a close. */
  public int closeCode() {
    return closeCode;
  }

  /** For {@link ErrorCode#CONFLICT}: the version the document is at; 0 otherwise. */
  public long currentVersion() {
    return currentVersion;
  }

  /** For errors about a document: the epoch of its history the server reported; 0 otherwise. */
  public long epoch() {
    return epoch;
  }

  /** Whether repeating the same request later may succeed. */
  public boolean retryable() {
    return retryable;
  }

  /** The document the error concerns, or {@code null}. */
  public String document() {
    return document;
  }

  /**
   * For a failed write: {@code true} when the write had been sent and the client gave up on it
   * before learning its fate (the connection closed for good, the client was closed, the server no
   * longer remembered a re-sent write's number: {@code STALE_SEQUENCE}, or refused it with no
   * record of the device's earlier writes: {@code Error.no_write_record}, or the node it
   * reconnected to takes no frame that large: {@code LIMIT_EXCEEDED}), so it may or may not have
   * been applied; {@code false} when it certainly was not (the server refused it, or it was never
   * sent).
   */
  public boolean mayHaveBeenApplied() {
    return mayHaveBeenApplied;
  }

  /**
   * For an answer of the HTTP API ({@link DeviceSignIn}): its {@code error} name, e.g. {@code
   * access_denied}, {@code expired_token} or {@code invalid_grant} (docs/security.md lists them);
   * {@code null} for every other error.
   */
  public String apiError() {
    return apiError;
  }

  /**
   * Whether the server sent this error (an Error frame), rather than the client raising it itself:
   * the client's own limits carry the server's numbers too ({@code LIMIT_EXCEEDED}), so {@link
   * #errorCode()} alone does not tell whether a request reached the server.
   */
  boolean fromServer() {
    return fromServer;
  }

  /** The same error for a write that had been sent: its fate is unknown. */
  HandoffException withOutcomeUnknown() {
    return new HandoffException(
        getMessage() + "; the write had been sent and may or may not have been applied",
        getCause(),
        errorCode,
        closeCode,
        currentVersion,
        epoch,
        retryable,
        document,
        true,
        apiError,
        fromServer);
  }

  /** From a server Error frame. {@code fallbackDocument} is used when the frame names none. */
  static HandoffException fromError(io.handoff.protocol.v1.Error error, String fallbackDocument) {
    return fromError(error, fallbackDocument, "");
  }

  /** From the server's Error answering the Hello: the server will not open this session. */
  static HandoffException helloRefused(io.handoff.protocol.v1.Error error) {
    return fromError(error, null, "the server refused the Hello: ");
  }

  private static HandoffException fromError(
      io.handoff.protocol.v1.Error error, String fallbackDocument, String prefix) {
    String doc = error.getDocument().isEmpty() ? fallbackDocument : error.getDocument();
    StringBuilder message = new StringBuilder(prefix).append(error.getCode());
    if (doc != null) {
      message.append(" on document '").append(doc).append('\'');
    }
    if (error.getClientSeq() != 0) {
      message.append(" (write #").append(error.getClientSeq()).append(')');
    }
    if (!error.getMessage().isEmpty()) {
      message.append(": ").append(error.getMessage());
    } else if (error.getCode() == ErrorCode.CONFLICT) {
      message.append(": document is at version ").append(error.getCurrentVersion());
    }
    return new HandoffException(
        message.toString(),
        null,
        error.getCode(),
        0,
        error.getCurrentVersion(),
        error.getEpoch(),
        error.getRetryable(),
        doc,
        false,
        null,
        true);
  }

  /** The connection closed with a code that says "do not reconnect". */
  static HandoffException closed(int closeCode, String reason, Throwable cause) {
    CloseCode known = CloseCode.of(closeCode);
    StringBuilder message =
        new StringBuilder("connection closed for good with code ").append(closeCode);
    if (known != null) {
      message.append(" (").append(known.name()).append(')');
    }
    if (reason != null && !reason.isEmpty()) {
      message.append(": ").append(reason);
    } else if (known != null) {
      message.append(": ").append(known.reason());
    }
    return new HandoffException(message.toString(), cause, null, closeCode, 0, 0, false, null);
  }

  /** The application closed the client. */
  static HandoffException clientClosed() {
    return new HandoffException("the client was closed", null, null, 0, 0, 0, false, null);
  }

  /**
   * The application closed the client while a request waited for its answer: it may or may not have
   * been applied, and sending it again cannot succeed on this client.
   */
  static HandoffException clientClosedUnanswered() {
    return new HandoffException(
        "the client was closed; the request had been sent and may or may not have been applied",
        null,
        null,
        0,
        0,
        0,
        false,
        null,
        true,
        null,
        false);
  }

  /** A limit the client enforces itself, before anything reaches the server. */
  static HandoffException limit(String document, String message) {
    return new HandoffException(message, null, ErrorCode.LIMIT_EXCEEDED, 0, 0, 0, false, document);
  }

  /**
   * Something ended and this client cannot learn how (an offer whose result never came): {@link
   * ErrorCode#OUTCOME_UNKNOWN}, as the TypeScript client names it, not retryable.
   */
  static HandoffException outcomeUnknown(String message) {
    return new HandoffException(message, null, ErrorCode.OUTCOME_UNKNOWN, 0, 0, 0, false, null);
  }

  /**
   * The HTTP API refused a request with {@code error} (its {@code error} member); {@code retryable}
   * when the same request may succeed later (the store was unavailable, a rate).
   */
  static HandoffException api(String error, String message, boolean retryable) {
    return new HandoffException(message, null, null, 0, 0, 0, retryable, null, false, error, false);
  }

  /**
   * A request was sent and its connection ended before the answer: it may or may not have been
   * applied ({@link #mayHaveBeenApplied()}), and sending it again may succeed.
   */
  static HandoffException unanswered(String message) {
    return new HandoffException(message, null, null, 0, 0, 0, true, null, true, null, false);
  }

  /** Something went wrong locally (e.g. the token supplier threw). */
  static HandoffException local(String message, Throwable cause) {
    return new HandoffException(message, cause, null, 0, 0, 0, true, null);
  }
}
