import { ErrorCode, type Error as ErrorFrame } from "./gen/handoff/v1/handoff_pb.js";

/**
 * What went wrong, as a name: the server's error code on the socket (`CONFLICT`, `OFFER_WITHDRAWN`,
 * ...), the `error` of the HTTP API in its own lower case (`access_denied`, `expired_token`, ...;
 * from {@link DeviceSignIn}), or one of the client's own (`CLIENT_CLOSED`, `CLOSED`,
 * `NOT_CONNECTED`, `CONNECTION_LOST`, `INVALID_ARGUMENT`, `STORE_FAILED` for its offline store).
 */
export type HandoffErrorCode = keyof typeof ErrorCode | "OUTCOME_UNKNOWN" | ClientErrorCode | ApiErrorCode;

/**
 * The `error` member of the server's HTTP API (docs/security.md, "Codes"); the RFC 8628 ones end a
 * device-code poll. `http_error` stands for an answer without a known one (its `status` says more).
 */
export type ApiErrorCode =
  | "invalid_request"
  | "unsupported_grant_type"
  | "invalid_grant"
  | "invalid_token"
  | "unknown_device"
  | "sign_in_disabled"
  | "not_found"
  | "method_not_allowed"
  | "device_limit"
  | "access_denied"
  | "expired_token"
  | "unknown_code"
  | "approval_ended"
  | "too_many_attempts"
  | "too_many_pending"
  | "rate_limited"
  | "body_too_large"
  | "unavailable"
  | "http_error";

export const API_ERROR_CODES: ReadonlySet<string> = new Set<ApiErrorCode>([
  "invalid_request",
  "unsupported_grant_type",
  "invalid_grant",
  "invalid_token",
  "unknown_device",
  "sign_in_disabled",
  "not_found",
  "method_not_allowed",
  "device_limit",
  "access_denied",
  "expired_token",
  "unknown_code",
  "approval_ended",
  "too_many_attempts",
  "too_many_pending",
  "rate_limited",
  "body_too_large",
  "unavailable",
]);

export type ClientErrorCode =
  | "CLIENT_CLOSED"
  | "CLOSED"
  | "NOT_CONNECTED"
  | "CONNECTION_LOST"
  | "INVALID_ARGUMENT"
  | "UNEXPECTED_ANSWER"
  | "STORE_FAILED";

/**
 * The protocol's close codes (`io.handoff.protocol.CloseCode`, docs/protocol.md "Close codes"): name
 * and default reason, the same words the Java client reports.
 */
export const CLOSE_CODES: Readonly<Record<number, readonly [string, string]>> = {
  4000: ["SHUTDOWN", "server shutting down, reconnect elsewhere"],
  4001: ["SLOW_CONSUMER", "outbound queue full, device reads too slowly"],
  4002: ["IDLE_TIMEOUT", "no frame or pong received within the idle timeout"],
  4003: ["TOKEN_EXPIRED", "access token expired"],
  4004: ["INTERNAL_ERROR", "internal server error"],
  4005: ["UNAVAILABLE", "server temporarily unavailable"],
  4500: ["PROTOCOL_ERROR", "protocol error"],
  4501: ["FRAME_TOO_LARGE", "frame too large"],
  4502: ["UNAUTHORIZED", "unauthorized"],
  4503: ["SESSION_REVOKED", "device session revoked"],
  4504: ["REPLACED", "replaced by a newer connection of the same device"],
  4505: ["POLICY_VIOLATION", "policy limit reached"],
};

/**
 * The errors made from a server Error frame, as against the client's own (whose limits carry the
 * server's numbers too, `LIMIT_EXCEEDED`): see {@link fromServer}.
 */
const FROM_SERVER = new WeakSet<HandoffError>();

/** Whether the server sent `e` (an Error frame), rather than the client raising it itself. */
export function fromServer(e: unknown): boolean {
  return e instanceof HandoffError && FROM_SERVER.has(e);
}

/** Error code 10 (reliability range): the server cannot say whether the write was applied. */
export const OUTCOME_UNKNOWN = 10;

/**
 * An error from the server (an Error frame) or from the client itself. `code` names it; for
 * `CONFLICT` and `OUT_OF_ORDER`, `currentVersion` and `epoch` say where the document is.
 */
