package io.handoff.server.handoff;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.bus.v1.PresenceChanged;
import io.handoff.protocol.bus.v1.UserSignal;
import io.handoff.protocol.v1.DevicePresence;
import io.handoff.server.Scheduler;
import io.handoff.server.ServerConfig;
import io.handoff.server.ServerStats;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.memory.MemoryEngine;
import io.handoff.server.session.RecordingConnection;
import io.netty.channel.DefaultEventLoop;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A session whose event loop has stopped (the node is stopping) takes signals and a possible loss
 * without throwing at the broker's thread: the re-read it returns is done at once. The loop is a
 * real Netty event loop, shut down before the test.
 */
class HandoffStoppingTest {
  private MemoryEngine engine;
  private HandoffService service;
  private DefaultEventLoop stopped;

  @BeforeEach
  void start() {
    engine = new MemoryEngine(StoreLimits.builder().build());
    ServerConfig config =
        ServerConfig.builder().port(0).jwtSecret("stop-secret-stop-secret-stop-secret").build();
    service = new HandoffService(config, engine, new ServerStats(), Scheduler.system());
    stopped = new DefaultEventLoop();
    stopped.shutdownGracefully(0, 0, TimeUnit.SECONDS).syncUninterruptibly();
  }

  @AfterEach
  void stop() {
    service.stop();
    engine.close();
  }

  @Test
  void aStoppedLoopsSessionAnswersAPossibleLossAtOnceAndDropsSignals() {
    HandoffSession session = new HandoffSession(new OnLoop(stopped), service);

    CompletableFuture<?> reread = session.reconcile();
    assertTrue(reread.isDone(), "the re-read of a stopped session is done at once");

    session.onSignal(online("tv"));
    session.presenceRead(List.of());
    // And again: the hops refused are not counted as pending (they would be dropped for the bound).
    assertTrue(session.reconcile().isDone());
  }

  /** A connection whose tasks run on a real event loop. */
  private static final class OnLoop extends RecordingConnection {
    private final DefaultEventLoop loop;

    OnLoop(DefaultEventLoop loop) {
      this.loop = loop;
    }

    @Override
    public void execute(Runnable task) {
      loop.execute(task);
    }
  }

  private static UserSignal online(String device) {
    return UserSignal.newBuilder()
        .setPresenceChanged(
            PresenceChanged.newBuilder()
                .setPresence(DevicePresence.newBuilder().setDeviceId(device).setOnline(true)))
        .build();
  }
}
