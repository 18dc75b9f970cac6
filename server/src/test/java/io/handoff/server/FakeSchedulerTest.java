package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.channel.DefaultEventLoop;
import io.netty.channel.EventLoop;
import io.netty.util.concurrent.DefaultEventExecutorGroup;
import io.netty.util.concurrent.EventExecutorGroup;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The fake clock's contract: {@link FakeScheduler#advance} returns once what it made due has run.
 */
class FakeSchedulerTest {
  private ScheduledExecutorService thread;
  private EventLoop loop;

  @BeforeEach
  void start() {
    thread = Executors.newSingleThreadScheduledExecutor();
    loop = new DefaultEventLoop();
  }

  @AfterEach
  void stop() throws InterruptedException {
    thread.shutdownNow();
    loop.shutdownGracefully(0, 0, TimeUnit.SECONDS);
    assertTrue(thread.awaitTermination(10, TimeUnit.SECONDS));
    assertTrue(loop.terminationFuture().await(10, TimeUnit.SECONDS));
  }

  @Test
  void aTimerSetByADueTaskRunsInTheSameAdvance() {
    // Before advance waited for the tasks it handed over, the re-armed timer was usually set after
    // advance had looked for the next due one, and ran only at the next advance.
    for (int i = 0; i < 300; i++) {
      FakeScheduler time = new FakeScheduler();
      AtomicInteger ran = new AtomicInteger();
      time.schedule(
          thread,
          () -> {
            ran.incrementAndGet();
            time.schedule(thread, ran::incrementAndGet, 0, TimeUnit.NANOSECONDS);
          },
          1,
          TimeUnit.SECONDS);

      time.advance(Duration.ofSeconds(1));

      assertEquals(2, ran.get(), "iteration " + i);
      assertEquals(0, time.pending(), "iteration " + i);
    }
  }

  @Test
  void aChainOfShortTimersOnAnEventLoopRunsUpToTheEnd() {
    FakeScheduler time = new FakeScheduler();
    List<Long> seen = new ArrayList<>(); // Only the loop touches it until advance returns.
    Runnable[] tick = new Runnable[1];
    tick[0] =
        () -> {
          seen.add(time.nanoTime());
          time.schedule(loop, tick[0], 10, TimeUnit.MILLISECONDS);
        };
    time.schedule(loop, tick[0], 10, TimeUnit.MILLISECONDS);

    time.advance(Duration.ofMillis(55));

    // Each tick ran at its own deadline, read that time, and the one it set was seen in turn.
    assertEquals(List.of(10_000_000L, 20_000_000L, 30_000_000L, 40_000_000L, 50_000_000L), seen);
    assertEquals(55_000_000L, time.nanoTime());
    assertEquals(1, time.pending());
  }

  @Test
  void advanceFromTheEventLoopItselfRunsItsTimersThereInsteadOfWaitingForIt() throws Exception {
    FakeScheduler time = new FakeScheduler();
    AtomicLong ranOn = new AtomicLong();
    time.schedule(loop, () -> ranOn.set(Thread.currentThread().getId()), 1, TimeUnit.SECONDS);
    AtomicLong loopThread = new AtomicLong();

    loop.submit(
            () -> {
              loopThread.set(Thread.currentThread().getId());
              time.advance(Duration.ofSeconds(1));
            })
        .get(10, TimeUnit.SECONDS);

    assertEquals(loopThread.get(), ranOn.get());
  }

  @Test
  void advanceFromATaskOfAPlainExecutorRunsThatExecutorsTimersThere() throws Exception {
    FakeScheduler time = new FakeScheduler();
    AtomicInteger ran = new AtomicInteger();
    time.schedule(
        thread,
        () -> {
          // A task that moves time itself: its executor's next timer must not wait for it.
          time.schedule(thread, ran::incrementAndGet, 1, TimeUnit.SECONDS);
          time.advance(Duration.ofSeconds(1));
          ran.incrementAndGet();
        },
        1,
        TimeUnit.SECONDS);

    time.advance(Duration.ofSeconds(1));

    assertEquals(2, ran.get());
  }

  @Test
  void advanceFromAThreadOfAnEventExecutorGroupRunsTheGroupsTimersThere() throws Exception {
    EventExecutorGroup group = new DefaultEventExecutorGroup(1);
    try {
      FakeScheduler time = new FakeScheduler();
      AtomicInteger ran = new AtomicInteger();
      time.schedule(group, ran::incrementAndGet, 1, TimeUnit.SECONDS);

      // The group's one thread calls advance: waiting for the group would wait for itself.
      group.submit(() -> time.advance(Duration.ofSeconds(1))).get(10, TimeUnit.SECONDS);

      assertEquals(1, ran.get());
    } finally {
      group.shutdownGracefully(0, 0, TimeUnit.SECONDS).syncUninterruptibly();
    }
  }

  @Test
  void aStoppedExecutorsTimersAreDropped() {
    FakeScheduler time = new FakeScheduler();
    AtomicInteger ran = new AtomicInteger();
    time.schedule(thread, ran::incrementAndGet, 1, TimeUnit.SECONDS);
    time.schedule(loop, ran::incrementAndGet, 1, TimeUnit.SECONDS);
    thread.shutdownNow();
    loop.shutdownGracefully(0, 0, TimeUnit.SECONDS).syncUninterruptibly();

    time.advance(Duration.ofSeconds(1));

    assertEquals(0, ran.get());
    assertEquals(0, time.pending());
  }

  @Test
  void aTaskThatNeverEndsFailsTheAdvanceLoudly() {
    FakeScheduler time = new FakeScheduler().waitingForTasksAtMost(Duration.ofMillis(200));
    CountDownLatch release = new CountDownLatch(1);
    time.schedule(
        thread,
        () -> {
          try {
            release.await();
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
        },
        1,
        TimeUnit.SECONDS);

    AssertionError e =
        assertThrows(AssertionError.class, () -> time.advance(Duration.ofSeconds(1)));
    assertTrue(e.getMessage().contains("not finished within"), e.getMessage());
    release.countDown();
  }

  @Test
  void aTimerThatReArmsItselfForTheSameInstantForeverFailsTheAdvance() {
    FakeScheduler time = new FakeScheduler();
    Runnable[] again = new Runnable[1];
    again[0] = () -> time.schedule(thread, again[0], 0, TimeUnit.NANOSECONDS);
    time.schedule(thread, again[0], 1, TimeUnit.SECONDS);

    AssertionError e =
        assertThrows(AssertionError.class, () -> time.advance(Duration.ofSeconds(1)));
    assertTrue(e.getMessage().contains("same instant"), e.getMessage());
  }
}
