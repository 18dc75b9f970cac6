package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.handoff.client.ConnectionState;
import io.handoff.client.HandoffClient;
import io.handoff.client.HandoffListener;
import io.handoff.protocol.CloseCode;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The Java client on a connection that dies without a FIN or a reset: a relay between it and the
 * node stops passing anything either way and tells neither side. The client hears nothing more (the
 * node's pings are lost), gives the connection up once it has heard nothing for two of the node's
 * heartbeat intervals plus its margin (here 300 ms instead of the default 5 s), reconnects and
 * resumes; or at once when the app asks it to check its connection ({@link
 * HandoffClient#checkConnection}), which it then gives up within the margin (at least a second).
 */
class ClientDeadServerTest {
  private static final Duration HEARTBEAT = Duration.ofMillis(200);

  @Test
  void clientGivesUpASilentConnectionAndReconnects() throws Exception {
    List<String> states = Collections.synchronizedList(new ArrayList<>());
    Signal signal = new Signal();
    HandoffListener watcher =
        new HandoffListener() {
          @Override
          public void onStateChanged(ConnectionState state, int closeCode, String reason) {
            states.add(state + (closeCode == 0 ? "" : " " + closeCode));
            signal.fire();
          }
        };
    try (TestServer server = TestServer.start(b -> b.heartbeatInterval(HEARTBEAT));
        ChaosProxy relay = new ChaosProxy(server.port());
        HandoffClient client =
            TestServer.clientBuilder(relay.url(), "ines", "phone")
                // Given up after 2 x 200 ms + 300 ms of silence, not 2 x 200 ms + the default 5 s.
                .heartbeatMargin(Duration.ofMillis(300))
                .followAll()
                .listener(watcher)
                .build()) {
      client.connect().get(10, TimeUnit.SECONDS);
      client.document("notes").set("a", ByteString.copyFromUtf8("1")).get(10, TimeUnit.SECONDS);

      long frozenAt = System.nanoTime();
      relay.freezeOpenConnections();
      signal.await(
          "the client gave the silent connection up and connected again",
          () -> {
            synchronized (states) {
              return states.stream().filter("CONNECTED"::equals).count() == 2;
            }
          },
          Duration.ofSeconds(30));
      long tookMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - frozenAt);
      assertTrue(
          states.contains("RECONNECTING " + CloseCode.IDLE_TIMEOUT.code()),
          "given up for silence: " + states);
      assertEquals(
          2L,
          client.document("notes").set("a", ByteString.copyFromUtf8("2")).get(10, TimeUnit.SECONDS),
          "writes go through the new connection; took " + tookMillis + " ms");
      System.out.println("reconnected " + tookMillis + " ms after the freeze: " + states);
    }
  }

  /**
   * A node whose heartbeat is ten minutes, and reconnects that wait a random time up to an hour:
   * only the check can explain a silent connection given up and made again within the deadline.
   */
  @Test
  void checkConnectionGivesUpASilentConnectionWithinTheMarginAndReconnectsAtOnce()
      throws Exception {
    List<String> states = Collections.synchronizedList(new ArrayList<>());
    Signal signal = new Signal();
    try (TestServer server = TestServer.start(b -> b.heartbeatInterval(Duration.ofMinutes(10)));
        ChaosProxy relay = new ChaosProxy(server.port());
        HandoffClient client = quietClient(relay.url(), states, signal)) {
      client.checkConnection(); // Not connected yet: nothing to check.
      client.connect().get(10, TimeUnit.SECONDS);
      client.document("notes").set("a", ByteString.copyFromUtf8("1")).get(10, TimeUnit.SECONDS);

      relay.freezeOpenConnections();
      client.checkConnection();
      client.checkConnection(); // One check at a time: no second give-up, no second reconnect.

      signal.await(
          "the client gave the silent connection up and connected again",
          () -> count(states, "CONNECTED") == 2,
          Duration.ofSeconds(30));
      assertEquals(
          List.of(
              "CONNECTING",
              "CONNECTED",
              "RECONNECTING 1006 the app asked for a check, and a ping had no answer within 1000 ms",
              "CONNECTED"),
          states);
      assertEquals(
          2L,
          client.document("notes").set("a", ByteString.copyFromUtf8("2")).get(10, TimeUnit.SECONDS),
          "writes go through the new connection");
    }
  }

  @Test
  void checkConnectionKeepsALiveConnection() throws Exception {
    List<String> states = Collections.synchronizedList(new ArrayList<>());
    try (TestServer server = TestServer.start(b -> b.heartbeatInterval(Duration.ofMinutes(10)));
        HandoffClient client = quietClient(server.url(), states, new Signal())) {
      client.connect().get(10, TimeUnit.SECONDS);
      client.checkConnection();
      // The write's ack is a frame: it answers the check, whose deadline can no longer pass.
      assertEquals(
          1L,
          client
              .document("notes")
              .set("a", ByteString.copyFromUtf8("1"))
              .get(10, TimeUnit.SECONDS));
      assertEquals(List.of("CONNECTING", "CONNECTED"), states);
    }
  }

  /**
   * A client of ines's phone at {@code url} whose reconnects wait up to an hour and whose heartbeat
   * margin is 0 (a check still waits a second), recording each state, its code and why.
   */
  private static HandoffClient quietClient(String url, List<String> states, Signal signal) {
    HandoffListener watcher =
        new HandoffListener() {
          @Override
          public void onStateChanged(ConnectionState state, int closeCode, String reason) {
            states.add(state + (closeCode == 0 ? "" : " " + closeCode + " " + reason));
            signal.fire();
          }
        };
    return TestServer.clientBuilder(url, "ines", "phone")
        .reconnectBackoff(Duration.ofHours(1), Duration.ofHours(1))
        .heartbeatMargin(Duration.ZERO)
        .followAll()
        .listener(watcher)
        .build();
  }

  private static long count(List<String> states, String state) {
    synchronized (states) {
      return states.stream().filter(state::equals).count();
    }
  }
}
