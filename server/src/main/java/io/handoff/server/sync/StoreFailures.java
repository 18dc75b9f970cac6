package io.handoff.server.sync;

import io.handoff.protocol.v1.ErrorCode;

/**
 * What a device is told when {@link DocumentStore#write} fails: UNAVAILABLE ("not applied") only
 * when the store said the write certainly did not run ({@link StoreUnavailableException});
 * OUTCOME_UNKNOWN for anything else, because then it may have run.
 */
public final class StoreFailures {
  private StoreFailures() {}

  /** The error code for a write that failed with {@code failure}. */
  public static ErrorCode code(Throwable failure) {
    for (Throwable t = failure; t != null; t = t.getCause()) {
      if (t instanceof PredecessorNotAppliedException) {
        return ErrorCode.PREDECESSOR_NOT_APPLIED;
      }
      if (t instanceof StoreUnavailableException) {
        return ErrorCode.UNAVAILABLE;
      }
      if (t instanceof OutcomeUnknownException) {
        return ErrorCode.OUTCOME_UNKNOWN;
      }
    }
    return ErrorCode.OUTCOME_UNKNOWN;
  }

  /**
   * The message for a device about {@code failure}: the failure's own words when it is about the
   * write (its predecessor, unconfirmed replicas), else {@link #message(ErrorCode)}.
   */
  public static String message(Throwable failure) {
    for (Throwable t = failure; t != null; t = t.getCause()) {
      if (t instanceof PredecessorNotAppliedException
          || (t instanceof OutcomeUnknownException u && u.forDevice())) {
        return t.getMessage();
      }
    }
    return message(code(failure));
  }

  /** The message for a device, for {@link #code}'s answer. */
  public static String message(ErrorCode code) {
    return code == ErrorCode.UNAVAILABLE
        ? "the store could not be reached; the write was not applied, re-send it"
        : "the store did not answer in time; the write may or may not have been applied:"
            + " re-send it with the same client_seq (it is applied at most once)";
  }

  /** The innermost cause of {@code t}, for a log line. */
  static String root(Throwable t) {
    while (t.getCause() != null) {
      t = t.getCause();
    }
    return t.toString();
  }
}
