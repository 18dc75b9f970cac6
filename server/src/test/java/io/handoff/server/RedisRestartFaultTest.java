package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.handoff.protocol.CloseCode;
import io.handoff.server.engine.StoreLimits;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.sync.RedisCommands;
import io.lettuce.core.codec.StringCodec;
import io.lettuce.core.output.StatusOutput;
import io.lettuce.core.protocol.CommandArgs;
import io.lettuce.core.protocol.CommandType;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Redis restarted cleanly and crashed (SIGKILL, with and without persistence) mid-load, two nodes
 * on it, devices given both addresses. Redis comes back still loading its data for a while ({@code
 * key-load-delay} over filler keys), so the nodes meet {@code LOADING}. Held against what the store
 * applied: no device's field ends on an older write of that device than its newest applied or acked
 * one, no write is applied twice or after a later one of its device, every device ends on the
 * store's document, and no device is closed (4005, store unavailable) while Redis is loading. With
 * persistence, no acked write is lost either. Closes while Redis is down are counted and reported.
 */
class RedisRestartFaultTest {
  /** Keys Redis loads slowly on start, so it answers LOADING for a second or more. */
  private static final int FILLER_KEYS = 10_000;

  private static final String LOAD_DELAY = "key-load-delay 150";

  private final Nodes nodes = new Nodes();

  @AfterEach
  void tearDown() {
    nodes.close();
  }

  /** Fills Redis with keys and rewrites the AOF, whose RDB preamble is then loaded key by key. */
  private static void fill(RedisProcess redis, boolean persistent) {
    RedisClient client = RedisClient.create(redis.url());
    try (StatefulRedisConnection<String, String> c = client.connect()) {
      RedisCommands<String, String> r = c.sync();
      r.dispatch(
          CommandType.DEBUG,
          new StatusOutput<>(StringCodec.UTF8),
          new CommandArgs<>(StringCodec.UTF8).add("POPULATE").add(FILLER_KEYS).add("filler"));
      long t0 = System.nanoTime();
      if (persistent) {
        r.bgrewriteaof();
        Conditions.await(
            "the AOF rewritten",
            () ->
                r.info("persistence").contains("aof_rewrite_in_progress:0")
                    && !r.info("persistence").contains("aof_rewrite_scheduled:1"),
            Duration.ofSeconds(30));
        System.out.printf("AOF rewritten in %d ms%n", (System.nanoTime() - t0) / 1_000_000);
      }
    } finally {
      client.shutdown();
    }
  }

  private StoreTruth run(
      RedisProcess redis,
      boolean persistent,
      int users,
      int devices,
      int faults,
      Consumer<RedisProcess> fault)
      throws Exception {
    return run(redis, persistent, false, users, devices, faults, fault);
  }

