package io.handoff.loadtest;

import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelPromise;
import io.netty.channel.IoEventLoop;
import io.netty.channel.IoEventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SingleThreadIoEventLoop;
import io.netty.channel.nio.NioIoHandler;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;

/**
 * The NIO event-loop group every client of a run shares. It remembers the channels registered on
 * it, so the load tester can cut connections under the clients' feet ({@link #cut}): the socket is
 * reset without a WebSocket close frame, as when a network fails, and the client reconnects and
 * resumes by itself, exactly as it would in the field.
 *
 * <p>This is a workaround: the client has no public hook to drop its connection (closing it is
 * final, and a new client would not hold the old one's versions). Thread-safe.
 */
final class TrackingEventLoopGroup extends MultiThreadIoEventLoopGroup {
  private final Set<Channel> channels;

  private TrackingEventLoopGroup(int threads, Set<Channel> channels) {
    super(threads, new DefaultThreadFactory("loadtest", true), NioIoHandler.newFactory(), channels);
    this.channels = channels;
  }

  /** A group of {@code threads} NIO event loops on daemon threads. */
  static TrackingEventLoopGroup create(int threads) {
    return new TrackingEventLoopGroup(threads, ConcurrentHashMap.newKeySet());
  }

  @Override
  protected IoEventLoop newChild(
      Executor executor, IoHandlerFactory ioHandlerFactory, Object... args) {
    // Called from the super constructor, before this.channels is assigned: the set comes in args.
    @SuppressWarnings("unchecked")
    Set<Channel> registry = (Set<Channel>) args[0];
    return new TrackingLoop(this, executor, ioHandlerFactory, registry);
  }

  /** Open channels now (connected, or still connecting). */
  int openChannels() {
    return channels.size();
  }

  /** Up to {@code n} distinct active channels, chosen at random. */
  List<Channel> pickActive(int n, Random random) {
    List<Channel> active = new ArrayList<>(channels.size());
    for (Channel c : channels) {
      if (c.isActive()) {
        active.add(c);
      }
    }
    Collections.shuffle(active, random);
    return active.subList(0, Math.min(n, active.size()));
  }

  /** Every active channel. */
  List<Channel> allActive() {
    return pickActive(Integer.MAX_VALUE, new Random(0));
  }

  /**
   * Resets the connection: SO_LINGER 0 and a close that starts at the head of the pipeline, so no
   * handler (in particular not the WebSocket handler, which would send a close frame) sees it. The
   * peer gets a TCP RST; the client sees its channel go inactive without a close code (1006).
   */
  static void cut(Channel channel) {
    channel
        .eventLoop()
        .execute(
            () -> {
              if (!channel.isOpen()) {
                return;
              }
              channel.config().setOption(ChannelOption.SO_LINGER, 0);
              ChannelHandlerContext first = channel.pipeline().firstContext();
              if (first != null) {
                first.close();
              } else {
                channel.close();
              }
            });
  }

  /** An NIO loop that adds every channel registered on it to the group's set until it closes. */
  private static final class TrackingLoop extends SingleThreadIoEventLoop {
    private final Set<Channel> registry;

    TrackingLoop(
        IoEventLoopGroup parent,
        Executor executor,
        IoHandlerFactory ioHandlerFactory,
        Set<Channel> registry) {
      super(parent, executor, ioHandlerFactory);
      this.registry = registry;
    }

    @Override
    public ChannelFuture register(Channel channel) {
      track(channel);
      return super.register(channel);
    }

    @Override
    public ChannelFuture register(ChannelPromise promise) {
      track(promise.channel());
      return super.register(promise);
    }

    private void track(Channel channel) {
      if (registry.add(channel)) {
        channel.closeFuture().addListener(f -> registry.remove(channel));
      }
    }
  }
}
