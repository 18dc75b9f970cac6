package io.handoff.client;

import java.time.Duration;
import java.util.PriorityQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The timers of a {@link SyncEngine} on real sockets, on a clock only the test moves: a timer runs
 * on the client's real event loop when {@link #advance} passes its deadline, as the server tests'
 * {@code FakeScheduler} runs a node's. A test proves that no timer a client left behind does
 * something (connects again after the client stopped for good) by advancing past all of them and
 * looking, instead of waiting a while for nothing to come. Thread-safe: timers are set on the loop,
 * and the test advances from its own thread.
 */
final class LoopTime implements Scheduler {
  /** The timers one advance may run before a timer that keeps setting itself fails it. */
  private static final int MAX_STEPS = 10_000;

  private static final long TASK_WAIT_SECONDS = TestServer.WAIT_SECONDS;

  private record Timer(long deadline, long seq, Runnable task) implements Comparable<Timer> {
    @Override
    public int compareTo(Timer o) {
      int byDeadline = Long.compare(deadline, o.deadline);
      return byDeadline != 0 ? byDeadline : Long.compare(seq, o.seq);
    }
  }

  private final ClientLoop loop;
  private final AtomicInteger attempts = new AtomicInteger();
  private final PriorityQueue<Timer> timers = new PriorityQueue<>();
  private long nanos;
  private long seq;

  LoopTime(ClientLoop loop) {
    this.loop = loop;
  }

  /**
   * An engine of {@code config} connecting through the loop with the real connector (its attempts
   * counted), its timers and clock this one, every draw of its backoff a half.
   */
  SyncEngine engine(ClientConfig config) {
    Connector real = new EndpointConnector(config, loop.eventLoop());
    return new SyncEngine(
        config,
        (url, listener) -> {
          attempts.incrementAndGet();
          return real.connect(url, listener);
        },
        this,
        loop,
        new Backoff(config.reconnectInitial.toNanos(), config.reconnectMax.toNanos(), () -> 0.5),
        this::nanoTime);
  }

  /** The connection attempts the engine started, each counted as it starts (on the loop). */
  int attempts() {
    return attempts.get();
  }

  synchronized long nanoTime() {
    return nanos;
  }

  @Override
  public synchronized Task schedule(Runnable task, long delayNanos) {
    Timer t = new Timer(nanos + Math.max(0, delayNanos), seq++, task);
    timers.add(t);
    return () -> {
      synchronized (LoopTime.this) {
        timers.remove(t);
      }
    };
  }

  /**
   * Moves time forward by {@code d}: runs each timer due by then on the loop, in deadline order,
   * each at the time of its deadline, and waits for it before looking for the next; timers those
   * set that are due by then run too. It first lets the loop finish what it runs now (the task that
   * told the test of a state change may set a timer after it); a timer set by work still to come (a
   * frame not read yet) is seen once it is set: the test waits for that work first.
   */
  void advance(Duration d) throws Exception {
    onLoop(() -> {});
    long end;
    synchronized (this) {
      end = nanos + d.toNanos();
    }
    for (int steps = 0; ; steps++) {
      Timer next;
      synchronized (this) {
        next = timers.peek();
        if (next == null || next.deadline > end) {
          nanos = end;
          return;
        }
        if (steps == MAX_STEPS) {
          throw new AssertionError(MAX_STEPS + " timers in one advance: one keeps setting itself");
        }
        timers.poll();
        nanos = next.deadline;
      }
      onLoop(next.task);
    }
  }

  /** Runs {@code task} on the loop and waits for it. */
  private void onLoop(Runnable task) throws Exception {
    CompletableFuture<Void> ran = new CompletableFuture<>();
    loop.execute(
        () -> {
          try {
            task.run();
            ran.complete(null);
          } catch (Throwable e) {
            ran.completeExceptionally(e);
          }
        });
    ran.get(TASK_WAIT_SECONDS, TimeUnit.SECONDS);
  }
}
