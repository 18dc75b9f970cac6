package io.handoff.client;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A client with a token supplier after {@code 4502 UNAUTHORIZED}, over a real socket to a scripted
 * server: an upgrade it refuses with 401, or a close with 4502 in band (as a proxy that checks
 * tokens may send). The engine runs on a real event loop with the real connector; its clock is the
 * test's, and its scheduler only records each reconnect delay asked for, so no delay is waited out.
 */
class UnauthorizedReconnectSocketTest {
  private static final String TOKEN = "test-token";
  private static final long WAIT = TestServer.WAIT_SECONDS;
  private static final long INITIAL = TimeUnit.MILLISECONDS.toNanos(100);
  // Long, so that the Welcome's timer is told apart from a reconnect (and never runs).
  private static final Duration CONNECT_TIMEOUT = Duration.ofMinutes(7);
  private static final double RANDOM = 0.5;

  // The connect timeout's task is no reconnect: not recorded.
  private final RecordedReconnects reconnects =
      new RecordedReconnects(delay -> delay != CONNECT_TIMEOUT.toNanos());
  private final List<String> states = new CopyOnWriteArrayList<>();
  private final AtomicLong nanos = new AtomicLong();
  private volatile String token = TOKEN;
  private TestServer server;
  private ClientLoop loop;
  private SyncEngine engine;

  @BeforeEach
  void start() throws InterruptedException {
    server = new TestServer(TOKEN);
    loop = new ClientLoop(null);
    ClientConfig config =
        new ClientConfig(
            HandoffClient.builder()
                .url(server.url())
                .tokenSupplier(() -> token)
                .connectTimeout(CONNECT_TIMEOUT)
                .reconnectBackoff(Duration.ofMillis(100), Duration.ofSeconds(30))
                .listener(
                    new HandoffListener() {
                      @Override
                      public void onStateChanged(ConnectionState state, int code, String reason) {
                        states.add(state + " " + code);
                      }
                    }));
    engine = reconnects.engine(config, loop, RANDOM, nanos::get);
  }

  @AfterEach
  void stop() {
    loop.close(engine::close);
    server.close();
  }

  private RecordedReconnects.Scheduled nextReconnect() throws InterruptedException {
    return reconnects.next(WAIT);
  }

  /** The delay of the {@code attempt}-th reconnect in a row (from 0), with the test's draw. */
  private static long delay(int attempt) {
    return (long) (RANDOM * (INITIAL << attempt));
  }

  /** Runs the scheduled attempt; the server takes it and the client is welcomed. */
  private TestServer.Connection welcomed(RecordedReconnects.Scheduled attempt)
      throws InterruptedException {
    loop.execute(attempt.task());
    return server.acceptAndWelcome();
  }

  private String last() {
    return states.isEmpty() ? "" : states.get(states.size() - 1);
  }

  private void awaitConnected() throws InterruptedException {
    Conditions.await(
        "connected, after " + states, () -> last().equals("CONNECTED 0"), Duration.ofSeconds(WAIT));
  }

  @Test
  void aFourFiveOhTwoInBandAfterAConnectionThatLastedStartsTheBackoffOver() throws Exception {
    // Three upgrades refused with 401 (the token is stale): the backoff grows with each.
    token = "stale-token";
    engine.connect();
    RecordedReconnects.Scheduled next = null;
    for (int i = 0; i < 3; i++) {
      if (next != null) {
        loop.execute(next.task());
      }
      next = nextReconnect();
      assertEquals(delay(i), next.delayNanos(), "refusal " + i);
    }
    assertEquals("RECONNECTING 4502", states.get(1), states.toString());
    token = TOKEN;
    // The fourth attempt is taken; the connection lasts, then a proxy closes it with 4502.
    TestServer.Connection lasting = welcomed(next);
    awaitConnected();
    nanos.addAndGet(Reconnects.STABLE_CONNECTION_NANOS);
    lasting.close(4502, "token expired");
    next = nextReconnect();
    assertEquals(delay(0), next.delayNanos(), "as after any close of a connection that lasted");
    assertEquals("RECONNECTING 4502", last(), states.toString());

    // A connection welcomed and closed with 4502 at once does not start it over.
    TestServer.Connection brief = welcomed(next);
    awaitConnected();
    brief.close(4502, "token expired");
    assertEquals(delay(1), nextReconnect().delayNanos());
  }
}