  /**
   * {@code replicated}: Redis gets a replica (started after the filler keys, so it holds them) and
   * the nodes durable acks on one replica.
   */
  private StoreTruth run(
      RedisProcess redis,
      boolean persistent,
      boolean replicated,
      int users,
      int devices,
      int faults,
      Consumer<RedisProcess> fault)
      throws Exception {
    long t0 = System.nanoTime();
    nodes.add(redis);
    fill(redis, persistent);
    System.out.printf("filled in %d ms%n", (System.nanoTime() - t0) / 1_000_000);
    StoreLimits.Builder settings = StoreLimits.builder().historyLength(StoreTruth.HISTORY);
    if (replicated) {
      RedisProcess replica = nodes.add(RedisProcess.startReplicaOf(redis));
      // Killed at the end, not stopped: a replica still writing the first AOF after a full resync
      // refuses SIGTERM ("can't exit"), and the stop would wait for it forever.
      nodes.add(replica::crash);
      Conditions.await(
          "the replica is linked to its master",
          () -> replicationInfo(replica).contains("master_link_status:up"),
          Duration.ofSeconds(60));
      settings.durableAcks(1);
    }
    StoreLimits limits = settings.build();
    HandoffServer n1 = nodes.redis(redis.url(), "n1", limits);
    HandoffServer n2 = nodes.redis(redis.url(), "n2", limits);
    List<String> names = new ArrayList<>();
    for (int u = 0; u < users; u++) {
      names.add("restart-" + u);
    }
    FaultLoad load =
        nodes.add(new FaultLoad(FaultLoad.urls(n1, n2), names, devices, Duration.ofMillis(20), 32));
    load.start();
    System.out.printf("load started at %d ms%n", (System.nanoTime() - t0) / 1_000_000);
    long firstFault = 0;
    long closedWhileLoading = 0;
    List<Long> loadingMillis = new ArrayList<>();
    for (int i = 0; i < faults; i++) {
      load.awaitMoreAcked(10L * users * devices, Duration.ofSeconds(90));
      firstFault = i == 0 ? System.nanoTime() : firstFault;
      long[] loading = watchingLoading(redis, fault);
      if (loading[0] != 0) {
        loadingMillis.add(TimeUnit.NANOSECONDS.toMillis(loading[1] - loading[0]));
        // A close decided in the last moments of loading reaches the device a little later.
        closedWhileLoading +=
            load.closesBetween(
                CloseCode.UNAVAILABLE.code(), loading[0], loading[1] + TimeUnit.SECONDS.toNanos(1));
      }
      System.out.printf("fault %d done at %d ms%n", i, (System.nanoTime() - t0) / 1_000_000);
    }
    load.awaitMoreAcked(10L * users * devices, Duration.ofSeconds(90));
    load.stopAndSettle(Duration.ofSeconds(90));
    System.out.printf("settled at %d ms%n", (System.nanoTime() - t0) / 1_000_000);
    StoreTruth truth =
        StoreTruth.read(n1.engine().store(), load).checkConvergence(load, Duration.ofSeconds(60));
    System.out.printf(
        "RedisRestartFaultTest (%s%s, %d faults): %s; devices resynced %d; closes by code %s;"
            + " Redis loading for ms %s; 4005 closes while loading %d, after the first fault %d;"
            + " answered OUTCOME_UNKNOWN %d, writes re-sent %d%n",
        persistent ? "persistent" : "no persistence",
        replicated ? ", a replica, durable acks 1" : "",
        faults,
        truth,
        load.devicesResynced(),
        load.closesByCode(),
        loadingMillis,
        closedWhileLoading,
        load.closesBetween(CloseCode.UNAVAILABLE.code(), firstFault, System.nanoTime()),
        n1.stats().writesOutcomeUnknown.sum() + n2.stats().writesOutcomeUnknown.sum(),
        load.writesResent());

    if (!truth.problems.isEmpty() || !truth.lostWrites.isEmpty()) {
      System.out.println(truth.problemsSample() + "\n" + truth.lostSample());
    }
    assertEquals(0, truth.olderFinal, truth.problemsSample());
    assertEquals(0, truth.reordered, truth.problemsSample());
    assertEquals(0, truth.duplicated, truth.problemsSample());
    assertEquals(0, truth.notAppliedButApplied, truth.problemsSample());
    assertEquals(0, truth.diverged, truth.problemsSample());
    assertEquals(0, truth.pending);
    assertEquals(
        0L,
        closedWhileLoading,
        "devices closed (4005) while Redis was loading: " + load.closesByCode());
    if (persistent) {
      assertEquals(0, truth.lost, () -> "acked and missing from the store: " + truth.lostSample());
    }
    return truth;
  }

