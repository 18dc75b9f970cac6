package io.handoff.server;

import io.handoff.server.engine.Engine;
import io.handoff.server.engine.NodeIdInUseException;
import java.io.PrintWriter;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.function.UnaryOperator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The launcher's wait for a started node to end: SIGTERM, or its id taken by another node. */
final class NodeRun {
  private static final Logger log = LoggerFactory.getLogger(Main.class);

  private NodeRun() {}

  /**
   * Waits for SIGTERM (0), or for the node to stop because another running node holds its id: then
   * one line on {@code err} (the message with its option {@code named} as the operator gave it) and
   * 2, the code of a second node refused at start, so that the supervisor restarts this one, which
   * the id's lease refuses for as long as the other runs.
   */
  static int await(
      HandoffServer server, Engine engine, PrintWriter err, UnaryOperator<String> named)
      throws InterruptedException {
    CountDownLatch stopped = new CountDownLatch(1);
    Thread hook =
        new Thread(
            () -> {
              log.info("draining: devices are told to reconnect elsewhere");
              server.close();
              engine.close();
              stopped.countDown();
            },
            "handoff-shutdown");
    Runtime.getRuntime().addShutdownHook(hook);
    CompletableFuture<NodeIdInUseException> taken = server.stoppedForTakenId();
    taken.thenRun(stopped::countDown);
    stopped.await();
    if (!taken.isDone()) {
      return 0;
    }
    try {
      Runtime.getRuntime().removeShutdownHook(hook);
    } catch (IllegalStateException shuttingDown) {
      // SIGTERM came meanwhile: the hook closes the engine too.
    }
    engine.close();
    err.println("handoff-server: " + named.apply(taken.join().getMessage()));
    return 2;
  }
}
