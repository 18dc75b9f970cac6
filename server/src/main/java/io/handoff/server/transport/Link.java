package io.handoff.server.transport;

import io.handoff.protocol.CloseCode;
import io.handoff.server.auth.Principal;
import io.netty.channel.EventLoop;

/**
 * What the transport offers the session on top of one upgraded connection: its principal, its event
 * loop, writes of frames, flow control and the close sequence. Every method but {@link
 * #eventLoop()} and {@link #principal()} is called on the event loop only.
 */
public interface Link {
  /** The principal the upgrade authenticated. */
  Principal principal();

  /** The device's network address as this node sees it (the socket's peer), or "unknown". */
  String remoteAddress();

  /** The connection's event loop: its state is touched there only. */
  EventLoop eventLoop();

  /**
   * Writes a {@code ServerFrame} or an encoded binary WebSocket frame, without flushing; dropped
   * once the connection is closing (nothing follows the close frame).
   */
  void write(Object frame);

  void flush();

  /** False while the socket's outbound buffer is over its high-water mark. */
  boolean isWritable();

  /** Bytes in the socket's outbound buffer (written, not yet taken by the kernel). Any thread. */
  long pendingOutboundBytes();

  /** The device said Hello: the handshake limit no longer applies. */
  void established();

  /** Reads no more requests from the device (a drain). */
  void stopReading();

  /** As {@link #close(CloseCode, String, long)}, naming no instance that took over. */
  default void close(CloseCode code, String reason) {
    close(code, reason, 0);
  }

  /**
   * Sends Disconnect and a close frame with {@code code}, then closes; the channel is cut after the
   * close timeout if the device never answers. {@code replacedBy}: the Disconnect's {@code
   * replaced_by_instance} (REPLACED: the Hello instance of the connection that took over; 0 when
   * not known). Idempotent.
   */
  void close(CloseCode code, String reason, long replacedBy);
}
