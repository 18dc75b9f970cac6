package io.handoff.client;

/**
 * Runs a task later on the client's event loop. Production uses the Netty event loop; tests use a
 * manual clock so backoff and retries are tested without sleeping.
 */
interface Scheduler {

  /** A scheduled task that can be cancelled. */
  interface Task {
    void cancel();
  }

  Task schedule(Runnable task, long delayNanos);
}
