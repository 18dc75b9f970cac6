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
 * be called from any thread, {@link #instance()} too once the resume was sent; everything else on
 * the connection's event loop only.
 */
public interface Connection {
  String userId();

  String deviceId();

  /** Its Hello's instance (0 if it carried none), set before the resume. */
  long instance();

  /**
   * Sends a frame the device did not ask for (an offer prompt, a presence update, a token notice),
   * behind everything sent before it; no flush. While the device does not read, pushes wait in the
   * connection's outbox, and past its bound the connection is closed with SLOW_CONSUMER.
   */
  void push(ServerFrame frame);

  /**
   * Sends an answer to one of the device's requests (an ack, an error, a Pong, a device list, an
   * offer's answer, the Welcome), in order with pushes; no flush. While the device does not read,
   * answers wait in the connection's outbox and count toward its bound (bytes and frames) as pushes
   * do: a device that keeps asking and never reads is closed with SLOW_CONSUMER like one that never
   * reads its pushes.
   */
  void reply(ServerFrame frame);

  /** As {@link #reply}, for a ServerFrame already encoded (an ack, a live delta). */
  void replyEncoded(byte[] frame);

  /**
   * Sends a frame of a document sync, in order with everything else; no flush: the SyncReport that
   * answers a Follow or Resync with documents to bring, and the snapshots and deltas a resume, a
   * Follow, a Resync or a catch-up read brings. While the device does not read, these wait in the
   * outbox and count toward the node's queue budget, but not toward the connection's own bound:
   * what a sync sends is bounded by the user's documents, not by how often the device asks (one
   * Follow or Resync is read at a time, once the socket took the frames before it), and a device
   * whose documents outgrow the bound must still be able to resume.
   */
  void sync(ServerFrame frame);

  /** As {@link #sync}, for a ServerFrame already encoded (a delta, encoded once for all). */
  void syncEncoded(byte[] frame);

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

  /**
   * As {@link #close(CloseCode, String)}; with REPLACED, {@code replacedBy} is the Hello instance
   * of the connection that took over (0: not known), which the device is told.
   */
  void close(CloseCode code, String reason, long replacedBy);
}
