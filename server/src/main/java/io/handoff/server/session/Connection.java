package io.handoff.server.session;

import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.Error;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.ServerFrame;
import java.time.Clock;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;

/**
 * All a feature (documents, handoff, devices) may do with the connection it serves: push frames
 * (through the connection's one bounded outbox), answer a request with an error, run code on the
 * connection's event loop now or later, read the node's clock, and close. Features never see the
 * channel, the pipeline or each other.
 *
 * <p>Threads: {@link #execute}, {@link #userId()}, {@link #deviceId()} and {@link #nanoTime()} may
 * be called from any thread; everything else on the connection's event loop only.
 */
public interface Connection {
  String userId();

  String deviceId();

  /**
   * Sends a frame the device did not ask for (an offer prompt, a presence update, a token notice),
   * behind everything sent before it; no flush. While the device does not read, pushes wait in the
   * connection's outbox, and past its bound the connection is closed with SLOW_CONSUMER.
   */
  void push(ServerFrame frame);

  /** Sends an answer to one of the device's requests, in order with pushes; no flush. */
  void reply(ServerFrame frame);

  /** As {@link #reply}, for a ServerFrame already encoded (a delta, encoded once for all). */
  void replyEncoded(byte[] frame);

  /** Sends what was pushed. */
  void flush();

  /**
   * True while frames sent to the device wait for the socket (it does not read as fast as they
   * come): what is sent now waits behind them. The session's {@code writable} hook runs once the
   * socket takes frames again.
   */
  boolean backedUp();

  /** Answers request {@code requestId} with an Error. */
  default void error(long requestId, ErrorCode code, String message, boolean retryable) {
    error(
        requestId,
        Error.newBuilder().setCode(code).setMessage(message).setRetryable(retryable).build());
  }

  /** Answers request {@code requestId} with {@code error}. */
  void error(long requestId, Error error);

  /** Runs {@code action} on the event loop when {@code f} completes, unless the session closed. */
  <T> void onLoop(CompletableFuture<T> f, BiConsumer<T, Throwable> action);

  /** Runs {@code task} on the event loop. Any thread. */
  void execute(Runnable task);

  /** Runs {@code task} on the event loop after {@code delay} of the node's time. */
  Future<?> schedule(Runnable task, long delay, TimeUnit unit);

  /**
   * Arms {@code d} to run on the event loop after {@code delay} of the node's time, replacing its
   * earlier time if it was armed. As {@link #schedule}, through the loop's one shared timer: for
   * timers a connection holds for long (see {@link Deadline}).
   */
  void arm(Deadline d, long delay, TimeUnit unit);

  /** Disarms {@code d} if it is armed. */
  void disarm(Deadline d);

  /** The device's IP address as text, made on each call (an idle connection keeps no copy). */
  String remoteAddress();

  /** The node's wall clock. */
  Clock clock();

  /** The node's monotonic time in nanoseconds, for rate limits and deadlines. Any thread. */
  long nanoTime();

  /** True until the session starts closing. */
  boolean active();

  /** Closes the connection with {@code code}; idempotent. */
  void close(CloseCode code, String reason);
}
