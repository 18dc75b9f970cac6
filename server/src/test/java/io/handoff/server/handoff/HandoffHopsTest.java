package io.handoff.server.handoff;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.handoff.protocol.CloseCode;
import io.handoff.protocol.bus.v1.PresenceChanged;
import io.handoff.protocol.bus.v1.UserSignal;
import io.handoff.protocol.v1.DevicePresence;
import io.handoff.protocol.v1.Error;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.server.Scheduler;
import io.handoff.server.ServerConfig;
import io.handoff.server.ServerStats;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.memory.MemoryEngine;
import io.handoff.server.session.Connection;
import io.handoff.server.session.Deadline;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Signals from other threads hop onto the session's event loop through a bounded count of pending
 * hops: never more than the bound queued, and one flush for the hops queued together. The event
 * loop is a list the test runs by hand.
 */
class HandoffHopsTest {
  private MemoryEngine engine;
  private HandoffService service;

  @BeforeEach
  void start() {
    engine = new MemoryEngine(StoreLimits.builder().build());
    ServerConfig config =
        ServerConfig.builder().port(0).jwtSecret("hops-secret-hops-secret-hops-secret").build();
    service = new HandoffService(config, engine, new ServerStats(), Scheduler.system());
  }

  @AfterEach
  void stop() {
    service.stop();
    engine.close();
  }

  @Test
  void signalsBeyondTheBoundAreNotQueuedAndTheHopsQueuedTogetherFlushOnce() {
    LoopConnection connection = new LoopConnection();
    HandoffSession session = new HandoffSession(connection, service);
    for (int i = 0; i < 300; i++) {
      session.onSignal(presenceOf("tv-" + i));
    }
    assertEquals(256, connection.queued.size(), "hops queued for 300 signals");

    connection.runQueued();
    assertEquals(1, connection.flushes, "flushes for the hops queued together");

    // Once they ran, a new signal queues again and flushes by itself.
    session.onSignal(presenceOf("tv-again"));
    assertEquals(1, connection.queued.size());
    connection.runQueued();
    assertEquals(2, connection.flushes);
  }

  private static UserSignal presenceOf(String device) {
    return UserSignal.newBuilder()
        .setPresenceChanged(
            PresenceChanged.newBuilder()
                .setPresence(DevicePresence.newBuilder().setDeviceId(device).setOnline(true)))
        .build();
  }

  /** A connection whose event loop is a list of tasks, run when the test says. */
  private static final class LoopConnection implements Connection {
    final List<Runnable> queued = new ArrayList<>();
    int flushes;

    void runQueued() {
      List<Runnable> now = new ArrayList<>(queued);
      queued.clear();
      now.forEach(Runnable::run);
    }

    @Override
    public String userId() {
      return "user";
    }

    @Override
    public String deviceId() {
      return "phone";
    }

    @Override
    public void push(ServerFrame frame) {}

    @Override
    public void reply(ServerFrame frame) {}

    @Override
    public void replyEncoded(byte[] frame) {}

    @Override
    public void flush() {
      flushes++;
    }

    @Override
    public void error(long requestId, Error error) {}

    @Override
    public void execute(Runnable task) {
      queued.add(task);
    }

    @Override
    public <T> void onLoop(CompletableFuture<T> future, BiConsumer<T, Throwable> then) {
      future.whenComplete(then);
    }

    @Override
    public Future<?> schedule(Runnable task, long delay, TimeUnit unit) {
      return new CompletableFuture<>();
    }

    @Override
    public void arm(Deadline d, long delay, TimeUnit unit) {}

    @Override
    public void disarm(Deadline d) {}

    @Override
    public String remoteAddress() {
      return "127.0.0.1";
    }

    @Override
    public Clock clock() {
      return Clock.systemUTC();
    }

    @Override
    public long nanoTime() {
      return 0;
    }

    @Override
    public boolean active() {
      return true;
    }

    @Override
    public void close(CloseCode code, String reason) {}
  }
}
