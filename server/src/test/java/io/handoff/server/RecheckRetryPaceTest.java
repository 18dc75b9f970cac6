package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.server.engine.Engine;
import io.handoff.server.engine.ForwardingEngine;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.redis.RedisEngine;
import io.handoff.server.sync.DocumentStore;
import io.handoff.server.sync.ForwardingDocumentStore;
import io.handoff.server.sync.OutcomeUnknownException;
import io.handoff.server.sync.SyncResult;
import io.lettuce.core.KillArgs;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The broker paces the re-reads that follow a possible loss by what each user's re-check returns,
 * which completes once the store answered the reads it sent (docs/redis.md): so at most one batch
 * of users' re-reads waits in Redis at once. A re-read of a document that timed out is sent again
 * ({@code ReadRetry}); the re-check completes only once that read is answered too, or the pace
 * would tell the next batch while this one's reads, sent again, still wait in Redis. The first
 * attempt's timeout is made in front of a real Redis (the answer a client gets when Redis does not
 * answer in time), the attempt sent again held by the gate until the test lets it through.
 */
class RecheckRetryPaceTest {
  private final Nodes nodes = new Nodes();
  private final RedisProcess redis = nodes.add(RedisProcess.start());

  @AfterEach
  void tearDown() {
    nodes.close();
  }

  @Test
  void aRecheckWhoseReadIsSentAgainCompletesOnlyOnceThatReadIsAnswered() throws Exception {
    StoreLimits limits = StoreLimits.builder().build();
    GatedEngine gated = new GatedEngine(RedisEngine.connect(redis.url(), nodes.prefix, limits));
    TimingOut engine = new TimingOut(gated);
    HandoffServer node = nodes.start("n1", engine, limits);
    TestDevice phone = nodes.add(TestDevice.connect(node.port(), TestServer.token("u", "phone")));
    assertTrue(phone.hello().hasWelcome());
    assertTrue(phone.answerTo(phone.write("notes", 1, "f", "one")).hasAck());

    // The re-read's first attempt times out; the one sent again waits at the gate.
    gated.holdReads();
    engine.timeOutNextReads(1);
    nodes.control(redis.url()).sync().clientKill(KillArgs.Builder.typePubsub());
    Conditions.await(
        "the re-read sent again, held", () -> gated.heldReads() == 1, Duration.ofSeconds(20));
    assertEquals(1, engine.timedOut());
    assertEquals(1, gated.possibleLosses());

    // Given every chance to complete while that read waits: it must not.
    boolean doneEarly;
    try {
      Conditions.await("the re-check done", () -> gated.rechecked() > 0, Duration.ofSeconds(3));
      doneEarly = true;
    } catch (AssertionError stillWaiting) {
      doneEarly = false;
    }
    gated.releaseReads();
    Conditions.await("the re-check done", () -> gated.rechecked() == 1, Duration.ofSeconds(20));
    assertFalse(
        doneEarly,
        "the re-check completed while its document's read, sent again, was unanswered: the pace"
            + " would tell the next users while it waits in Redis");
    SlowRedis.stillOpen(phone, "phone");
  }

  /** An engine whose next reads from history fail as a read Redis did not answer in time. */
  private static final class TimingOut extends ForwardingEngine {
    private final AtomicInteger toTimeOut = new AtomicInteger();
    private final AtomicInteger timedOut = new AtomicInteger();
    private final DocumentStore store;

    TimingOut(Engine real) {
      super(real);
      this.store =
          new ForwardingDocumentStore(real.store()) {
            @Override
            public CompletableFuture<SyncResult> read(
                String userId, String document, long epoch, long version, long fingerprint) {
              if (toTimeOut.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
                timedOut.incrementAndGet();
                return CompletableFuture.failedFuture(
                    OutcomeUnknownException.timedOut("the command timed out (test)", null));
              }
              return super.read(userId, document, epoch, version, fingerprint);
            }
          };
    }

    void timeOutNextReads(int n) {
      toTimeOut.set(n);
    }

    int timedOut() {
      return timedOut.get();
    }

    @Override
    public DocumentStore store() {
      return store;
    }
  }
}
