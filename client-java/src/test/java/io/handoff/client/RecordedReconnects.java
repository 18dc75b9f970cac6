package io.handoff.client;

import static org.junit.jupiter.api.Assertions.assertNotNull;

import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.LongPredicate;
import java.util.function.LongSupplier;

/**
 * A {@link SyncEngine} on real sockets whose scheduler runs nothing: it records each task it is
 * asked to schedule, with its delay, for the test to inspect and run.
 */
final class RecordedReconnects {
  record Scheduled(Runnable task, long delayNanos) {}

  private final BlockingQueue<Scheduled> scheduled = new LinkedBlockingQueue<>();
  private final LongPredicate recorded;

  /** Records the tasks whose delay {@code recorded} accepts (the others are dropped). */
  RecordedReconnects(LongPredicate recorded) {
    this.recorded = recorded;
  }

  /** An engine connecting through {@code loop}, its backoff's every draw {@code random}. */
  SyncEngine engine(ClientConfig config, ClientLoop loop, double random, LongSupplier nanos) {
    Scheduler recording =
        (task, delayNanos) -> {
          if (recorded.test(delayNanos)) {
            scheduled.add(new Scheduled(task, delayNanos));
          }
          return () -> {};
        };
    return new SyncEngine(
        config,
        new EndpointConnector(config, loop.eventLoop()),
        recording,
        loop,
        new Backoff(config.reconnectInitial.toNanos(), config.reconnectMax.toNanos(), () -> random),
        nanos);
  }

  /** The next task scheduled, waiting up to {@code seconds} for it. */
  Scheduled next(long seconds) throws InterruptedException {
    Scheduled s = scheduled.poll(seconds, TimeUnit.SECONDS);
    assertNotNull(s, "no reconnect scheduled within " + seconds + " s");
    return s;
  }

  void clear() {
    scheduled.clear();
  }
}
