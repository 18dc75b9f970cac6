package io.handoff.server.session;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.channel.DefaultEventLoop;
import io.netty.channel.EventLoop;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import org.junit.jupiter.api.Test;

/**
 * When the node stops, the event loops refuse the tasks that would start the resumes waiting for a
 * slot: each of those fails, however long the line, and the slot comes back free. Real Netty event
 * loops: one running, one stopped.
 */
class ResumeSlotsStoppingTest {
  private static final int LINE = 4_096; // The node's default line of waiting resumes.

  @Test
  void aFullLineOfWaitingResumesOnStoppedLoopsAllFailAndTheSlotComesBack() throws Exception {
    ResumeSlots slots = new ResumeSlots(1, LINE, new LongAdder(), new LongAdder());
    DefaultEventLoop running = new DefaultEventLoop();
    DefaultEventLoop stopped = new DefaultEventLoop();
    try {
      stopped.shutdownGracefully(0, 0, TimeUnit.SECONDS).syncUninterruptibly();

      // The one slot: a read the test answers itself, as a store's thread would.
      CompletableFuture<String> store = new CompletableFuture<>();
      CompletableFuture<String> first = slots.read(running, () -> true, () -> store);
      awaitInFlight(slots, running);

      List<CompletableFuture<String>> line = new ArrayList<>();
      for (int i = 0; i < LINE; i++) {
        line.add(slots.read(stopped, () -> true, () -> CompletableFuture.completedFuture("no")));
      }
      assertEquals(LINE, slots.waiting());

      // The store answers on this thread; the slot passes down the line of stopped loops, all on
      // this thread before complete returns.
      store.complete("welcome");
      assertTrue(first.isDone(), "the read that held the slot is answered");
      assertEquals("welcome", first.join());

      for (CompletableFuture<String> waited : line) {
        assertTrue(waited.isDone(), "every waiting resume is answered");
        CompletionException e =
            org.junit.jupiter.api.Assertions.assertThrows(CompletionException.class, waited::join);
        assertInstanceOf(RejectedExecutionException.class, e.getCause());
      }
      assertEquals(0, slots.waiting());
      assertEquals(0, slots.inFlight(), "the slot is free again");
    } finally {
      running.shutdownGracefully(0, 0, TimeUnit.SECONDS).syncUninterruptibly();
    }
  }

  private static void awaitInFlight(ResumeSlots slots, EventLoop loop) throws Exception {
    // The first read starts on its loop: wait until that task ran (a task queued after it).
    loop.submit(() -> {}).get(10, TimeUnit.SECONDS);
    assertEquals(1, slots.inFlight());
  }
}
