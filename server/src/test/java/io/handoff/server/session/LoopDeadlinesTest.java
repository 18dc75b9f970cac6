package io.handoff.server.session;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.server.FakeScheduler;
import io.netty.channel.DefaultEventLoop;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** One event loop's deadlines: in order, through one timer, disarmed ones never. Fake time. */
class LoopDeadlinesTest {
  private static final int N = 2_000;

  @Test
  void deadlinesRunInTheirOrderThroughOneTimerAndDisarmedOnesNever() throws Exception {
    FakeScheduler time = new FakeScheduler();
    DefaultEventLoop loop = new DefaultEventLoop();
    List<Probe> fired = Collections.synchronizedList(new ArrayList<>());
    List<Probe> expected = new ArrayList<>();
    try {
      onLoop(
          loop,
          () -> {
            Random random = new Random(7);
            LoopDeadlines deadlines = LoopDeadlines.current();
            for (int i = 0; i < N; i++) {
              Probe p = new Probe(fired);
              p.delayMs = random.nextInt(10_000);
              deadlines.arm(p, TimeUnit.MILLISECONDS.toNanos(p.delayMs), loop, time);
              if (i % 3 == 0) {
                deadlines.disarm(p); // Never runs.
                assertFalse(p.armed());
              } else if (i % 5 == 0) {
                p.delayMs = random.nextInt(10_000); // Moved: runs once, at its new time.
                deadlines.arm(p, TimeUnit.MILLISECONDS.toNanos(p.delayMs), loop, time);
                expected.add(p);
              } else {
                expected.add(p);
              }
            }
            assertEquals(expected.size(), deadlines.size());
          });
      assertEquals(1, time.pending(), "one timer for every deadline of the loop");
      for (int s = 0; s <= 10; s++) {
        time.advance(Duration.ofSeconds(1));
        onLoop(loop, () -> {}); // Lets the loop run what the step handed it.
        assertTrue(time.pending() <= 1);
      }
      assertEquals(expected.size(), fired.size());
      for (int i = 1; i < fired.size(); i++) {
        assertTrue(fired.get(i - 1).delayMs <= fired.get(i).delayMs, "in order at " + i);
      }
      assertEquals(
          expected.stream().map(System::identityHashCode).sorted().toList(),
          fired.stream().map(System::identityHashCode).sorted().toList());
      assertEquals(0, time.pending(), "no timer once the loop has no deadline");
      onLoop(loop, () -> assertEquals(0, LoopDeadlines.current().size()));
    } finally {
      loop.shutdownGracefully(0, 0, TimeUnit.SECONDS);
    }
  }

  @Test
  void aDisarmedDeadlineLeavesTheTimerWhichFindsNothingAndSetsItselfForTheNext() throws Exception {
    FakeScheduler time = new FakeScheduler();
    DefaultEventLoop loop = new DefaultEventLoop();
    List<Probe> fired = Collections.synchronizedList(new ArrayList<>());
    Probe early = new Probe(fired);
    Probe late = new Probe(fired);
    try {
      onLoop(
          loop,
          () -> {
            LoopDeadlines deadlines = LoopDeadlines.current();
            deadlines.arm(early, TimeUnit.SECONDS.toNanos(1), loop, time);
            deadlines.arm(late, TimeUnit.SECONDS.toNanos(5), loop, time);
            deadlines.disarm(early);
          });
      assertEquals(1, time.pending(), "the timer set for the disarmed deadline stays");
      time.advance(Duration.ofSeconds(1));
      onLoop(loop, () -> {});
      assertEquals(List.of(), fired, "nothing was due");
      assertEquals(1, time.pending(), "set again, for the later deadline");
      time.advance(Duration.ofSeconds(4));
      onLoop(loop, () -> {});
      assertEquals(List.of(late), fired);
      assertEquals(0, time.pending());

      // Every deadline of the loop disarmed at once (a reconnect storm): the timer fires once with
      // nothing due and is not set again; the loop arms and runs deadlines as before after it.
      Probe[] many = new Probe[100];
      onLoop(
          loop,
          () -> {
            LoopDeadlines deadlines = LoopDeadlines.current();
            for (int i = 0; i < many.length; i++) {
              many[i] = new Probe(fired);
              deadlines.arm(many[i], TimeUnit.SECONDS.toNanos(2 + i), loop, time);
            }
            // Half from the last place of the heap (armed in order, the heap is in order), the
            // rest from its root: the two ends a storm's removals reach.
            for (int i = many.length - 1; i >= many.length / 2; i--) {
              deadlines.disarm(many[i]);
              assertFalse(many[i].armed());
              assertEquals(i, deadlines.size());
            }
            for (int i = 0; i < many.length / 2; i++) {
              deadlines.disarm(many[i]);
              assertFalse(many[i].armed());
            }
            assertEquals(0, deadlines.size());
          });
      time.advance(Duration.ofSeconds(200));
      onLoop(loop, () -> {});
      assertEquals(List.of(late), fired, "no disarmed deadline ran");
      assertEquals(0, time.pending(), "no timer once the loop has no deadline");
      Probe after = new Probe(fired);
      onLoop(
          loop, () -> LoopDeadlines.current().arm(after, TimeUnit.SECONDS.toNanos(1), loop, time));
      time.advance(Duration.ofSeconds(1));
      onLoop(loop, () -> {});
      assertEquals(List.of(late, after), fired);
    } finally {
      loop.shutdownGracefully(0, 0, TimeUnit.SECONDS);
    }
  }

