package io.handoff.server.session;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.ServerFrame;
import io.handoff.server.ServerConfig;
import io.handoff.server.ServerStats;
import io.handoff.server.sync.DocumentEvent;
import io.netty.channel.DefaultEventLoop;
import io.netty.channel.EventLoop;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The node's budget stops watching a connection that holds nothing while the connection's loop
 * fills its socket again: the sweep that found it empty must not leave it unwatched, or the bytes
 * in its socket are never counted and it is never closed for the budget. The sweep runs on this
 * test's thread (the budget's timer is stopped), the connection on a real event loop, and a latch
 * in the connection's read of its socket's bytes puts the loop's work inside the sweep.
 */
class QueueBudgetWatchRaceTest {
  private static final long BUDGET = 1L << 20;
  private static final ServerConfig CONFIG =
      ServerConfig.builder().port(0).jwtSecret("budget-watch-race-secret-budget-watch").build();

  private final DefaultEventLoop loop = new DefaultEventLoop();
  private final QueueBudget budget = new QueueBudget(BUDGET, "watch-race");
  private final GatedLink link = new GatedLink(loop);
  private final AtomicInteger slowCloses = new AtomicInteger();
  private final Outbox outbox =
      new Outbox(
          new Outbox.Shared(CONFIG, new ServerStats(), budget),
          link,
          new LoopDrainer(loop),
          new Outbox.Owner() {
            @Override
            public String deviceId() {
              return "tv";
            }

            @Override
            public void deliver(DocumentEvent e) {
              link.write(e.frame());
            }

            @Override
            public void drained() {}

            @Override
            public void slow(String reason) {
              slowCloses.incrementAndGet();
            }
          });

  @AfterEach
  void stop() {
    loop.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS).syncUninterruptibly();
  }

  @Test
  void aSocketFilledWhileASweepFindsTheConnectionEmptyStaysWatched() throws Exception {
    budget.close(); // No timer: this test runs each sweep itself.
    onLoop(outbox::goLive);
    // The device fell behind once (watched), then caught up: nothing held, nothing in its socket.
    onLoop(() -> link.fill(100_000));
    onLoop(outbox::unwritable);
    onLoop(link::drainSocket);
    onLoop(outbox::writable);

    // A sweep reads the socket empty; before it acts on that, the loop writes one large frame that
    // fills the socket (as a sync's snapshot or a large delta does), and the socket stops taking
    // writes: the connection asks to be watched, which it still is.
    link.gate(1);
    CompletableFuture<Void> sweep = CompletableFuture.runAsync(budget::sweep);
    link.awaitRead(0);
    onLoop(() -> outbox.send(ServerFrame.getDefaultInstance(), false));
    onLoop(() -> link.fill(2 * BUDGET));
    onLoop(outbox::unwritable);
    link.resume(0);
    sweep.get(10, TimeUnit.SECONDS);

    // The device reads nothing more and nothing more is sent to it: the next sweep must see the
    // two budgets' worth of bytes in its socket, and close it.
    assertEquals(2 * BUDGET, budget.queuedBytes(), "the full socket is counted");
    budget.sweep();
    onLoop(() -> {});
    assertEquals(1, slowCloses.get(), "closed for the node's budget");
  }

  /**
   * The sweep that finds a filled socket after reading it empty watches the connection again; a
   * close that lands in between, its forget() before that watch, leaves the closed connection
   * watched by nobody's mistake but the race's. It must not stay watched (it would be held, and
   * read, by every sweep for the node's life). The test's socket keeps its bytes after the close,
   * so a closed connection still watched shows in the queued bytes.
   */
  @Test
  void aConnectionClosedWhileTheSweepWatchesItAgainIsNotLeftWatched() throws Exception {
    budget.close();
    onLoop(outbox::goLive);
    onLoop(() -> link.fill(100_000));
    onLoop(outbox::unwritable);
    onLoop(link::drainSocket);
    onLoop(outbox::writable);

    link.gate(2);
    CompletableFuture<Void> sweep = CompletableFuture.runAsync(budget::sweep);
    link.awaitRead(0); // Read empty.
    onLoop(() -> link.fill(2 * BUDGET));
    onLoop(outbox::unwritable);
    link.resume(0);
    link.awaitRead(1); // Read full, once the sweep stopped watching: it will watch it again.
    onLoop(outbox::stop);
    onLoop(outbox::close);
    link.resume(1);
    sweep.get(10, TimeUnit.SECONDS);

    assertEquals(0, budget.queuedBytes(), "the closed connection is not watched");
    budget.sweep();
    onLoop(() -> {});
    assertEquals(0, slowCloses.get(), "a closed connection is not closed again");
  }

  private void onLoop(Runnable r) throws Exception {
    loop.submit(r).get(10, TimeUnit.SECONDS);
  }

  /**
   * A connection whose socket's bytes the test sets, and whose first read of them after {@link
   * #gate} waits for the test (having read the value it returns).
   */
  private static final class GatedLink extends EmbeddedConnections.StubLink {
    private final AtomicInteger reads = new AtomicInteger();
    private volatile CountDownLatch[] reading = new CountDownLatch[0];
    private volatile CountDownLatch[] resume = new CountDownLatch[0];
    private volatile long pending;

    GatedLink(EventLoop loop) {
      super(loop, "tv");
    }

    /** The next {@code stops} reads of the socket's bytes each wait for {@link #resume}. */
    void gate(int stops) {
      reading = new CountDownLatch[stops];
      resume = new CountDownLatch[stops];
      for (int i = 0; i < stops; i++) {
        reading[i] = new CountDownLatch(1);
        resume[i] = new CountDownLatch(1);
      }
      reads.set(0);
    }

    /** Waits until gated read {@code i} has read its value and waits. */
    void awaitRead(int i) throws InterruptedException {
      assertTrue(reading[i].await(10, TimeUnit.SECONDS), "the sweep reads the socket");
    }

    void resume(int i) {
      resume[i].countDown();
    }

    /** Bytes written that the device does not read: past the high-water mark. Event loop. */
    void fill(long bytes) {
      pending = bytes;
      writable = false;
    }

    /** The device read everything. Event loop. */
    void drainSocket() {
      pending = 0;
      writable = true;
    }

    @Override
    public long pendingOutboundBytes() {
      long v = pending;
      CountDownLatch[] stops = reading;
      int i = stops.length == 0 ? -1 : reads.getAndIncrement();
      if (i >= 0 && i < stops.length) {
        stops[i].countDown();
        try {
          resume[i].await(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
      return v;
    }
  }
}
