package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.ServerFrame;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.memory.MemoryEngine;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Applied writes whose copies the broker lost without knowing it are acked by reading their
 * document again at the write deadline. However many of one connection's writes pass their deadline
 * at once, the store is asked a bounded number of times for it (the document once, then once more
 * for the writes answered while it was read), not once per write: a device with a thousand writes
 * in flight must not send a thousand reads. Fake time; the memory engine behind {@link
 * GatedEngine}, which drops the events and counts the reads.
 */
class UnackedWritesReadTest {
  private static final int WRITES = 50;

  private GatedEngine engine;
  private HandoffServer node;

  @AfterEach
  void stop() {
    if (node != null) {
      node.close();
    }
    if (engine != null) {
      engine.close();
    }
  }

  @Test
  void manyWritesPastTheirDeadlineAtOnceReadTheirDocumentOnceNotOncePerWrite() throws Exception {
    FakeScheduler time = new FakeScheduler();
    Duration deadline = Duration.ofSeconds(3);
    StoreLimits limits = StoreLimits.builder().writeAnswerTimeout(deadline).build();
    ServerConfig config =
        ServerConfig.builder()
            .host("127.0.0.1")
            .port(0)
            .nodeId("unacked")
            .jwtSecret(TestServer.SECRET)
            .storeLimits(limits)
            .build();
    MemoryEngine memory = new MemoryEngine(limits, time.clock());
    engine = new GatedEngine(memory);
    node = HandoffServer.start(config, engine, time);
    try (TestDevice device = TestDevice.connect(node.port(), TestServer.token("uma", "phone"))) {
      device.hello();
      assertTrue(device.answerTo(device.write("cart", 1, "f", "v1")).hasAck());

      // The store applies every write, and the broker loses every copy without knowing it.
      engine.dropEvents(true);
      List<Long> ids = new ArrayList<>();
      for (int seq = 2; seq <= WRITES + 1; seq++) {
        ids.add(device.write("cart", seq, "f", "v" + seq));
      }
      // Applied, and the answers taken by the connection (on its event loop).
      Conditions.await(
          "every write applied and answered to the connection",
          () -> node.stats().writesApplied.sum() == WRITES + 1,
          Duration.ofSeconds(30));
      int before = engine.storeReads();

      // The store answers reads later, as Redis does (the memory store answers at once).
      engine.holdReads();
      time.advance(deadline.plusSeconds(1));
      Conditions.await(
          "the document read again", () -> engine.heldReads() > 0, Duration.ofSeconds(30));
      engine.releaseReads();
      for (long id : ids) {
        ServerFrame ack = device.answerTo(id);
        assertTrue(ack.hasAck(), ack.toString());
      }
      int reads = engine.storeReads() - before;
      assertTrue(
          reads <= 3,
          reads + " store reads to ack " + WRITES + " writes of one document past their deadline");
    }
  }
}
