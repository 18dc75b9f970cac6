package io.handoff.server.engine.redis;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.handoff.server.Conditions;
import io.handoff.server.FakeScheduler;
import io.handoff.server.RedisProcess;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.sync.Broker;
import io.handoff.server.sync.DocumentEvent;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.codec.ByteArrayCodec;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.internal.ThreadExecutorMap;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The pace of possible losses tells 256 users at a time and waits for their re-reads before the
 * next batch; a batch whose re-reads never answer is given up after {@link LossPace#WAIT}, measured
 * on the node's time, and the next batch is told. On a real Redis whose data is seen lost (the
 * engine's life marker deleted, as a restart without persistence leaves it), with 300 users whose
 * re-reads never answer, and the node's time moved by hand: no waiting for the 30 s.
 *
 * <p>The Redis is the test's own: it counts every user told, and on a Redis shared with other test
 * classes (both test JVMs' with {@code REDIS_URL}) one that kills every pub/sub client ({@code
 * CLIENT KILL TYPE pubsub}) makes this engine subscribe again and its users be told once more.
 */
class PossibleLossGuardTest {
  private static final int USERS = LossPace.BATCH + 44;

  private final String prefix = "test-" + UUID.randomUUID() + ":";
  private RedisProcess redis;
  private RedisEngine engine;
  private RedisClient admin;

  @AfterEach
  void stop() {
    if (engine != null) {
      engine.close();
    }
    if (admin != null) {
      admin.shutdown();
    }
    if (redis != null) {
      redis.close();
    }
  }

  @Test
  void aBatchWhoseRereadsNeverAnswerIsGivenUpAfterTheGuardOnTheNodesTimeAndTheNextIsTold()
      throws Exception {
    FakeScheduler time = new FakeScheduler();
    redis = RedisProcess.start();
    engine = RedisEngine.connect(redis.url(), prefix, StoreLimits.builder().build());
    RedisBroker broker = engine.broker();
    broker.useTime(time);
    List<CompletableFuture<Void>> rereads = new CopyOnWriteArrayList<>();
    AtomicReference<EventExecutor> teller = new AtomicReference<>();
    for (int i = 0; i < USERS; i++) {
      broker
          .subscribe(
              "u" + i,
              new Broker.Listener() {
                @Override
                public void onEvent(DocumentEvent event) {}

                @Override
                public CompletableFuture<?> onPossibleLoss() {
                  CompletableFuture<Void> never = new CompletableFuture<>();
                  teller.set(ThreadExecutorMap.currentExecutor());
                  rereads.add(never);
                  return never;
                }
              })
          .ready()
          .get(10, TimeUnit.SECONDS);
    }

    // The store loses its data: the next health check finds the life marker gone.
    admin = RedisClient.create(redis.url());
    try (StatefulRedisConnection<byte[], byte[]> c = admin.connect(ByteArrayCodec.INSTANCE)) {
      assertEquals(1L, c.sync().del(new RedisKeys(prefix).life()));
    }
    Conditions.await(
        "the first batch told, its guard set on the node's time",
        () -> rereads.size() == LossPace.BATCH && time.pending() == 1,
        Duration.ofSeconds(30));
    assertEquals(LossPace.BATCH, broker.lossRereading());
    assertEquals(USERS - LossPace.BATCH, broker.lossWaiting());
    // The batch's task goes on after it set its guard: it then sets what ends the batch (its
    // re-reads answered, or the guard). The guard may run on another thread of the pool, before
    // that (outside the fake clock); a task queued behind the batch on its thread runs after it.
    teller.get().submit(() -> {}).get(10, TimeUnit.SECONDS);

    time.advance(LossPace.WAIT.minusMillis(1));
    assertEquals(LossPace.BATCH, rereads.size(), "the rest told before the guard");
    assertEquals(LossPace.BATCH, broker.lossRereading());

    // The guard gives the batch up on the pace's timer thread, which then sets the next batch due
    // at once (its pause is over: the guard took longer). The advance that ran the guard runs that
    // timer too (it waits for each step's tasks before it looks again): no time passes between the
    // guard and the next batch, and the next batch is told when the advance returns.
    time.advance(Duration.ofMillis(1));
    assertEquals(USERS, rereads.size(), "every user told");
    assertEquals(0, broker.lossWaiting());

    // The second batch answers: its guard is dropped, and only the pause after it is left.
    Conditions.await(
        "the second batch's guard set",
        () -> broker.lossRereading() == USERS - LossPace.BATCH && time.pending() == 1,
        Duration.ofSeconds(30));
    rereads.forEach(f -> f.complete(null));
    Conditions.await(
        "the second batch's re-reads answered, the pause after it set",
        () -> broker.lossRereading() == 0 && time.pending() == 1,
        Duration.ofSeconds(30));
    time.advance(LossPace.PAUSE);
    Conditions.await("no timer left", () -> time.pending() == 0, Duration.ofSeconds(30));
    assertEquals(USERS, rereads.size(), "every user told once");
  }
}
