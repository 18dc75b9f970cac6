package io.handoff.client.internal;

import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.ServerFrame;

/**
 * What happens on one connection attempt made by {@link WebSocketConnector#connect}.
 *
 * <p>Every method is called on the connection's event loop, never from within {@code connect}.
 * {@link #hello} is called at most once, when TCP is connected; {@link #onOpen} at most once, when
 * the WebSocket handshake completes; {@link #onFrame} only after it; {@link #onClose} exactly once,
 * last, whether the attempt failed or an open connection ended.
 */
public interface FrameListener {

  /**
   * The connection's first frame, a Hello, to send in the upgrade request, or null to send none.
   * Asked when TCP is connected (after the access token, if one was waited for); one encoded over
   * {@link Handshake#MAX_EARLY_HELLO_BYTES} is not sent there. Whether the node read it is told by
   * {@link #onOpen}.
   */
  default ClientFrame hello() {
    return null;
  }

  /**
   * The WebSocket handshake completed; frames may be sent on {@code channel}. {@code helloRead}:
   * the node read the {@link #hello} of the upgrade request as the connection's first frame;
   * otherwise (none sent, too large, or a node that does not know the feature) the Hello is to be
   * sent as the first frame.
   */
  void onOpen(FrameChannel channel, boolean helloRead);

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
