package io.handoff.client.internal;

import io.handoff.protocol.v1.ClientFrame;
import io.netty.channel.EventLoop;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Function;

/**
 * A connection attempt that first waits for an access token from an asynchronous source, then
 * connects with it. Until then it is a channel that cannot be written to (nothing writes before
 * {@link FrameListener#onOpen}). The wait is bounded by the connect timeout: a token source that
 * does not answer in time, or fails, ends the attempt with 1006, so the caller retries with
 * backoff; {@link #abort()} ends it the same way, and {@link #close()} with 1000. A token that
 * comes after the attempt ended is ignored. Event loop only, except that the token may complete on
 * any thread (it hops onto the loop).
 *
 * <p>The connection it starts reports to the same listener, so the Hello of its upgrade request
 * ({@link FrameListener#hello}) is asked when that connection's TCP is connected, after the token
 * came: the wait for the token never sends a Hello built before it.
 */
public final class DeferredFrameChannel implements FrameChannel {
  private final EventLoop loop;
  private final FrameListener listener;
  private FrameChannel delegate;
  // The attempt ended before a connection was started (its onClose is reported, or about to be).
  private boolean ended;
  private io.netty.util.concurrent.Future<?> timer;
  private long readTimeoutMillis = -1;

  private DeferredFrameChannel(EventLoop loop, FrameListener listener) {
    this.loop = loop;
    this.listener = listener;
  }

  /**
   * Starts an attempt that connects through {@code connect} once {@code token} completes; the
   * outcome is reported to {@code listener} as for any attempt. Call on {@code loop}.
   *
   * @param timeoutMillis how long to wait for the token (0: no limit); the connection then has its
   *     own timeouts
   */
  public static FrameChannel connect(
      CompletionStage<String> token,
      EventLoop loop,
      long timeoutMillis,
      Function<String, FrameChannel> connect,
      FrameListener listener) {
    DeferredFrameChannel d = new DeferredFrameChannel(loop, listener);
    if (timeoutMillis > 0) {
      d.timer =
          loop.schedule(
              () ->
                  d.end(
                      ClosedBy.ABNORMAL_CLOSURE,
                      "no access token from the token source within " + timeoutMillis + " ms",
                      new TimeoutException(
                          "token source timed out after " + timeoutMillis + " ms")),
              timeoutMillis,
              TimeUnit.MILLISECONDS);
    }
    token.whenComplete(
        (t, err) -> {
          try {
            loop.execute(() -> d.start(t, err, connect));
          } catch (RejectedExecutionException e) {
            // The loop is shutting down: so is the client.
          }
        });
    return d;
  }

  private void start(String token, Throwable err, Function<String, FrameChannel> connect) {
    if (ended) {
      return; // Timed out, aborted or closed: already reported.
    }
    cancelTimer();
    if (err != null) {
      end(ClosedBy.ABNORMAL_CLOSURE, "token source failed: " + err, err);
      return;
    }
    try {
      delegate = connect.apply(token);
    } catch (RuntimeException e) {
      end(ClosedBy.ABNORMAL_CLOSURE, "cannot start a connection attempt: " + e.getMessage(), e);
      return;
    }
    if (readTimeoutMillis >= 0) {
      delegate.readTimeout(readTimeoutMillis);
    }
  }

  /** Ends the attempt before any connection was started; reports it once. */
  private void end(int code, String reason, Throwable cause) {
    if (ended || delegate != null) {
      return;
    }
    ended = true;
    cancelTimer();
    listener.onClose(code, reason, cause);
  }

  /** As {@link #end}, reported from a new task (the caller may be the listener itself). */
  private void endLater(int code, String reason) {
    if (ended || delegate != null) {
      return;
    }
    ended = true;
    cancelTimer();
    try {
      loop.execute(() -> listener.onClose(code, reason, null));
    } catch (RejectedExecutionException e) {
      // The loop is shutting down: so is the client.
    }
  }

  private void cancelTimer() {
    if (timer != null) {
      timer.cancel(false);
      timer = null;
    }
  }

  @Override
  public void write(ClientFrame frame) {
    if (delegate == null) {
      throw new IllegalStateException("not connected yet");
    }
    delegate.write(frame);
  }

  @Override
  public void flush() {
    if (delegate != null) {
      delegate.flush();
    }
  }

  @Override
  public void readTimeout(long millis) {
    if (delegate != null) {
      delegate.readTimeout(millis);
    } else {
      readTimeoutMillis = millis;
    }
  }

  @Override
  public void abort() {
    if (delegate != null) {
      delegate.abort();
    } else {
      endLater(ClosedBy.ABNORMAL_CLOSURE, "connection dropped by the client");
    }
  }

  @Override
  public Future<?> close() {
    if (delegate != null) {
      return delegate.close();
    }
    endLater(1000, "closed by the client");
    return loop.newSucceededFuture(null);
  }
}
