package io.handoff.client.internal;

import io.handoff.protocol.v1.ClientFrame;
import java.util.concurrent.Future;

/**
 * One WebSocket connection to a Handoff server, as the client's sync engine sees it: a place to
 * write {@link ClientFrame}s. All methods must be called on the connection's event loop.
 */
public interface FrameChannel {

  /** Queues a frame; nothing reaches the socket until {@link #flush()}. */
  void write(ClientFrame frame);

  /** Sends what {@link #write} queued. */
  void flush();

  /** Writes and flushes one frame. */
  default void send(ClientFrame frame) {
    write(frame);
    flush();
  }

  /**
   * Closes the connection if nothing is read for this long (0: never). Replaces the previous
   * timeout; the connection starts with the connect timeout.
   */
  void readTimeout(long millis);

  /** Closes the connection with a normal-closure (1000) close frame. */
  Future<?> close();

  /**
   * Drops the connection as a network failure would: the TCP connection is reset (no close frame)
   * and the listener's {@code onClose} follows with 1006. Does nothing once closed.
   */
  void abort();
}
