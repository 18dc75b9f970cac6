package io.handoff.server.sync;

/**
 * The command was sent to the store but its answer never came (a timeout, or the connection was
 * lost after sending): it may or may not have run. A write that failed with it is reported as
 * OUTCOME_UNKNOWN; re-sending it with the same client_seq is safe because writes are idempotent.
 */
public final class OutcomeUnknownException extends RuntimeException {
  private final boolean forDevice;
  private final boolean timedOut;

  public OutcomeUnknownException(String message, Throwable cause) {
    this(message, cause, false, false);
  }

  private OutcomeUnknownException(
      String message, Throwable cause, boolean forDevice, boolean timedOut) {
    super(message, cause);
    this.forDevice = forDevice;
    this.timedOut = timedOut;
  }

  /**
   * The command was sent and its answer did not come in time, the connection still open: the store
   * may hold it queued and run it later (a paused Redis runs what it holds when it resumes).
   */
  public static OutcomeUnknownException timedOut(String message, Throwable cause) {
    return new OutcomeUnknownException(message, cause, false, true);
  }

  /** True when made by {@link #timedOut}: the command may still be queued in the store. */
  public boolean isTimedOut() {
    return timedOut;
  }

  /**
   * The write was applied but replicas did not confirm it in time (durable acks): its survival of a
   * failover is unknown. {@code message} is told to the device as it is.
   */
  public static OutcomeUnknownException unconfirmed(String message, Throwable cause) {
    return new OutcomeUnknownException(message, cause, true, false);
  }

  /** No answer from the store within {@code deadline}: whether the write ran is unknown. */
  static OutcomeUnknownException noAnswer(java.time.Duration deadline) {
    return new OutcomeUnknownException(
        "the store gave no answer within "
            + deadline.toMillis()
            + " ms; the write may or may not have been applied: re-send it with the same"
            + " client_seq (it is applied at most once)",
        null,
        true,
        false);
  }

  /** True when {@link #getMessage()} is meant for the device. */
  boolean forDevice() {
    return forDevice;
  }
}
