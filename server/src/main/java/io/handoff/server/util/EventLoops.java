package io.handoff.server.util;

import io.netty.channel.EventLoopGroup;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.Promise;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.RejectedExecutionException;

/** Waits on a group of Netty event loops. */
public final class EventLoops {
  private EventLoops() {}

  /**
   * Waits, up to {@code bound}, until every loop of {@code group} has run what was queued on it by
   * the task it is running now: a task that queues a task runs after the current one.
   */
  public static void afterQueuedTasks(EventLoopGroup group, Duration bound) {
    List<Promise<Void>> passed = new ArrayList<>();
    for (EventExecutor loop : group) {
      Promise<Void> p = loop.newPromise();
      try {
        loop.execute(() -> loop.execute(() -> p.setSuccess(null)));
        passed.add(p);
      } catch (RejectedExecutionException stopped) {
        // Nothing will run there any more.
      }
    }
    long deadline = System.nanoTime() + bound.toNanos();
    for (Promise<Void> p : passed) {
      p.awaitUninterruptibly(Math.max(0, (deadline - System.nanoTime()) / 1_000_000));
    }
  }
}
