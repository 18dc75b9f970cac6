package io.handoff.server.sync;

/**
 * The store certainly did not run the command: it could not be reached before sending, or it
 * answered with an error. A write that failed with it was not applied.
 */
public final class StoreUnavailableException extends RuntimeException {
  public StoreUnavailableException(String message, Throwable cause) {
    super(message, cause);
  }
}
