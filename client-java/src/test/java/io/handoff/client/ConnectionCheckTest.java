package io.handoff.client;

import static io.handoff.client.Frames.delta;
import static io.handoff.client.Frames.set;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.Pong;
import io.handoff.protocol.v1.ServerFrame;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The app's check of the connection ({@link HandoffClient#checkConnection}) without sockets: only
 * the Pong carrying its Ping's nonce answers it; other frames (deltas still pushed over a link
 * whose other direction died, frames the node sent before the Ping) neither answer it nor move its
 * deadline. Time moves only when the test runs the scheduler's tasks. The end-to-end test over a
 * half-open relay is the server module's {@code ClientDeadServerTest}.
 */
class ConnectionCheckTest {
  private static final long WAIT_NANOS = ConnectionProbe.waitNanos(Duration.ZERO);

  private final RecordingListener listener = new RecordingListener();
  private final FakeEngine fake =
      new FakeEngine(
          FakeEngine.builder().heartbeatMargin(Duration.ZERO).listener(listener), System::nanoTime);
  private final ManualScheduler scheduler = fake.scheduler;
  private final SyncEngine engine = fake.engine;

  @Test
  void framesOtherThanItsPongDoNotAnswerTheCheck() {
    FakeChannel channel = connected();
    engine.checkConnection();
    long nonce = ping(channel.drain());

    channel.receive(delta("notes", 0xE1, 1, set("f", "v1")));
    channel.receive(pong(nonce + 1)); // Another Ping's answer, not this check's.
    scheduler.runDueWithin(WAIT_NANOS);

    assertTrue(channel.aborted, "the connection is given up");
    assertEquals(
        new RecordingListener.StateChange(
            ConnectionState.RECONNECTING,
            1006,
            "the app asked for a check, and a ping had no answer within 1000 ms"),
        listener.states.get(listener.states.size() - 1));
  }

  @Test
  void thePongCarryingItsNonceAnswersTheCheck() {
    FakeChannel channel = connected();
    engine.checkConnection();
    long nonce = ping(channel.drain());

    channel.receive(delta("notes", 0xE1, 1, set("f", "v1")));
    channel.receive(pong(nonce));
    scheduler.runDueWithin(WAIT_NANOS);

    assertFalse(channel.aborted, "the connection is kept");
    assertEquals(
        ConnectionState.CONNECTED, listener.states.get(listener.states.size() - 1).state());
    // The next check sends a Ping of its own, which the first one's Pong cannot answer.
    engine.checkConnection();
    long next = ping(channel.drain());
    assertNotEquals(nonce, next);
    channel.receive(pong(nonce));
    scheduler.runDueWithin(WAIT_NANOS);
    assertTrue(channel.aborted, "the first check's Pong does not answer the second");
  }

  private FakeChannel connected() {
    return fake.connected();
  }

  private static long ping(List<ClientFrame> sent) {
    List<ClientFrame> pings = sent.stream().filter(ClientFrame::hasPing).toList();
    assertEquals(1, pings.size(), () -> "expected one Ping, got " + sent);
    return pings.get(0).getPing().getNonce();
  }

  private static ServerFrame pong(long nonce) {
    return ServerFrame.newBuilder()
        .setPong(Pong.newBuilder().setNonce(nonce).setServerTimeMs(1_700_000_000_000L))
        .build();
  }
}
