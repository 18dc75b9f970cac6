package io.handoff.server;

import static io.handoff.server.TestServer.token;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.Hello;
import io.handoff.protocol.v1.Ping;
import io.handoff.protocol.v1.ServerFrame;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A node that begins to drain while a device's Hello waits its turn in the line of resumes (one
 * read at a time here, taken by another user's resume whose answer the store holds) tells that
 * device SHUTDOWN at once, and never starts its resume: no store read, no Welcome followed at once
 * by SHUTDOWN. The resume under way is answered, then its device is told SHUTDOWN.
 */
class DrainLineTest extends OnGatedNode {
  private static final Duration BOUND = Duration.ofSeconds(10);

  @BeforeEach
  void start() throws Exception {
    // A drain timeout far past the test: what closes the waiting device is the drain itself.
    startNode("a", b -> b.maxResumes(1, 4).drainTimeout(Duration.ofMinutes(2)));
  }

  @Test
  void aHelloWaitingInTheLineWhenTheNodeDrainsIsToldShutdownWithoutItsResume() throws Exception {
    engine.holdSyncAnswers();
    CompletableFuture<Void> stopped = null;
    try {
      TestDevice other = nodes.add(TestDevice.connect(node.port(), token("x", "h")));
      long otherHello = other.send(ClientFrame.newBuilder().setHello(Hello.getDefaultInstance()));
      Conditions.await(
          "the other user's resume read, its answer held",
          () -> engine.heldSyncAnswers() == 1,
          BOUND);
      TestDevice d = nodes.add(TestDevice.connect(node.port(), token("u", "d")));
      long hello = d.send(ClientFrame.newBuilder().setHello(Hello.getDefaultInstance()));
      long ping = d.send(ClientFrame.newBuilder().setPing(Ping.getDefaultInstance()));
      d.next(x -> x.hasPong() && x.getRequestId() == ping); // Its Hello waits in the line.
      int reads = engine.storeReads();

      stopped = CompletableFuture.runAsync(node::close);
      // At once, while the resume ahead of it still holds the line's one read.
      ServerFrame f = d.next(x -> x.hasDisconnect() || x.getRequestId() == hello);
      assertTrue(f.hasDisconnect(), "told to go elsewhere, not welcomed: " + f);
      assertEquals(CloseCode.SHUTDOWN.code(), f.getDisconnect().getCode());
      assertEquals(CloseCode.SHUTDOWN.code(), d.awaitClose());

      engine.releaseSyncAnswers();
      other.next(x -> x.hasWelcome() && x.getRequestId() == otherHello);
      assertEquals(
          CloseCode.SHUTDOWN.code(),
          other.next(ServerFrame::hasDisconnect).getDisconnect().getCode());
      stopped.get(30, TimeUnit.SECONDS);
      assertEquals(reads, engine.storeReads(), "the waiting resume was never read");
    } finally {
      engine.releaseSyncAnswers();
      if (stopped != null) {
        stopped.get(30, TimeUnit.SECONDS);
      }
    }
  }
}
