package io.handoff.server.engine.redis;

import io.lettuce.core.resource.NettyCustomizer;
import io.netty.channel.Channel;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.channel.WriteBufferWaterMark;

/**
 * The send buffer of one loop's Redis connection (see {@link LoopConnections}), bounded: Lettuce
 * calls {@link #afterChannelInitialized} for each channel its client opens (the first and each
 * reconnect's), which gets {@link #MARK} and is remembered. A hung Redis reads nothing, so what the
 * node sends it waits there, after its command timed out too; past {@link #MARK}'s high mark the
 * channel reads unwritable, and a document write is refused {@code UNAVAILABLE} unsent ({@link
 * RedisDocumentStore}) until Redis has read the buffer down to the low mark. Thread-safe.
 */
final class SendBuffer implements NettyCustomizer {
  /**
   * A connection's send buffer reads full above 32 MiB waiting, and not full again below 16 MiB
   * (Netty's write-buffer water marks). Far above what a Redis that reads sees waiting, so it
   * refuses nothing then; at most this plus one write per loop while Redis is hung.
   */
  static final WriteBufferWaterMark MARK = new WriteBufferWaterMark(16 << 20, 32 << 20);

  private volatile Channel channel;

  @Override
  public void afterChannelInitialized(Channel ch) {
    ch.config().setWriteBufferWaterMark(MARK);
    channel = ch;
  }

  /**
   * Whether the connection's channel holds more than the high mark unsent (until the low). A closed
   * channel reads unwritable too, but is not full: a write then waits out the reconnect as Lettuce
   * rejects it ({@link RedisFailures}).
   */
  boolean full() {
    Channel c = channel;
    return c != null && c.isActive() && !c.isWritable();
  }

  /** The bytes waiting in the channel's send buffer, 0 without a channel; on any thread. */
  long pendingBytes() {
    Channel c = channel;
    ChannelOutboundBuffer out = c == null ? null : c.unsafe().outboundBuffer();
    return out == null ? 0 : out.totalPendingWriteBytes();
  }
}
