package io.handoff.server.engine.memory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.handoff.protocol.v1.FieldOp;
import io.handoff.protocol.v1.Write;
import io.handoff.server.MutableClock;
import io.handoff.server.devices.SessionStoreContractTest;
import io.handoff.server.engine.Engine;
import io.handoff.server.engine.StoreLimits;
import java.time.Duration;
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
      Write w =
          Write.newBuilder()
              .setDocument("cart")
              .setClientSeq(1)
              .addOps(FieldOp.newBuilder().setField("x").setSet(ByteString.copyFromUtf8("1")))
              .build();
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
}
