import { ErrorCode, type Error as ErrorFrame } from "./gen/handoff/v1/handoff_pb.js";

/**
 * What went wrong, as a name: the server's error code on the socket (`CONFLICT`, `OFFER_WITHDRAWN`,
 * ...), the `error` of the HTTP API in its own lower case (`access_denied`, `expired_token`, ...;
 * from {@link DeviceSignIn}), or one of the client's own (`CLIENT_CLOSED`, `CLOSED`,
 * `NOT_CONNECTED`, `CONNECTION_LOST`, `INVALID_ARGUMENT`).
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
  | "UNEXPECTED_ANSWER";

/** Error code 10 (reliability range): the server cannot say whether the write was applied. */
export const OUTCOME_UNKNOWN = 10;

/**
 * An error from the server (an Error frame) or from the client itself. `code` names it; for
 * `CONFLICT` and `OUT_OF_ORDER`, `currentVersion` and `epoch` say where the document is.
 */
export class HandoffError extends Error {
  readonly code: HandoffErrorCode;
  /** The numeric ErrorCode of a server error; undefined for the client's own errors. */
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
    return new HandoffError(this.code, `${this.message} (the write had been sent and may have been applied)`, {
      errorCode: this.errorCode,
      document: this.document,
      currentVersion: this.currentVersion,
      epoch: this.epoch,
      closeCode: this.closeCode,
      status: this.status,
      mayHaveBeenApplied: true,
      retryable: this.retryable,
    });
  }

  /** From a server Error frame. */
  static fromFrame(e: ErrorFrame, document?: string): HandoffError {
    const name =
      (e.code as number) === OUTCOME_UNKNOWN
        ? "OUTCOME_UNKNOWN"
        : ((ErrorCode[e.code] as keyof typeof ErrorCode | undefined) ?? "ERROR_CODE_UNSPECIFIED");
    const doc = e.document || document;
    return new HandoffError(name, `${name}: ${e.message}`, {
      errorCode: e.code,
      document: doc || undefined,
      currentVersion:
        e.code === ErrorCode.CONFLICT || e.code === ErrorCode.OUT_OF_ORDER ? e.currentVersion : undefined,
      epoch: e.epoch === 0n ? undefined : e.epoch,
      retryable: e.retryable,
    });
  }

  static clientClosed(): HandoffError {
    return new HandoffError("CLIENT_CLOSED", "the client was closed");
  }
}
