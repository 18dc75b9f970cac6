package io.handoff.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * How long the client waits after an upgrade refused with 429 or 503, over a real socket to a
 * scripted server that refuses as the node (or a proxy in front of it) does. The engine runs on a
 * real event loop with the real connector; its scheduler only records each delay asked for, and the
 * test runs the attempt when it wants, so no delay is waited out.
 */
class UpgradeRefusalWaitSocketTest {
  private static final String TOKEN = "test-token";
  private static final long WAIT = TestServer.WAIT_SECONDS;
  private static final long SECOND = TimeUnit.SECONDS.toNanos(1);

  private final RecordedReconnects scheduled = new RecordedReconnects(delay -> true);
  private TestServer server;
  private ClientLoop loop;
  private SyncEngine engine;

  @BeforeEach
  void start() throws InterruptedException {
    server = new TestServer(TOKEN);
    loop = new ClientLoop(null);
  }

  @AfterEach
  void stop() {
    if (engine != null) {
      loop.close(engine::close);
    } else {
      loop.close(() -> null);
    }
    server.close();
  }

  /** An engine whose random draws are all {@code random}, with the given backoff ceiling. */
  private SyncEngine engine(double random, Duration reconnectMax) {
    ClientConfig config =
        new ClientConfig(
            HandoffClient.builder()
                .url(server.url())
                .token(TOKEN)
                .reconnectBackoff(Duration.ofMillis(100), reconnectMax));
    engine = scheduled.engine(config, loop, random, System::nanoTime);
    return engine;
  }

  /** Closes the engine on its loop, and forgets what it scheduled. */
  private void closeEngine() throws Exception {
    CompletableFuture<Void> closed = new CompletableFuture<>();
    loop.execute(
        () -> {
          engine.close();
          closed.complete(null);
        });
    closed.get(WAIT, TimeUnit.SECONDS);
    scheduled.clear();
  }

  private RecordedReconnects.Scheduled nextReconnect() throws InterruptedException {
    return scheduled.next(WAIT);
  }

  @Test
  void aRefusalWith429AndRetryAfterWaitsAtLeastThatLongWithJitterOnTop() throws Exception {
    server.refuseWith = 429;
    server.refuseRetryAfter = "7";
    // The smallest draw: the backoff alone would try again at once.
    engine(0.0, Duration.ofSeconds(30)).connect();
    assertEquals(7 * SECOND, nextReconnect().delayNanos());
    closeEngine();

    // The largest draw: up to half of it again on top, so a refused crowd spreads out.
    engine(0.999, Duration.ofSeconds(30)).connect();
    long delay = nextReconnect().delayNanos();
    assertTrue(delay > 10 * SECOND && delay < 21 * SECOND / 2, "waited " + delay + " ns");
  }

  @Test
  void aRetryAfterBeyondAMinuteIsTakenAsAMinute() throws Exception {
    server.refuseWith = 429;
    server.refuseRetryAfter = "86400";
    engine(0.0, Duration.ofSeconds(30)).connect();
    assertEquals(60 * SECOND, nextReconnect().delayNanos());
  }

  @Test
  void aLongerBackoffStillWinsOverAShortRetryAfter() throws Exception {
    server.refuseWith = 429;
    server.refuseRetryAfter = "1";
    engine(0.999, Duration.ofSeconds(30)).connect();
    for (int i = 0; i < 6; i++) {
      RecordedReconnects.Scheduled s = nextReconnect();
      loop.execute(s.task());
    }
    // The seventh refusal in a row: the backoff's ceiling is 100 ms * 2^6 = 6.4 s by now.
    long delay = nextReconnect().delayNanos();
    assertTrue(delay > 6 * SECOND, "waited " + delay + " ns");
  }

  @Test
  void aRefusalWith503WithoutRetryAfterComesBackSoonAndConnects() throws Exception {
    // A proxy in front of a node that drains, or the node's own store check: not this device's
    // fault, so the long backoff it has built up does not apply.
    server.refuseWith = 503;
    CompletableFuture<Void> connected = engine(0.999, Duration.ofMinutes(5)).connect();
    for (int i = 0; i < 12; i++) {
      RecordedReconnects.Scheduled s = nextReconnect();
      assertTrue(s.delayNanos() < 2 * SECOND, "attempt " + i + " waited " + s.delayNanos());
      if (i == 11) {
        server.refuseWith = 0;
      }
      loop.execute(s.task());
    }
    server.acceptAndWelcome();
    connected.get(WAIT, TimeUnit.SECONDS);
  }

  @Test
  void aRefusalWith503AndRetryAfterWaitsThatLong() throws Exception {
    server.refuseWith = 503;
    server.refuseRetryAfter = "5";
    engine(0.0, Duration.ofSeconds(30)).connect();
    assertEquals(5 * SECOND, nextReconnect().delayNanos());
  }

  @Test
  void aRetryAfterOnAnotherStatusOrAsADateIsNotRead() throws Exception {
    server.refuseWith = 404;
    server.refuseRetryAfter = "30";
    engine(0.0, Duration.ofSeconds(30)).connect();
    assertEquals(0, nextReconnect().delayNanos());
    closeEngine();

    server.refuseWith = 429;
    server.refuseRetryAfter = "Wed, 21 Oct 2065 07:28:00 GMT";
    engine(0.0, Duration.ofSeconds(30)).connect();
    assertEquals(0, nextReconnect().delayNanos());
  }
}