export class HandoffError extends Error {
  readonly code: HandoffErrorCode;
  /**
   * The numeric ErrorCode of a server error, or of a refusal of the client's own that the protocol has
   * a code for (`LIMIT_EXCEEDED` for a limit it enforces before sending, `OUTCOME_UNKNOWN` for an
   * offer whose result never came), as in the Java client; undefined for the client's other errors.
   */
  readonly errorCode?: number;
  readonly document?: string;
  readonly currentVersion?: bigint;
  readonly epoch?: bigint;
  /** The WebSocket close code when the connection ended for good (`CLOSED`). */
  readonly closeCode?: number;
  /** The HTTP status of an error of the HTTP API. */
  readonly status?: number;
  /**
   * For a write the client gave up on: true when it had been sent (or may have been) and so may have
   * been applied although no Ack came (the connection closed for good, the client was closed, or the
   * server no longer remembers a re-sent number). False: it certainly was not.
   */
  readonly mayHaveBeenApplied: boolean;
  /** For a server error: whether the server said the same request may succeed later. */
  readonly retryable: boolean;

  constructor(
    code: HandoffErrorCode,
    message: string,
    extra: {
      errorCode?: number;
      document?: string;
      currentVersion?: bigint;
      epoch?: bigint;
      closeCode?: number;
      status?: number;
      mayHaveBeenApplied?: boolean;
      retryable?: boolean;
    } = {},
  ) {
    super(message);
    this.name = "HandoffError";
    this.code = code;
    this.errorCode = extra.errorCode;
    this.document = extra.document;
    this.currentVersion = extra.currentVersion;
    this.epoch = extra.epoch;
    this.closeCode = extra.closeCode;
    this.status = extra.status;
    this.mayHaveBeenApplied = extra.mayHaveBeenApplied ?? false;
    this.retryable = extra.retryable ?? false;
  }

  /** The same error, for a write that may have been applied. */
  withOutcomeUnknown(): HandoffError {
    const copy = new HandoffError(this.code, `${this.message}; the write had been sent and may or may not have been applied`, {
      errorCode: this.errorCode,
      document: this.document,
      currentVersion: this.currentVersion,
      epoch: this.epoch,
      closeCode: this.closeCode,
      status: this.status,
      mayHaveBeenApplied: true,
      retryable: this.retryable,
    });
    if (FROM_SERVER.has(this)) FROM_SERVER.add(copy);
    return copy;
  }

  /**
   * From a server Error frame. The message reads as the Java client's: `CODE on document 'd' (write
   * #n): the server's message` (`prefix` first, e.g. for a refused Hello).
   */
  static fromFrame(e: ErrorFrame, document?: string, prefix = ""): HandoffError {
    const name =
      (e.code as number) === OUTCOME_UNKNOWN
        ? "OUTCOME_UNKNOWN"
        : ((ErrorCode[e.code] as keyof typeof ErrorCode | undefined) ?? "ERROR_CODE_UNSPECIFIED");
    const doc = e.document || document;
    let message = `${prefix}${name}`;
    if (doc) message += ` on document '${doc}'`;
    if (e.clientSeq !== 0n) message += ` (write #${e.clientSeq})`;
    if (e.message) message += `: ${e.message}`;
    else if (e.code === ErrorCode.CONFLICT) message += `: document is at version ${e.currentVersion}`;
    const error = new HandoffError(name, message, {
      errorCode: e.code,
      document: doc || undefined,
      currentVersion:
        e.code === ErrorCode.CONFLICT || e.code === ErrorCode.OUT_OF_ORDER ? e.currentVersion : undefined,
      epoch: e.epoch === 0n ? undefined : e.epoch,
      retryable: e.retryable,
    });
    FROM_SERVER.add(error);
    return error;
  }

  /**
   * A limit the client enforces itself, before anything reaches the server: `LIMIT_EXCEEDED` with its
   * number (4), as the server would answer, as the Java client reports it.
   */
  static limit(message: string, document?: string): HandoffError {
    return new HandoffError("LIMIT_EXCEEDED", message, { errorCode: ErrorCode.LIMIT_EXCEEDED, document });
  }

  /**
   * The connection ended for good with a terminal `closeCode` (or the client stopped by itself and
   * reports it under one). The message reads as the Java client's: `connection closed for good with
   * code 4503 (SESSION_REVOKED): reason`, the protocol's default reason when none was given.
   */
  static closed(closeCode: number, reason: string): HandoffError {
    const known = CLOSE_CODES[closeCode];
    let message = `connection closed for good with code ${closeCode}`;
    if (known) message += ` (${known[0]})`;
    if (reason) message += `: ${reason}`;
    else if (known) message += `: ${known[1]}`;
    return new HandoffError("CLOSED", message, { closeCode });
  }

  static clientClosed(): HandoffError {
    return new HandoffError("CLIENT_CLOSED", "the client was closed");
  }

  /**
   * The application closed the client while a request waited for its answer: it may or may not have
   * been applied, and sending it again cannot succeed on this client.
   */
  static clientClosedUnanswered(): HandoffError {
    return new HandoffError(
      "CLIENT_CLOSED",
      "the client was closed; the request had been sent and may or may not have been applied",
      { mayHaveBeenApplied: true },
    );
  }
}