  /**
   * Runs {@code fault} while watching Redis's INFO from another connection; returns when Redis
   * first said {@code loading:1} and when it next said {@code loading:0} ({@link
   * System#nanoTime()}, zeros if it was never seen loading).
   */
  private static long[] watchingLoading(RedisProcess redis, Consumer<RedisProcess> fault)
      throws InterruptedException {
    AtomicLong start = new AtomicLong();
    AtomicLong end = new AtomicLong();
    AtomicBoolean done = new AtomicBoolean();
    RedisClient client = RedisClient.create();
    RedisURI uri = RedisURI.create(redis.url());
    uri.setTimeout(Duration.ofSeconds(1));
    Thread watcher =
        new Thread(
            () -> {
              while (!done.get()) {
                try (StatefulRedisConnection<String, String> c = client.connect(uri)) {
                  while (!done.get()) {
                    if (c.sync().info("persistence").contains("loading:1")) {
                      start.compareAndSet(0, System.nanoTime());
                    } else if (start.get() != 0) {
                      end.compareAndSet(0, System.nanoTime());
                    }
                    LockSupport.parkNanos(5_000_000); // INFO every 5 ms.
                  }
                } catch (RuntimeException down) {
                  LockSupport.parkNanos(5_000_000); // Redis is down: connect again.
                }
              }
            },
            "loading-watch");
    watcher.start();
    try {
      fault.accept(redis);
      Conditions.await(
          "Redis seen done loading",
          () -> start.get() == 0 || end.get() != 0,
          Duration.ofSeconds(30));
    } finally {
      done.set(true);
      watcher.join(10_000);
      client.shutdown();
    }
    return new long[] {start.get(), end.get()};
  }

  private static String replicationInfo(RedisProcess r) {
    RedisClient client = RedisClient.create(r.url());
    try (StatefulRedisConnection<String, String> c = client.connect()) {
      return c.sync().info("replication");
    } finally {
      client.shutdown();
    }
  }

  private static RedisProcess persistent() {
    return RedisProcess.start(
        List.of("appendonly yes", "appendfsync always", "save \"\"", LOAD_DELAY));
  }

  /**
   * {@code appendfsync everysec}: Redis writes the file (to the operating system) before it
   * answers, so a crash of the process alone loses no acked write; only losing the host loses the
   * last second or two, which a test here cannot do.
   */
  @Test
  void redisWithEverySecondFsyncCrashedOnceMidLoadLosesNoAckedWrite() throws Exception {
    run(
        RedisProcess.start(
            List.of("appendonly yes", "appendfsync everysec", "save \"\"", LOAD_DELAY)),
        true,
        2,
        2,
        1,
        RedisProcess::crashAndStartAgain);
  }

  @Test
  void redisRestartedOnceMidLoadAndLoadingComesBackWithNothingLostOrReordered() throws Exception {
    run(persistent(), true, 2, 2, 1, RedisProcess::restart);
  }

  @Test
  @Tag("fault")
  void redisRestartedCleanlyThreeTimesUnderLoadOfThirtyDevices() throws Exception {
    run(persistent(), true, 10, 3, 3, RedisProcess::restart);
  }

  @Test
  @Tag("fault")
  void redisCrashedWithPersistenceThreeTimesUnderLoadOfThirtyDevices() throws Exception {
    run(persistent(), true, 10, 3, 3, RedisProcess::crashAndStartAgain);
  }

  @Test
  void redisWithAReplicaAndDurableAcksCrashedOnceMidLoadLosesNoAckedWrite() throws Exception {
    run(persistent(), true, true, 2, 2, 1, RedisProcess::crashAndStartAgain);
  }

  @Test
  @Tag("fault")
  void redisWithAReplicaAndDurableAcksCrashedThreeTimesUnderLoadOfThirtyDevicesLosesNoAckedWrite()
      throws Exception {
    run(persistent(), true, true, 10, 3, 3, RedisProcess::crashAndStartAgain);
  }

  @Test
  @Tag("fault")
  void redisCrashedWithoutPersistenceThreeTimesUnderLoadOfThirtyDevices() throws Exception {
    run(
        RedisProcess.start(List.of("appendonly no", "save \"\"", LOAD_DELAY)),
        false,
        10,
        3,
        3,
        RedisProcess::crashAndStartAgain);
  }
}
