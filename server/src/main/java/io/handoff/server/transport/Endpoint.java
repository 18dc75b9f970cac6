package io.handoff.server.transport;

import io.handoff.protocol.v1.ClientFrame;

/**
 * The session side of one connection, as the transport sees it: the transport hands it the
 * connection once upgraded, then each decoded frame, and tells it when the socket can take more,
 * when the node drains and when the connection is gone. All calls are on the connection's event
 * loop.
 */
public interface Endpoint {
  /** The WebSocket upgrade completed; {@code link} carries the connection from now on. */
  void opened(Link link);

  /** A frame from the device. */
  void frame(ClientFrame frame);

  /** The socket's outbound buffer went below its low-water mark again. */
  void writable();

  /**
   * The socket's outbound buffer went above its high-water mark: what waits there may be all the
   * device gets for a while, and the node's queue budget has to see it.
   */
  void unwritable();

  /**
   * The connection's close frame is on its way (whoever closed it: the session, or the transport
   * for silence, a socket left full, the handshake limit or a broken frame): nothing may follow it.
   */
  void closing();

  /** The node stops: finish what is in flight, then close with SHUTDOWN. */
  void drain();

  /** The connection is closed (called once, also for connections never opened). */
  void closed();
}
