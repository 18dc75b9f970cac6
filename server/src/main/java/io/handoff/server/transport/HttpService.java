package io.handoff.server.transport;

import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.FullHttpRequest;

/**
 * Plain HTTP routes served beside the WebSocket endpoint (the device-session API). Called on the
 * connection's event loop; shared by every connection, so stateless.
 */
public interface HttpService {
  /** True if {@code path} is one of this service's. */
  boolean handles(String path);

  /** Answers {@code req}; does not keep or release it. */
  void handle(ChannelHandlerContext ctx, FullHttpRequest req, String path);
}
