package io.handoff.client.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.ServerFrame;
import io.netty.channel.embedded.EmbeddedChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * {@link DeferredFrameChannel} on an {@link EmbeddedChannel}'s event loop, whose tasks and timers
 * run only when the test says: that a token coming after its attempt ended starts no connection is
 * seen by running the task its arrival queued on the loop, not by waiting for a connection that
 * does not come.
 */
class DeferredFrameChannelTest {
  private static final long TIMEOUT_MILLIS = 3_000;

  private final EmbeddedChannel loop = new EmbeddedChannel();
  private final CompletableFuture<String> token = new CompletableFuture<>();
  // The token of each connection started, and each end reported.
  private final List<String> connectedWith = new ArrayList<>();
  private final List<String> closes = new ArrayList<>();

  DeferredFrameChannelTest() {
    loop.freezeTime();
  }

  @AfterEach
  void finish() {
    loop.finishAndReleaseAll();
  }

  /** The attempt, waiting for {@link #token} at most {@code timeoutMillis} (0: no limit). */
  private FrameChannel attempt(long timeoutMillis) {
    return DeferredFrameChannel.connect(
        token,
        loop.eventLoop(),
        timeoutMillis,
        t -> {
          connectedWith.add(t);
          return new Unused();
        },
        new FrameListener() {
          @Override
          public void onOpen(FrameChannel channel, boolean helloRead) {}

          @Override
          public void onFrame(ServerFrame frame) {}

          @Override
          public void onClose(int closeCode, String reason, Throwable cause) {
            closes.add(closeCode + " " + reason);
          }
        });
  }

  /** Completes the token and runs what that queued on the loop: its hop, and anything after. */
  private void tokenComes(String value) {
    token.complete(value);
    assertTrue(loop.hasPendingTasks(), "the token's arrival hops onto the loop");
    loop.runPendingTasks();
  }

  @Test
  void aTokenInTimeConnectsWithItAndEndsTheWait() {
    attempt(TIMEOUT_MILLIS);
    loop.advanceTimeBy(TIMEOUT_MILLIS - 1, TimeUnit.MILLISECONDS);
    loop.runScheduledPendingTasks();

    tokenComes("in time");

    assertEquals(List.of("in time"), connectedWith);
    loop.advanceTimeBy(1, TimeUnit.HOURS);
    loop.runScheduledPendingTasks();
    assertEquals(List.of(), closes, "the wait's timer no longer ends the attempt");
  }

  @Test
  void aTokenThatComesAfterItsAttemptTimedOutStartsNoConnection() {
    attempt(TIMEOUT_MILLIS);
    loop.advanceTimeBy(TIMEOUT_MILLIS, TimeUnit.MILLISECONDS);
    loop.runScheduledPendingTasks();
    assertEquals(List.of("1006 no access token from the token source within 3000 ms"), closes);

    tokenComes("late");

    assertEquals(List.of(), connectedWith, "a late token must not connect");
    assertEquals(1, closes.size(), "the attempt's end is reported once: " + closes);
  }

  @Test
  void aTokenThatComesAfterItsAttemptWasDroppedStartsNoConnection() {
    attempt(0).abort();
    loop.runPendingTasks();
    assertEquals(List.of("1006 connection dropped by the client"), closes);

    tokenComes("late");

    assertEquals(List.of(), connectedWith, "a late token must not connect");
    assertEquals(1, closes.size(), "the attempt's end is reported once: " + closes);
  }

  /** The connection a token in time starts: the tests only count it. */
  private static final class Unused implements FrameChannel {
    @Override
    public void write(ClientFrame frame) {
      throw new AssertionError("not written to");
    }

    @Override
    public void flush() {}

    @Override
    public void readTimeout(long millis) {}

    @Override
    public Future<?> close() {
      return CompletableFuture.completedFuture(null);
    }

    @Override
    public void abort() {}
  }
}
