package io.handoff.server.engine.memory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.Write;
import io.handoff.server.Conditions;
import io.handoff.server.MutableClock;
import io.handoff.server.Writes;
import io.handoff.server.devices.SessionStore;
import io.handoff.server.devices.SessionStoreContractTest;
import io.handoff.server.engine.Engine;
import io.handoff.server.engine.StoreLimits;
import java.lang.reflect.Field;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class MemorySessionStoreContractTest extends SessionStoreContractTest {
  @Override
  protected Engine newEngine(StoreLimits limits, MutableClock clock) {
    return new MemoryEngine(limits, clock);
  }

  @Test
  void sweepDropsUsersAndSessionsIdleForTheIdleTtl() throws Exception {
    MemoryEngine engine = new MemoryEngine(LIMITS, clock);
    try {
      Write w = Writes.set("cart", 1, "x", "1");
      engine.store().write("old", "a", w).join();
      engine.sessions().create("old", "s1", "a", "a", "ios", new byte[] {1}).join();
      clock.advance(IDLE.minusDays(1));
      engine.store().write("recent", "a", w).join();
      engine.sessions().create("recent", "s2", "a", "a", "ios", new byte[] {2}).join();
      clock.advance(Duration.ofDays(1));
      engine.sweep();
      assertTrue(engine.store().documents("old").join().isEmpty());
      assertEquals(0, engine.sessions().list("old").join().size());
      assertEquals(1, engine.store().documents("recent").join().size());
      assertEquals(1, engine.sessions().list("recent").join().size());
      assertEquals(1, engine.sessions().users());
    } finally {
      engine.close();
    }
  }

  /**
   * A sign-in that found the user's record just before the sweep dropped it (every earlier session
   * of the user idle) waits for the record's monitor while the sweep holds it; once the sweep has
   * removed the record, the sign-in must not put its session into the dropped record, where no
   * later call finds it.
   */
  @Test
  void aSessionCreatedWhileTheSweepDropsTheUsersRecordIsKept() throws Exception {
    MemoryEngine engine = new MemoryEngine(LIMITS, clock);
    try {
      MemorySessionStore sessions = engine.sessions();
      sessions.create("u", "s0", "a", "a", "ios", new byte[] {1}).join();
      clock.advance(IDLE); // s0 is idle: a sweep now drops it and, with it, the user's record.
      Field f = MemorySessionStore.class.getDeclaredField("users");
      f.setAccessible(true);
      Object record = ((Map<?, ?>) f.get(sessions)).get("u");
      CompletableFuture<SessionStore.Created> created = new CompletableFuture<>();
      Thread signIn;
      synchronized (record) {
        signIn =
            new Thread(
                () -> {
                  try {
                    created.complete(
                        sessions.create("u", "s1", "b", "b", "ios", new byte[] {2}).join());
                  } catch (Throwable t) {
                    created.completeExceptionally(t);
                  }
                },
                "sign-in");
        signIn.start();
        Conditions.await(
            "the sign-in waits for the user's record",
            () -> signIn.getState() == Thread.State.BLOCKED,
            Duration.ofSeconds(30));
        sessions.sweep(clock.instant()).join(); // The sweep's thread, here holding the monitor.
      }
      assertFalse(created.get(30, TimeUnit.SECONDS).limitReached());
      signIn.join(30_000);
      assertTrue(sessions.status("u", "s1").join().alive(), "the new session was lost");
      assertEquals(1, sessions.list("u").join().size());
      assertEquals(1, sessions.users());
    } finally {
      engine.close();
    }
  }
}
