package io.handoff.server.transport;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.util.AttributeKey;

/**
 * Plain HTTP routes served beside the WebSocket endpoint (the device-session API). Called on the
 * connection's event loop; shared by every connection, so stateless.
 *
 * <p>A node that drains lets a request the service is answering finish: the service calls {@link
 * #answered} on the connection's event loop as it writes the answer, and when that returns true the
 * answer says {@code Connection: close} and the connection closes once it is written. An answer the
 * store already made (a device-code poll's session, a rotated refresh token) is so never dropped by
 * the drain. The same holds for a connection that reaches the handshake limit while a request on it
 * is answered: it closes after the answer, or at the end of another limit if none comes.
 */
public interface HttpService {
  /** True if {@code path} is one of this service's. */
  boolean handles(String path);

  /** Answers {@code req}; does not keep or release it. */
  void handle(ChannelHandlerContext ctx, FullHttpRequest req, String path);

  /**
   * The request in flight on {@code ch} is being answered now (event loop): returns true if the
   * node drains, so the connection must close after the answer.
   */
  static boolean answered(Channel ch) {
    ch.attr(Answering.KEY).set(null);
    return (ch.hasAttr(Answering.DRAINING) && ch.attr(Answering.DRAINING).get() != null)
        || (ch.hasAttr(Answering.OVERTIME) && ch.attr(Answering.OVERTIME).get() != null);
  }

  /** The marks a drain reads on a connection in plain HTTP. */
  final class Answering {
    // A service request waits for its answer on this connection.
    static final AttributeKey<Boolean> KEY = AttributeKey.valueOf("handoff.http.answering");
    // The node drains: the answer closes the connection.
    static final AttributeKey<Boolean> DRAINING = AttributeKey.valueOf("handoff.http.draining");
    // The handshake limit passed while a request was answered: the answer closes the connection,
    // and the next limit closes it regardless.
    static final AttributeKey<Boolean> OVERTIME = AttributeKey.valueOf("handoff.http.overtime");

    private Answering() {}
  }
}
