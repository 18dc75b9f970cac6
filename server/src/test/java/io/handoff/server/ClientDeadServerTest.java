package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.handoff.client.ConnectionState;
import io.handoff.client.Document;
import io.handoff.client.HandoffClient;
import io.handoff.client.HandoffListener;
import io.handoff.protocol.CloseCode;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * The Java client on a connection that dies without a FIN or a reset: a relay between it and the
 * node stops passing anything either way and tells neither side. The client hears nothing more (the
 * node's pings are lost), gives the connection up once it has heard nothing for two of the node's
 * heartbeat intervals plus its margin (here 300 ms instead of the default 5 s), reconnects and
 * resumes; or at once when the app asks it to check its connection ({@link
 * HandoffClient#checkConnection}), which it then gives up within the margin (at least a second)
 * unless the Pong answering the check's Ping came, also while the node's deltas still arrive over a
 * link that lost the client's direction.
 */
class ClientDeadServerTest {
  private static final Duration HEARTBEAT = Duration.ofMillis(200);

  @Test
  void clientGivesUpASilentConnectionAndReconnects() throws Exception {
    List<String> states = Collections.synchronizedList(new ArrayList<>());
    Signal signal = new Signal();
    HandoffListener watcher = recording(states, signal, false);
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
   * The regular heartbeat on a half-open link: the client counts any frame as heard, which only
   * says the node's direction lives; the node watches the client's, hears nothing (the client's
   * pongs and writes are lost), and closes the connection after two intervals, its Disconnect and
   * close reaching the client over the direction that still works.
   */
  @Test
  void nodeClosesAHalfOpenLinkAndTheClientResumes() throws Exception {
    List<String> states = Collections.synchronizedList(new ArrayList<>());
    Signal signal = new Signal();
    HandoffListener watcher = recording(states, signal, true);
    try (TestServer server = TestServer.start(b -> b.heartbeatInterval(HEARTBEAT));
        ChaosProxy relay = new ChaosProxy(server.port());
        HandoffClient client =
            TestServer.clientBuilder(relay.url(), "ines", "phone")
                .followAll()
                .listener(watcher)
                .build()) {
      client.connect().get(10, TimeUnit.SECONDS);
      client.document("notes").set("a", utf8("1")).get(10, TimeUnit.SECONDS);

      relay.cutUpstreamOfOpenConnections();
      CompletableFuture<Long> stuck = client.document("notes").set("a", utf8("2"));
      signal.await(
          "the node closed the half-open link and the client connected again",
          () -> count(states, "CONNECTED") == 2,
          Duration.ofSeconds(30));
      assertEquals(
          List.of(
              "CONNECTING",
              "CONNECTED",
              // The node's reason: the client's own timeout says "nothing received from the
              // server".
              "RECONNECTING 4002 nothing received for two heartbeat intervals",
              "CONNECTED"),
          states);
      assertEquals(
          2L, stuck.get(10, TimeUnit.SECONDS), "the write that could not cross is applied");
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

  /**
   * A half-open link: the relay stops carrying what the phone sends, while the node's deltas of the
   * tv's writes still reach it. The check's Ping never reaches the node, and only the Pong carrying
   * its nonce answers the check: the deltas arriving meanwhile do not keep the link, which the
   * phone gives up within the margin (the node's own heartbeat, ten minutes, would close it much
   * later). It resumes on a new connection, its write that could not cross sent again and applied
   * once, and has every write of the tv's.
   */
  @Test
  void checkConnectionGivesUpAHalfOpenLinkWhileDeltasStillArrive() throws Exception {
    List<String> states = Collections.synchronizedList(new ArrayList<>());
    Signal signal = new Signal();
    AtomicBoolean writing = new AtomicBoolean(true);
    AtomicLong tvWrites = new AtomicLong();
    try (TestServer server = TestServer.start(b -> b.heartbeatInterval(Duration.ofMinutes(10)));
        ChaosProxy relay = new ChaosProxy(server.port());
        HandoffClient phone = quietClient(relay.url(), states, signal);
        HandoffClient tv =
            TestServer.clientBuilder(server.url(), "ines", "tv").followAll().build()) {
      phone.connect().get(10, TimeUnit.SECONDS);
      tv.connect().get(10, TimeUnit.SECONDS);
      Document onPhone = phone.document("notes");
      assertEquals(1L, onPhone.set("phone", utf8("1")).get(10, TimeUnit.SECONDS));

      relay.cutUpstreamOfOpenConnections();
      CompletableFuture<Long> stuck = onPhone.set("phone", utf8("2"));
      // The tv writes, one write at a time every 20 ms, at most 3,000, until the phone is back:
      // deltas keep coming while the check waits.
      ScheduledExecutorService writer = Executors.newSingleThreadScheduledExecutor();
      AtomicReference<Exception> writeFailed = new AtomicReference<>();
      writer.scheduleWithFixedDelay(
          () -> {
            long i = tvWrites.get() + 1;
            if (i > 3000 || !writing.get() || writeFailed.get() != null) {
              return;
            }
            try {
              tv.document("notes").set("tv", utf8(Long.toString(i))).get(10, TimeUnit.SECONDS);
              tvWrites.set(i);
            } catch (Exception e) {
              writeFailed.set(e);
            }
          },
          0,
          20,
          TimeUnit.MILLISECONDS);
      try {
        signal.await(
            "the tv's deltas reach the phone over the half-open link",
            () -> onPhone.get("tv") != null,
            Duration.ofSeconds(10));
        phone.checkConnection();
        signal.await(
            "the phone gave the half-open link up and connected again",
            () -> count(states, "CONNECTED") == 2,
            Duration.ofSeconds(30));
      } finally {
        writing.set(false);
        writer.shutdown();
        assertTrue(writer.awaitTermination(20, TimeUnit.SECONDS), "the tv's writer stopped");
      }
      if (writeFailed.get() != null) {
        throw new AssertionError("the tv's write failed", writeFailed.get());
      }
      assertEquals(
          List.of(
              "CONNECTING",
              "CONNECTED",
              "RECONNECTING 1006 the app asked for a check, and a ping had no answer within 1000 ms",
              "CONNECTED"),
          states);
      long version = 2 + tvWrites.get(); // The phone's two writes, each applied once, and the tv's.
      assertTrue(stuck.get(10, TimeUnit.SECONDS) > 1, "the phone's write is applied");
      Document onTv = tv.document("notes");
      signal.await(
          "both devices have every write",
          () -> onPhone.version() == version && onTv.version() == version,
          Duration.ofSeconds(10));
      assertEquals(onTv.fields(), onPhone.fields());
      assertEquals(utf8("2"), onPhone.get("phone"));
      assertEquals(utf8(Long.toString(tvWrites.get())), onPhone.get("tv"));
    }
  }

  @Test
  void checkConnectionKeepsALiveConnection() throws Exception {
    List<String> states = Collections.synchronizedList(new ArrayList<>());
    // A margin of a minute: the check waits that long, so a loaded machine's slow Pong cannot give
    // the connection up. Which frame answers a check is ConnectionCheckTest's, on the test's clock.
    try (TestServer server = TestServer.start(b -> b.heartbeatInterval(Duration.ofMinutes(10)));
        HandoffClient client =
            quietClient(server.url(), states, new Signal(), Duration.ofMinutes(1))) {
      client.connect().get(10, TimeUnit.SECONDS);
      client.checkConnection();
      // The node answers in order: the check's Pong comes before the write's ack, so once the ack
      // is here the check is answered and its deadline can no longer pass.
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
   * A listener that records each state in {@code states}, with its close code (and its reason, if
   * {@code reasons}), and fires {@code signal}.
   */
  private static HandoffListener recording(List<String> states, Signal signal, boolean reasons) {
    return new HandoffListener() {
      @Override
      public void onStateChanged(ConnectionState state, int closeCode, String reason) {
        states.add(state + (closeCode == 0 ? "" : " " + closeCode + (reasons ? " " + reason : "")));
        signal.fire();
      }
    };
  }

  /**
   * A client of ines's phone at {@code url} whose reconnects wait up to an hour and whose heartbeat
   * margin is 0 (a check still waits a second), recording each state, its code and why.
   */
  private static HandoffClient quietClient(String url, List<String> states, Signal signal) {
    return quietClient(url, states, signal, Duration.ZERO);
  }

  /** As {@link #quietClient(String, List, Signal)}, with the heartbeat margin {@code margin}. */
  private static HandoffClient quietClient(
      String url, List<String> states, Signal signal, Duration margin) {
    HandoffListener watcher = recording(states, signal, true);
    return TestServer.clientBuilder(url, "ines", "phone")
        .reconnectBackoff(Duration.ofHours(1), Duration.ofHours(1))
        .heartbeatMargin(margin)
        .followAll()
        .listener(watcher)
        .build();
  }

  private static ByteString utf8(String text) {
    return ByteString.copyFromUtf8(text);
  }

  private static long count(List<String> states, String state) {
    synchronized (states) {
      return states.stream().filter(state::equals).count();
    }
  }
}
