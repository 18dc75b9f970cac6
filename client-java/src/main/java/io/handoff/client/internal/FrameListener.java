package io.handoff.client.internal;

import io.handoff.protocol.v1.ServerFrame;

/**
 * What happens on one connection attempt made by {@link WebSocketConnector#connect}.
 *
 * <p>Every method is called on the connection's event loop, never from within {@code connect}.
 * {@link #onOpen} is called at most once, when the WebSocket handshake completes; {@link #onFrame}
 * only after it; {@link #onClose} exactly once, last, whether the attempt failed or an open
 * connection ended.
 */
public interface FrameListener {

  /** The WebSocket handshake completed; frames may be sent on {@code channel}. */
  void onOpen(FrameChannel channel);

  /** A frame arrived. */
  void onFrame(ServerFrame frame);

  /**
   * The attempt failed or the connection closed.
   *
   * @param closeCode the close code the server sent; 1006 when the connection ended without one
   *     (refused, reset, timed out); 4502 when the upgrade was refused with HTTP 401 or 403; 4500
   *     when the server sent something undecodable; 4002 when nothing was read within the read
   *     timeout; 1000 when this side closed it
   * @param reason a reason for people, or {@code null}
   * @param cause the exception behind it, or {@code null}
   */
  void onClose(int closeCode, String reason, Throwable cause);
}
