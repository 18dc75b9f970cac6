package io.handoff.client;

import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoEventLoop;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.ScheduledFuture;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Supplier;

/**
 * The Netty event loop one {@link HandoffClient} lives on, as the {@link SyncEngine} sees it: the
 * {@link Scheduler} of its timers and the {@link Executor} that hops onto it (inline when already
 * there). The loop is picked from the group given to the builder, or the client creates a group of
 * one daemon thread of its own.
 *
 * <p>Lifecycle: made with its client; {@link #close} runs the engine's close on the loop and then
 * shuts down the client's own group (a group given to the builder is left running).
 *
 * <p>Thread-safety: immutable; every method may be called from any thread.
 */
final class ClientLoop implements Scheduler, Executor {
  private static final long CLOSE_WAIT_MILLIS = 5_000;

  // The group this client created, shut down on close; null when the group was given to it.
  private final EventLoopGroup ownGroup;
  private final EventLoop eventLoop;

  /**
   * @param shared the group given to the builder, or null to create one of one thread
   */
  ClientLoop(EventLoopGroup shared) {
    EventLoopGroup group = shared;
    if (group == null) {
      ownGroup = newGroup(1);
      group = ownGroup;
    } else {
      ownGroup = null;
    }
    this.eventLoop = group.next();
  }

  /**
   * A group of {@code threads} event loops on daemon threads: epoll when Netty's native epoll
   * transport is available, NIO otherwise.
   */
  static EventLoopGroup newGroup(int threads) {
    if (threads <= 0) {
      throw new IllegalArgumentException("threads must be > 0, was " + threads);
    }
    return new MultiThreadIoEventLoopGroup(
        threads,
        new DefaultThreadFactory("handoff-client", true),
        Epoll.isAvailable() ? EpollIoHandler.newFactory() : NioIoHandler.newFactory());
  }

  /** True if a client can live on every loop of {@code group}: NIO or epoll loops only. */
  static boolean canLiveOn(EventLoopGroup group) {
    // Walks the loops instead of calling next() (or IoEventLoopGroup.isIoType, which does in some
    // Netty 4.2 versions): that would advance the group's round-robin and skew where clients land.
    for (EventExecutor executor : group) {
      if (!(executor instanceof IoEventLoop loop
          && (loop.isIoType(NioIoHandler.class) || loop.isIoType(EpollIoHandler.class)))) {
        return false;
      }
    }
    return true;
  }

  EventLoop eventLoop() {
    return eventLoop;
  }

  @Override
  public Task schedule(Runnable task, long delayNanos) {
    ScheduledFuture<?> scheduled = eventLoop.schedule(task, delayNanos, TimeUnit.NANOSECONDS);
    return () -> scheduled.cancel(false);
  }

  @Override
  public void execute(Runnable task) {
    if (eventLoop.inEventLoop()) {
      task.run();
    } else {
      eventLoop.execute(task);
    }
  }

  /**
   * Runs {@code engineClose} on the loop (it returns the connection's close future, or null), then
   * shuts down the client's own group. When called from a thread other than the loop, waits (a few
   * seconds at most) until the close frame has been sent and the own group has terminated.
   */
  void close(Supplier<Future<?>> engineClose) {
    CompletableFuture<Future<?>> closing = new CompletableFuture<>();
    try {
      if (eventLoop.inEventLoop()) {
        closing.complete(engineClose.get());
      } else {
        eventLoop.execute(() -> closing.complete(engineClose.get()));
      }
    } catch (RejectedExecutionException e) {
      closing.complete(null);
    }
    boolean mayWait = !eventLoop.inEventLoop();
    if (mayWait) {
      Future<?> channelClosed = awaitQuietly(closing);
      if (channelClosed != null) {
        awaitQuietly(channelClosed);
      }
    }
    if (ownGroup != null && !ownGroup.isShuttingDown()) {
      io.netty.util.concurrent.Future<?> terminated =
          ownGroup.shutdownGracefully(0, CLOSE_WAIT_MILLIS, TimeUnit.MILLISECONDS);
      if (mayWait) {
        awaitQuietly(terminated);
      }
    }
  }

  private static <T> T awaitQuietly(Future<T> future) {
    try {
      return future.get(CLOSE_WAIT_MILLIS, TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (ExecutionException | TimeoutException e) {
      // Closing is best effort past this point: the socket is closed either way.
    }
    return null;
  }
}
