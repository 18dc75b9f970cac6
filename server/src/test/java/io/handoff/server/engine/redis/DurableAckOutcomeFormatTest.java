package io.handoff.server.engine.redis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.ErrorCode;
import io.handoff.server.Writes;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.sync.WriteOutcome;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.codec.ByteArrayCodec;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HexFormat;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Durable acks on a real Redis and its replica, for re-sends of writes whose outcomes a node of an
 * earlier release stored (before document tags, and before fingerprints), as a fleet upgraded from
 * one keeps them: the confirmation round (held.lua) takes the record in its old format for the
 * write's, and acks the re-send once the replica confirms it, as the node that applied it would
 * have. Refusals are answered at once, as any.
 */
class DurableAckOutcomeFormatTest extends MasterWithReplicaTest {
  private static final long EPOCH = Long.parseUnsignedLong("11353585621642493745");

  private CompletableFuture<WriteOutcome> write(String doc, long seq, Long expected) {
    return engine.store().write("u", "d1", Writes.set(doc, seq, "f", "v", expected));
  }

  @Test
  void reSendsOfWritesStoredInEarlierFormatsAreAckedOnceTheReplicaConfirmsThem() throws Exception {
    start(StoreLimits.builder().durableAcks(1).durableAckTimeout(Duration.ofSeconds(60)).build());
    HexFormat hex = HexFormat.of();
    byte[] outcomes = new RedisKeys(prefix).outcomes("u", "d1");
    try (RedisClient c = RedisClient.create(master.url());
        StatefulRedisConnection<byte[], byte[]> s = c.connect(ByteArrayCodec.INSTANCE)) {
      // As a node of e360c98 (before tags) stored an applied write and a CONFLICT, copied from its
      // Redis (RedisOutcomeFormatTest), and as one from before fingerprints stored an applied one:
      // 'a', the epoch (8 bytes, little-endian), the version.
      s.sync().hset(outcomes, ascii("1"), hex.parseHex("4131bffb10f809909d27ec5dfb72fa1f8031"));
      s.sync()
          .hset(
              outcomes,
              ascii("2"),
              hex.parseHex(
                  "7231bffb10f809909d317c337c65787065637465642076657273696f6e20372062757420646f6375"
                      + "6d656e7420276e6f746573272069732061742031"));
      byte[] beforeFingerprints =
          ByteBuffer.allocate(10)
              .order(ByteOrder.LITTLE_ENDIAN)
              .put((byte) 'a')
              .putLong(EPOCH)
              .put((byte) '5')
              .array();
      s.sync().hset(outcomes, ascii("3"), beforeFingerprints);
    }
    pauseReplica();
    CompletableFuture<WriteOutcome> applied = write("notes", 1, null);
    CompletableFuture<WriteOutcome> older = write("notes", 3, null);
    WriteOutcome refused = write("notes", 2, 7L).get(30, TimeUnit.SECONDS);
    assertTrue(refused.duplicate(), refused.toString());
    assertEquals(ErrorCode.CONFLICT, refused.error());
    assertEquals("expected version 7 but document 'notes' is at 1", refused.message());
    assertFalse(applied.isDone(), "not acked before the replica confirms");
    assertFalse(older.isDone(), "not acked before the replica confirms");
    resumeReplica();

    WriteOutcome one = applied.get(30, TimeUnit.SECONDS);
    assertTrue(one.isApplied() && one.duplicate(), one.toString());
    assertEquals(EPOCH, one.epoch());
    assertEquals(1, one.version());
    assertEquals(Long.parseUnsignedLong("9232373132883258407"), one.fingerprint());
    WriteOutcome three = older.get(30, TimeUnit.SECONDS);
    assertTrue(three.isApplied() && three.duplicate(), three.toString());
    assertEquals(EPOCH, three.epoch());
    assertEquals(5, three.version());
    assertEquals(0, three.fingerprint());
  }

  private static byte[] ascii(String s) {
    return s.getBytes(StandardCharsets.US_ASCII);
  }
}
