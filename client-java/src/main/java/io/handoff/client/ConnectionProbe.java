package io.handoff.client;

import io.handoff.client.internal.FrameChannel;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.Ping;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * A check of one welcomed connection, asked for by the app ({@link HandoffClient#checkConnection}):
 * a {@code Ping}, and a deadline by which the {@code Pong} carrying its nonce must have come back,
 * else the connection is given up as one that died unheard. Only that Pong answers: other frames
 * arriving meanwhile prove nothing of the round trip (deltas of other devices' writes still come
 * over a link whose other direction died, and frames the node sent before the network went, held by
 * the kernel while the process was frozen, come after the Ping), and they do not move the deadline
 * (docs/decisions.md). One unanswered check at a time. Each {@link Link} has one ({@link
 * Link#check}); the TypeScript client's {@code Link.probe} does the same. Event loop only.
 */
final class ConnectionProbe {
  /** The least time a check leaves its ping's answer, also with a heartbeat margin of 0. */
  static final long MIN_WAIT_NANOS = TimeUnit.SECONDS.toNanos(1);

  private final Scheduler scheduler;
  private Scheduler.Task deadline;
  // The nonce of the last check's Ping; each check of the connection sends the next one.
  private long nonce;
  private boolean failed;

  ConnectionProbe(Scheduler scheduler) {
    this.scheduler = scheduler;
  }

  /**
   * How long a check waits for an answer: the heartbeat margin, at least {@link #MIN_WAIT_NANOS}.
   */
  static long waitNanos(Duration heartbeatMargin) {
    return Math.max(heartbeatMargin.toNanos(), MIN_WAIT_NANOS);
  }

  /**
   * Sends a {@code Ping} on {@code channel} and runs {@code giveUp} if its {@code Pong} is not
   * {@link #answered} within {@code waitNanos}; nothing while a check is outstanding or after one
   * failed.
   */
  void start(FrameChannel channel, long waitNanos, Runnable giveUp) {
    if (deadline != null || failed) {
      return;
    }
    deadline =
        scheduler.schedule(
            () -> {
              deadline = null;
              failed = true;
              giveUp.run();
            },
            waitNanos);
    channel.send(ClientFrame.newBuilder().setPing(Ping.newBuilder().setNonce(++nonce)).build());
  }

  /**
   * A {@code Pong} came with {@code pongNonce}: if it answers the check waiting, the connection is
   * alive both ways and the check is over.
   */
  void answered(long pongNonce) {
    if (pongNonce == nonce) {
      stop();
    }
  }

  /** The connection ended: a check waiting is over. */
  void stop() {
    if (deadline != null) {
      deadline.cancel();
      deadline = null;
    }
  }

  /** Whether a check found the connection dead: the next attempt goes at once. */
  boolean failed() {
    return failed;
  }
}
