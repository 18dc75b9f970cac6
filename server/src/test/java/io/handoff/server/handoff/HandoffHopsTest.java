package io.handoff.server.handoff;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.handoff.protocol.bus.v1.PresenceChanged;
import io.handoff.protocol.bus.v1.UserSignal;
import io.handoff.protocol.v1.DevicePresence;
import io.handoff.server.Scheduler;
import io.handoff.server.ServerConfig;
import io.handoff.server.ServerStats;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.memory.MemoryEngine;
import io.handoff.server.session.RecordingConnection;
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
    RecordingConnection connection = new RecordingConnection().queueTasks();
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
}