  /**
   * Against a reference model (a map of each armed deadline to its due time): a seeded random run
   * of arms, re-arms, disarms from anywhere in the heap and steps of time, some deadlines disarming
   * another or arming themselves again as they run. Each deadline runs exactly at its due time (the
   * timer is set for it), once, never after it was disarmed; the heap holds exactly the model's.
   */
  @Test
  void heapMatchesAReferenceModelThroughRandomArmsDisarmsAndSteps() throws Exception {
    for (long seed = 1; seed <= 6; seed++) {
      long s = seed;
      FakeScheduler time = new FakeScheduler();
      DefaultEventLoop loop = new DefaultEventLoop();
      try {
        onLoop(loop, () -> runModel(new Random(s), time, loop));
      } finally {
        loop.shutdownGracefully(0, 0, TimeUnit.SECONDS);
      }
    }
  }

  private static void runModel(Random random, FakeScheduler time, DefaultEventLoop loop) {
    LoopDeadlines deadlines = LoopDeadlines.current();
    Map<Deadline, Long> model = new HashMap<>();
    List<ModelProbe> probes = new ArrayList<>();
    List<String> problems = new ArrayList<>();
    for (int i = 0; i < 300; i++) {
      probes.add(new ModelProbe(i));
    }
    for (ModelProbe p : probes) {
      p.onExpired =
          () -> {
            Long due = model.remove(p);
            if (due == null) {
              problems.add("deadline " + p.id + " ran while not armed in the model");
            } else if (due != time.nanoTime()) {
              problems.add("deadline " + p.id + " due at " + due + " ran at " + time.nanoTime());
            }
            int r = random.nextInt(10);
            if (r == 0) {
              ModelProbe other = probes.get(random.nextInt(probes.size()));
              deadlines.disarm(other);
              model.remove(other);
            } else if (r == 1) {
              long delay = random.nextInt(3) * 1_000L; // zero included: due in this very turn
              deadlines.arm(p, delay, loop, time);
              model.put(p, time.nanoTime() + delay);
            }
          };
    }
    for (int step = 0; step < 5_000; step++) {
      ModelProbe p = probes.get(random.nextInt(probes.size()));
      int op = random.nextInt(10);
      if (op < 5) {
        long delay = random.nextInt(4) == 0 ? random.nextInt(3) : random.nextInt(1_000_000);
        deadlines.arm(p, delay, loop, time);
        model.put(p, time.nanoTime() + delay);
      } else if (op < 8) {
        deadlines.disarm(p);
        model.remove(p);
      } else {
        time.advance(Duration.ofNanos(random.nextInt(500_000)));
      }
      int s = step; // Messages built only on a failure: 6 runs of 5,000 steps check 300 deadlines
      // each.
      assertEquals(List.of(), problems, () -> "at step " + s);
      assertEquals(model.size(), deadlines.size(), () -> "at step " + s);
      for (ModelProbe q : probes) {
        assertEquals(model.containsKey(q), q.armed(), () -> "deadline " + q.id + " at step " + s);
      }
      long now = time.nanoTime();
      for (long due : model.values()) {
        // Once time stepped, nothing due by then still waits (a deadline armed since may be).
        assertTrue(
            op < 8 || due > now, () -> "a deadline due at " + due + " still waits at " + now);
      }
    }
    time.advance(Duration.ofSeconds(1));
    assertEquals(List.of(), problems);
    assertEquals(Map.of(), model);
    assertEquals(0, deadlines.size());
  }

  private static final class ModelProbe extends Deadline {
    final int id;
    Runnable onExpired;

    ModelProbe(int id) {
      this.id = id;
    }

    @Override
    protected void expired() {
      onExpired.run();
    }
  }

  private static void onLoop(DefaultEventLoop loop, Runnable r) throws Exception {
    loop.submit(r).get(10, TimeUnit.SECONDS);
  }

  private static final class Probe extends Deadline {
    final List<Probe> fired;
    long delayMs;

    Probe(List<Probe> fired) {
      this.fired = fired;
    }

    @Override
    protected void expired() {
      fired.add(this);
    }
  }
}
