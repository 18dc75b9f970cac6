package io.handoff.server.engine.redis;

import static io.handoff.server.Writes.numbered;
import static io.handoff.server.Writes.set;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.ErrorCode;
import io.handoff.server.Conditions;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.sync.OutcomeUnknownException;
import io.handoff.server.sync.WriteOutcome;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.codec.ByteArrayCodec;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Durable acks on a real Redis and its replica: a write's outcome record may be trimmed (the device
 * wrote past the seq window) before the round that confirms the write reads it.
 */
class DurableAckTrimTest extends MasterWithReplicaTest {

  private static String str(byte[] b) {
    return b == null ? null : new String(b, java.nio.charset.StandardCharsets.UTF_8);
  }

  /**
   * Write 2 is applied while the round confirming write 1 waits for a stalled replica, so its own
   * round reads its outcome record only once that one ends. Meanwhile the device's writes that are
   * refused (answered at once, so they free their place among the device's writes in flight) push
   * the window of remembered outcomes past write 2's, which is trimmed. The round must still find
   * that its master holds write 2 (the document shows it) and ack it: it answered OUTCOME_UNKNOWN
   * ("applied on another master: a failover"), and the device's re-send, the outcome forgotten, was
   * refused STALE_SEQUENCE, so a write applied and replicated was never acked.
   */
  @Test
  void aWriteWhoseOutcomeRecordIsTrimmedBeforeItsRoundIsStillConfirmed() throws Exception {
    // A window of 4 outcomes allows a node 4 writes in flight per connection; this device never
    // has more than 3. WAIT's deadline is far beyond the test: rounds end when the replica answers.
    StoreLimits limits =
        StoreLimits.builder()
            .seqWindow(4)
            .durableAcks(1)
            .durableAckTimeout(Duration.ofSeconds(60))
            .build();
    start(limits);
    pauseReplica();
    // Write 1's round starts when its answer comes, before write 2's: write 2 waits for the next.
    CompletableFuture<WriteOutcome> first = engine.store().write("ann", "phone", numbered("a", 1));
    CompletableFuture<WriteOutcome> second = engine.store().write("ann", "phone", numbered("b", 2));
    for (long seq = 3; seq <= 8; seq++) {
      WriteOutcome refused =
          engine.store().write("ann", "phone", numbered("c", seq, 99L)).get(10, TimeUnit.SECONDS);
      assertFalse(refused.isApplied(), refused.toString());
    }
    // And a later write of the same document: write 2 is then in its history, behind it.
    CompletableFuture<WriteOutcome> later = engine.store().write("ann", "phone", numbered("b", 9));
    Conditions.await(
        "write 9 applied",
        () -> engine.store().read("ann", "b", 0, 0, 0).join().toVersion() == 2,
        Duration.ofSeconds(30));
    try (RedisClient c = RedisClient.create(master.url());
        StatefulRedisConnection<byte[], byte[]> s = c.connect(ByteArrayCodec.INSTANCE)) {
      byte[] outcomes = new RedisKeys(prefix).writeKeys("ann", "b", "phone")[4];
      assertFalse(s.sync().hexists(outcomes, "2".getBytes()), "write 2's outcome trimmed");
    }
    assertFalse(second.isDone(), "write 2 waits for its round");
    resumeReplica();

    assertEquals(1, first.get(30, TimeUnit.SECONDS).version());
    WriteOutcome two = second.get(30, TimeUnit.SECONDS);
    assertTrue(two.isApplied(), two.toString());
    assertEquals(1, two.version());
    assertEquals(2, later.get(30, TimeUnit.SECONDS).version());
  }

  /**
   * As above, but while write 2 waits for its round another device also writes its document past
   * the history's reach (2 deltas), so neither its outcome record nor the document shows write 2
   * any more: nothing tells this master from one that never held it. Write 2, applied and
   * replicated, is answered OUTCOME_UNKNOWN (with a reason that claims no failover, since there was
   * none), and its re-send with the same client_seq, its number forgotten, is refused
   * STALE_SEQUENCE and changes nothing: unknown to the end, never "not applied" and never applied
   * twice (the clients give such a write up as "may have been applied").
   */
  @Test
  void aWriteNeitherItsOutcomeRecordNorItsDocumentShowsIsAnsweredUnknownAndItsResendChangesNothing()
      throws Exception {
    StoreLimits limits =
        StoreLimits.builder()
            .seqWindow(4)
            .historyLength(2)
            .durableAcks(1)
            .durableAckTimeout(Duration.ofSeconds(60))
            .build();
    start(limits);
    pauseReplica();
    CompletableFuture<WriteOutcome> first = engine.store().write("ann", "phone", numbered("a", 1));
    CompletableFuture<WriteOutcome> second =
        engine.store().write("ann", "phone", set("b", 2, "mine", "v2"));
    for (long seq = 3; seq <= 8; seq++) {
      WriteOutcome refused =
          engine.store().write("ann", "phone", numbered("c", seq, 99L)).get(10, TimeUnit.SECONDS);
      assertFalse(refused.isApplied(), refused.toString());
    }
    // Another device takes document b to version 4: its history keeps versions 3 and 4.
    for (long seq = 1; seq <= 3; seq++) {
      CompletableFuture<WriteOutcome> ignored =
          engine.store().write("ann", "tablet", set("b", seq, "theirs", "v" + seq));
    }
    Conditions.await(
        "document b at version 4",
        () -> engine.store().read("ann", "b", 0, 0, 0).join().toVersion() == 4,
        Duration.ofSeconds(30));
    RedisKeys keys = new RedisKeys(prefix);
    try (RedisClient c = RedisClient.create(master.url());
        StatefulRedisConnection<byte[], byte[]> s = c.connect(ByteArrayCodec.INSTANCE)) {
      assertFalse(
          s.sync().hexists(keys.writeKeys("ann", "b", "phone")[4], "2".getBytes()),
          "write 2's outcome trimmed");
      assertEquals(2, s.sync().llen(keys.history("ann", "b")), "history holds versions 3 and 4");
    }
    assertFalse(second.isDone(), "write 2 waits for its round");
    resumeReplica();

    assertEquals(1, first.get(30, TimeUnit.SECONDS).version());
    ExecutionException unknown =
        assertThrows(ExecutionException.class, () -> second.get(30, TimeUnit.SECONDS));
    OutcomeUnknownException why =
        assertInstanceOf(OutcomeUnknownException.class, unknown.getCause());
    assertTrue(
        why.getMessage().contains("can no longer tell whether it holds it"), why.getMessage());
    // It was applied, and the replica holds it.
    try (RedisClient c = RedisClient.create(replica.url());
        StatefulRedisConnection<byte[], byte[]> s = c.connect(ByteArrayCodec.INSTANCE)) {
      Conditions.await(
          "the replica holds write 2's field",
          () -> "v2".equals(str(s.sync().hget(keys.fields("ann", "b"), "mine".getBytes()))),
          Duration.ofSeconds(30));
    }
    WriteOutcome resend =
        engine.store().write("ann", "phone", set("b", 2, "mine", "v2")).get(30, TimeUnit.SECONDS);
    assertFalse(resend.isApplied(), resend.toString());
    assertEquals(ErrorCode.STALE_SEQUENCE, resend.error());
    assertEquals(4, engine.store().read("ann", "b", 0, 0, 0).join().toVersion());
  }
}
