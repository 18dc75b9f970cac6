package io.handoff.server.session;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.Hello;
import io.handoff.server.Scheduler;
import io.handoff.server.ServerConfig;
import io.handoff.server.ServerStats;
import io.handoff.server.engine.ResumeStore;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.memory.MemoryEngine;
import io.handoff.server.handoff.HandoffService;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.websocketx.BinaryWebSocketFrame;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Hellos wait for their turn in the node's line of resumes (ResumeSlots), and a turn is handed to
 * the waiting connection's event loop as a task: a later connection of the same device can get a
 * free turn, and register, before that task runs. The earlier connection must then not replace the
 * later one (REPLACED is terminal: the live device would stop for good), and its Disconnect names
 * the later one's instance, as does that of a connection a later one replaces. Each connection is
 * on an embedded channel, whose loop runs its tasks only when the test says so, which makes that
 * order certain; the sessions, the node's line, the hub and the memory engine are the real ones.
 */
class ResumeOrderTest {
  private final MemoryEngine engine = new MemoryEngine(StoreLimits.builder().build());
  private final ServerStats stats = new ServerStats();
  private final ServerConfig config =
      ServerConfig.builder()
          .port(0)
          .jwtSecret("order-secret-order-secret-order-secret")
          .maxResumes(2, 4)
          .build();
  private final HandoffService handoff =
      new HandoffService(config, engine, stats, Scheduler.system());
  private final QueueBudget budget = new QueueBudget(config.queueBudgetBytes(), "order");

  /** Users whose resumes wait for their future here. */
  private final Map<String, CompletableFuture<Void>> held = new ConcurrentHashMap<>();

  private final List<Device> devices = new ArrayList<>();
  private final Sessions sessions;

  ResumeOrderTest() {
    ResumeStore resumes =
        r -> {
          CompletableFuture<Void> gate = held.get(r.userId());
          return gate == null ? engine.resume(r) : gate.thenCompose(v -> engine.resume(r));
        };
    sessions =
        EmbeddedConnections.sessions(
            config, stats, engine, resumes, new Hub(engine.broker()), handoff, budget, "order");
    handoff.start();
  }

  @AfterEach
  void tearDown() {
    for (Device d : devices) {
      d.ch.finishAndReleaseAll();
    }
    handoff.stop();
    budget.close();
    engine.close();
  }

  @Test
  void anEarlierConnectionWhoseTurnCameLastDoesNotReplaceTheLaterOne() {
    held.put("x", new CompletableFuture<>());
    held.put("y", new CompletableFuture<>());
    Device x = device("x", "d");
    Device y = device("y", "d");
    x.hello(); // Both of the node's two turns are taken, their reads held.
    y.hello();
    Device earlier = device("u", "phone");
    earlier.hello(1); // Waits in the line.
    assertEquals(2, sessions.resumeSlots().inFlight());
    assertEquals(1, sessions.resumeSlots().waiting());

    // x's read ends: its turn passes to the earlier connection, as a task on that connection's
    // loop, not run yet. y's read ends: the line is empty, so a turn is free.
    held.get("x").complete(null);
    held.get("y").complete(null);
    assertEquals(0, sessions.resumeSlots().waiting());
    assertEquals(1, sessions.resumeSlots().inFlight());

    // The device's later connection takes the free turn at once and is welcomed.
    Device later = device("u", "phone");
    later.hello(2);
    assertTrue(later.welcomed, "the later connection is welcomed");

    // The earlier connection's turn runs only now: it must not replace the later one.
    earlier.run();
    later.run();
    assertFalse(later.closed(), "the later connection stays: " + later.closeReason);
    assertEquals(CloseCode.REPLACED.code(), earlier.closeCode, earlier.closeReason);
    // Its Disconnect names the instance of the later connection: a client whose own attempt that
    // was reconnects after it (the attempt it left was the earlier one, here the later).
    assertEquals(2, earlier.replacedBy, "the instance of the connection that took over");
    assertFalse(earlier.welcomed, "the earlier connection is not welcomed");
    assertEquals(0, sessions.resumeSlots().inFlight(), "every turn was given back");
    assertEquals(0, stats.resumesFailed.sum(), "a connection replaced is no failure");

    // And the later connection is the device's one session: a third connection replaces it.
    Device third = device("u", "phone");
    third.hello(3);
    later.run();
    assertTrue(third.welcomed);
    assertEquals(CloseCode.REPLACED.code(), later.closeCode, later.closeReason);
    assertEquals(3, later.replacedBy, "the instance of the connection that took over");
  }

  private Device device(String user, String deviceId) {
    Device d = new Device(user, deviceId);
    devices.add(d);
    return d;
  }

  /** One device's connection on an embedded channel, after its upgrade. */
  private final class Device {
    final EmbeddedChannel ch;
    boolean welcomed;
    int closeCode = -1;
    String closeReason = "";
    long replacedBy = -1; // Its Disconnect's replaced_by_instance.

    Device(String user, String deviceId) {
      ch = EmbeddedConnections.upgraded(user, deviceId, config, stats, sessions);
    }

    /** Sends a Hello, without running the tasks it leaves on the loop. */
    void hello() {
      hello(0);
    }

    /** Sends a Hello carrying {@code instance}, without running the tasks it leaves on the loop. */
    void hello(long instance) {
      byte[] bytes =
          ClientFrame.newBuilder()
              .setHello(Hello.newBuilder().setInstance(instance))
              .build()
              .toByteArray();
      ch.writeInbound(new BinaryWebSocketFrame(Unpooled.wrappedBuffer(bytes)));
      read();
    }

    /** Runs the tasks waiting on this connection's loop. */
    void run() {
      ch.runPendingTasks();
      read();
    }

    boolean closed() {
      return closeCode >= 0 || !ch.isActive();
    }

    private void read() {
      ch.checkException();
      try {
        EmbeddedConnections.read(
            ch,
            f -> {
              welcomed |= f.hasWelcome();
              if (f.hasDisconnect()) {
                closeReason = f.getDisconnect().getReason();
                replacedBy = f.getDisconnect().getReplacedByInstance();
              }
            },
            code -> closeCode = code);
      } catch (com.google.protobuf.InvalidProtocolBufferException e) {
        throw new AssertionError(e);
      }
    }
  }
}
