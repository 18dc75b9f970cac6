package io.handoff.server.sync;

/**
 * The command was sent to the store but its answer never came (a timeout, or the connection was
 * lost after sending): it may or may not have run. A write that failed with it is reported as
 * OUTCOME_UNKNOWN; re-sending it with the same client_seq is safe because writes are idempotent.
 */
public final class OutcomeUnknownException extends RuntimeException {
  public OutcomeUnknownException(String message, Throwable cause) {
    super(message, cause);
  }
}
