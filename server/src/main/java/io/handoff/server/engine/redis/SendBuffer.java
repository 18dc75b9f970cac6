package io.handoff.server.engine.redis;

import io.lettuce.core.RedisURI;
import io.lettuce.core.resource.NettyCustomizer;
import io.netty.channel.Channel;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.util.NetUtil;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The send buffers of one Redis client's connections, bounded: Lettuce calls {@link
 * #afterChannelInitialized} for each channel the client opens (the first and each reconnect's; on a
 * Redis Cluster, one per node and connection), which gets {@link #MARK} and is remembered until it
 * closes. A hung Redis reads nothing, so what the node sends it waits there, after its command
 * timed out too; past {@link #MARK}'s high mark the channel reads unwritable, and a document write
 * is refused {@code UNAVAILABLE} unsent ({@link RedisDocumentStore}) until Redis has read the
 * buffer down to the low mark.
 *
 * <p>One loop's client ({@link LoopConnections}) has one channel. The node's shared client ({@link
 * BoundedClients}) has several: commands, subscriber and health probe, and on a Cluster each of
 * those per node. A standalone client's all go to the one Redis, so a write is refused while any is
 * full ({@link #full()}); a Cluster's write is refused only while a channel to the master that owns
 * its key's slot is full ({@link #fullTowards}), so one hung shard does not refuse writes to the
 * others. Thread-safe.
 */
final class SendBuffer implements NettyCustomizer {
  /**
   * A connection's send buffer reads full above 32 MiB waiting, and not full again below 16 MiB
   * (Netty's write-buffer water marks). Far above what a Redis that reads sees waiting, so it
   * refuses nothing then. While Redis is hung, a loop's connection holds at most this plus one
   * write; the shared client's, written from other threads, this plus the writes handed to its
   * thread before it encoded the one that passed the mark (each still in flight, so within the
   * node's in-flight bounds).
   */
  static final WriteBufferWaterMark MARK = new WriteBufferWaterMark(16 << 20, 32 << 20);

  // Copied on each change (a channel opened or closed), so the check before every document write
  // reads it without allocating.
  private volatile Channel[] channels = new Channel[0];

  @Override
  public void afterChannelInitialized(Channel ch) {
    ch.config().setWriteBufferWaterMark(MARK);
    synchronized (this) {
      Channel[] now = Arrays.copyOf(channels, channels.length + 1);
      now[now.length - 1] = ch;
      channels = now;
    }
    ch.closeFuture().addListener(f -> remove(ch));
  }

  private synchronized void remove(Channel ch) {
    List<Channel> now = new ArrayList<>(Arrays.asList(channels));
    now.remove(ch);
    channels = now.toArray(new Channel[0]);
  }

  /**
   * Whether a channel holds more than the high mark unsent (until the low). A closed channel reads
   * unwritable too, but is not full: a write then waits out the reconnect as Lettuce rejects it
   * ({@link RedisFailures}).
   */
  boolean full() {
    for (Channel c : channels) {
      if (full(c)) {
        return true;
      }
    }
    return false;
  }

  /**
   * Whether a channel connected to {@code master} (the address the Cluster's topology gives it, as
   * Lettuce connects to it) is {@link #full()}; any channel, if {@code master} is null.
   */
  boolean fullTowards(RedisURI master) {
    if (master == null) {
      return full();
    }
    for (Channel c : channels) {
      if (full(c) && connectedTo(c, master)) {
        return true;
      }
    }
    return false;
  }

  private static boolean full(Channel c) {
    return c.isActive() && !c.isWritable();
  }

  /**
   * Whether {@code c} is connected to {@code uri}'s port and host: the host name it was connected
   * by, or, for an IP literal, the same address however spelt (a Cluster's topology writes {@code
   * ::1} where Java writes {@code 0:0:0:0:0:0:0:1}).
   */
  private static boolean connectedTo(Channel c, RedisURI uri) {
    if (!(c.remoteAddress() instanceof InetSocketAddress a) || a.getPort() != uri.getPort()) {
      return false;
    }
    String host = uri.getHost();
    if (host.equalsIgnoreCase(a.getHostString())) {
      return true;
    }
    byte[] literal = NetUtil.createByteArrayFromIpAddressString(host);
    return literal != null
        && a.getAddress() != null
        && Arrays.equals(literal, a.getAddress().getAddress());
  }

  /** The most bytes waiting in any channel's send buffer, 0 without a channel; on any thread. */
  long pendingBytes() {
    long most = 0;
    for (Channel c : channels) {
      ChannelOutboundBuffer out = c.unsafe().outboundBuffer();
      most = Math.max(most, out == null ? 0 : out.totalPendingWriteBytes());
    }
    return most;
  }
}
