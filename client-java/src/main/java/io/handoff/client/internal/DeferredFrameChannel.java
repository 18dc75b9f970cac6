package io.handoff.client.internal;

import io.handoff.protocol.v1.ClientFrame;
import io.netty.channel.EventLoop;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Future;
import java.util.function.Function;

/**
 * A connection attempt that first waits for an access token from an asynchronous source, then
 * connects with it. Until then it is a channel that cannot be written to (nothing writes before
 * {@link FrameListener#onOpen}); closing it then cancels the attempt. A failed token source ends
 * the attempt with 1006, so the caller retries with backoff. Event loop only, except that the token
 * may complete on any thread (it hops onto the loop).
 */
public final class DeferredFrameChannel implements FrameChannel {
  private final EventLoop loop;
  private FrameChannel delegate;
  private boolean closed;
  private long readTimeoutMillis = -1;

  private DeferredFrameChannel(EventLoop loop) {
    this.loop = loop;
  }

  /**
   * Starts an attempt that connects through {@code connect} once {@code token} completes; the
   * outcome is reported to {@code listener} as for any attempt.
   */
  public static FrameChannel connect(
      CompletionStage<String> token,
      EventLoop loop,
      Function<String, FrameChannel> connect,
      FrameListener listener) {
    DeferredFrameChannel d = new DeferredFrameChannel(loop);
    token.whenComplete((t, err) -> loop.execute(() -> d.start(t, err, connect, listener)));
    return d;
  }

  private void start(
      String token, Throwable err, Function<String, FrameChannel> connect, FrameListener listener) {
    if (closed) {
      listener.onClose(1000, "closed by the client", null);
      return;
    }
    if (err != null) {
      listener.onClose(1006, "token source failed: " + err, err);
      return;
    }
    try {
      delegate = connect.apply(token);
    } catch (RuntimeException e) {
      listener.onClose(1006, "cannot start a connection attempt: " + e, e);
      return;
    }
    if (readTimeoutMillis >= 0) {
      delegate.readTimeout(readTimeoutMillis);
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
    }
  }

  @Override
  public Future<?> close() {
    if (delegate != null) {
      return delegate.close();
    }
    closed = true;
    return loop.newSucceededFuture(null);
  }
}
