package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.server.engine.StoreLimits;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Redis hung mid-load (SIGSTOP, then SIGCONT): commands sent meanwhile are queued in Redis and run
 * when it resumes. Two nodes on one Redis, devices given both addresses. Held against what the
 * store applied: no write the application was told failed was applied, no acked write is missing,
 * every write applied once and in each device's order, and every device ends on the store's
 * document; {@code /readyz} answers 503 while Redis hangs.
 */
class RedisPauseFaultTest {
  private final Nodes nodes = new Nodes();
  private final RedisProcess redis = nodes.add(RedisProcess.start());
  private final HttpClient http =
      HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

  @AfterEach
  void tearDown() {
    nodes.close();
  }

  private int readyz(HandoffServer node) {
    try {
      URI uri = URI.create("http://127.0.0.1:" + node.port() + "/readyz");
      return http.send(
              HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(2)).build(),
              HttpResponse.BodyHandlers.discarding())
          .statusCode();
    } catch (Exception e) {
      return -1;
    }
  }

  /** /readyz answers of each node, polled every 100 ms from now on. */
  private final class ReadyzLog {
    final List<HandoffServer> watched;
    final List<List<Integer>> answers = new ArrayList<>();
    final ConcurrentHashMap<Integer, Long> first503Nanos = new ConcurrentHashMap<>();
    final ScheduledExecutorService poller = Executors.newSingleThreadScheduledExecutor();
    final Signal polled = new Signal();

    ReadyzLog(List<HandoffServer> watched) {
      this.watched = watched;
      for (int i = 0; i < watched.size(); i++) {
        answers.add(java.util.Collections.synchronizedList(new ArrayList<>()));
      }
      poller.scheduleWithFixedDelay(this::poll, 0, 100, TimeUnit.MILLISECONDS);
    }

    private void poll() {
      for (int i = 0; i < watched.size(); i++) {
        int status = readyz(watched.get(i));
        answers.get(i).add(status);
        if (status == 503) {
          first503Nanos.putIfAbsent(i, System.nanoTime());
        }
      }
      polled.fire();
    }

    boolean all503() {
      return first503Nanos.size() == watched.size();
    }

    /** Answers of node {@code i} from its first 503 on. */
    List<Integer> from503(int i) {
      synchronized (answers.get(i)) {
        List<Integer> a = answers.get(i);
        int first = a.indexOf(503);
        return first < 0 ? List.of() : List.copyOf(a.subList(first, a.size()));
      }
    }

    public void close() throws InterruptedException {
      poller.shutdown();
      assertTrue(poller.awaitTermination(10, TimeUnit.SECONDS));
    }
  }

  private StoreTruth run(int users, int devices, Duration pause) throws Exception {
    StoreLimits limits = StoreLimits.builder().historyLength(StoreTruth.HISTORY).build();
    HandoffServer n1 = nodes.redis(redis.url(), "n1", limits);
    HandoffServer n2 = nodes.redis(redis.url(), "n2", limits);
    List<String> names = new ArrayList<>();
    for (int u = 0; u < users; u++) {
      names.add("pause-" + u);
    }
    FaultLoad load =
        nodes.add(new FaultLoad(FaultLoad.urls(n1, n2), names, devices, Duration.ofMillis(20), 32));
    load.start().awaitMoreAcked(10L * users * devices, Duration.ofSeconds(60));
    assertEquals(200, readyz(n1));

    long pausedAt = System.nanoTime();
    redis.pause();
    ReadyzLog log = new ReadyzLog(List.of(n1, n2));
    if (pause == null) {
      // The short run: hang until both nodes said so, then resume.
      log.polled.await("/readyz 503 on both nodes", log::all503, Duration.ofSeconds(15));
    } else {
      CompletableFuture.runAsync(
              () -> {}, CompletableFuture.delayedExecutor(pause.toMillis(), TimeUnit.MILLISECONDS))
          .get(pause.toSeconds() + 5, TimeUnit.SECONDS);
    }
    log.close(); // Its last answers are from before the resume.
    long pauseMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - pausedAt);
    redis.resume();

    load.awaitMoreAcked(10L * users * devices, Duration.ofSeconds(60));
    load.stopAndSettle(Duration.ofSeconds(90));
    StoreTruth truth =
        StoreTruth.read(n1.engine().store(), load).checkConvergence(load, Duration.ofSeconds(60));
    System.out.printf(
        "RedisPauseFaultTest: paused %d ms; %s; closes by code %s; /readyz 503 after %s ms%n",
        pauseMillis,
        truth,
        load.closesByCode(),
        log.first503Nanos.values().stream()
            .map(t -> TimeUnit.NANOSECONDS.toMillis(t - pausedAt))
            .toList());

    assertTrue(log.all503(), "/readyz answered 503 on both nodes while Redis hung");
    for (int i = 0; i < 2; i++) {
      assertTrue(
          log.from503(i).stream().allMatch(s -> s == 503),
          "node " + i + " stayed 503 until Redis resumed: " + log.from503(i));
    }
    assertEquals(0, truth.notAppliedButApplied, truth.problemsSample());
    assertEquals(0, truth.lost, () -> "acked and missing from the store: " + truth.lostSample());
    assertEquals(0, truth.duplicated, truth.problemsSample());
    assertEquals(0, truth.reordered, truth.problemsSample());
    assertEquals(0, truth.olderFinal, truth.problemsSample());
    assertEquals(0, truth.diverged, truth.problemsSample());
    assertEquals(0, truth.pending);
    assertEquals(200, readyz(n1));
    assertEquals(200, readyz(n2));
    return truth;
  }

  @Test
  void hungRedisUntilBothNodesSayNotReadyThenResumedLosesNothingAndMisreportsNothing()
      throws Exception {
    run(2, 2, null);
  }

  @Test
  @Tag("fault")
  void redisPausedTenSecondsUnderLoadOfThirtyDevices() throws Exception {
    run(10, 3, Duration.ofSeconds(10));
  }
}
