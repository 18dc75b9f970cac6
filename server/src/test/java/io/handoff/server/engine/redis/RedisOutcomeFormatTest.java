package io.handoff.server.engine.redis;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.ErrorCode;
import io.handoff.server.RedisProcess;
import io.handoff.server.Writes;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.sync.DocumentTag;
import io.handoff.server.sync.WriteOutcome;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.sync.RedisCommands;
import io.lettuce.core.codec.ByteArrayCodec;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The write outcomes a device's outcome hash keeps carry their document's tag ('T' and 8 bytes
 * before the outcome), and outcomes stored by a server from before tags (the same without it),
 * which a deployment keeps when it upgrades, are still answered as they were then: to their own
 * re-send, and, since nothing tells their document, to a write of another document under their
 * number too.
 */
class RedisOutcomeFormatTest {
  private final String prefix = "test-" + UUID.randomUUID() + ":";
  private final RedisEngine engine =
      RedisEngine.connect(RedisProcess.sharedUrl(), prefix, StoreLimits.builder().build());
  private final RedisClient client = RedisClient.create(RedisProcess.sharedUrl());
  private final StatefulRedisConnection<byte[], byte[]> connection =
      client.connect(ByteArrayCodec.INSTANCE);
  private final RedisCommands<byte[], byte[]> redis = connection.sync();
  private final byte[] outcomes = new RedisKeys(prefix).outcomes("u", "d1");

  @AfterEach
  void tearDown() {
    connection.close();
    client.shutdown();
    engine.close();
  }

  private WriteOutcome write(String doc, long seq, Long expected) {
    return engine.store().write("u", "d1", Writes.set(doc, seq, "f", "v", expected)).join();
  }

  private byte[] stored(long seq) {
    return redis.hget(outcomes, Long.toString(seq).getBytes(StandardCharsets.US_ASCII));
  }

  /** Stores the outcome of {@code seq} as a server from before tags did: without the tag. */
  private void untag(long seq) {
    byte[] o = stored(seq);
    redis.hset(
        outcomes,
        Long.toString(seq).getBytes(StandardCharsets.US_ASCII),
        Arrays.copyOfRange(o, 9, o.length));
  }

  @Test
  void outcomesCarryTheirDocumentsTag() {
    WriteOutcome e = write("e", 2, null);
    byte[] o = stored(2);
    assertArrayEquals(RedisDocumentStore.tagged(DocumentTag.of("e")), Arrays.copyOf(o, 9));
    assertEquals('A', o[9]);
    assertEquals(e.epoch(), RedisDocumentStore.epoch(Arrays.copyOfRange(o, 10, 18)));
    assertEquals(ErrorCode.CONFLICT, write("e", 3, 9L).error());
    assertEquals('r', stored(3)[9]);
  }

  @Test
  void anOutcomeStoredBeforeTagsIsAnsweredAsThen() {
    WriteOutcome e = write("e", 2, null);
    assertEquals(ErrorCode.CONFLICT, write("e", 3, 9L).error());
    untag(2);
    untag(3);
    assertEquals('A', stored(2)[0]);
    WriteOutcome again = write("e", 2, null);
    assertTrue(again.duplicate(), again.toString());
    assertEquals(e.epoch(), again.epoch());
    assertEquals(e.version(), again.version());
    assertEquals(e.fingerprint(), again.fingerprint());
    WriteOutcome conflict = write("e", 3, 9L);
    assertTrue(conflict.duplicate());
    assertEquals(ErrorCode.CONFLICT, conflict.error());
    assertTrue(conflict.message().contains("expected version 9"), conflict.message());
    // Nothing says which document an untagged outcome is of: it answers any, as before tags.
    WriteOutcome other = write("f", 2, null);
    assertTrue(other.duplicate(), other.toString());
    assertEquals(e.version(), other.version());
    assertEquals(ErrorCode.CONFLICT, write("g", 3, null).error());
  }

  /**
   * The bytes a node of e360c98 (the release before tags) stored for an applied write and a refused
   * one (CONFLICT), copied from its Redis: a node of this release keeps answering their re-sends
   * with them. An upgrade from there keeps such outcomes for a seq window's worth of each device's
   * writes (docs/operations.md, "Upgrading", and bench/tools/mixed_versions.sh for nodes of both
   * releases on one Redis).
   */
  @Test
  void outcomesStoredByTheReleaseBeforeTagsAreStillAnswered() {
    HexFormat hex = HexFormat.of();
    redis.hset(
        outcomes,
        "1".getBytes(StandardCharsets.US_ASCII),
        hex.parseHex("4131bffb10f809909d27ec5dfb72fa1f8031"));
    redis.hset(
        outcomes,
        "2".getBytes(StandardCharsets.US_ASCII),
        hex.parseHex(
            "7231bffb10f809909d317c337c65787065637465642076657273696f6e20372062757420646f63756d65"
                + "6e7420276e6f746573272069732061742031"));
    WriteOutcome applied = write("notes", 1, null);
    assertTrue(applied.duplicate(), applied.toString());
    assertEquals(Long.parseUnsignedLong("11353585621642493745"), applied.epoch());
    assertEquals(1, applied.version());
    assertEquals(Long.parseUnsignedLong("9232373132883258407"), applied.fingerprint());
    WriteOutcome refused = write("notes", 2, 7L);
    assertTrue(refused.duplicate(), refused.toString());
    assertEquals(ErrorCode.CONFLICT, refused.error());
    assertEquals("expected version 7 but document 'notes' is at 1", refused.message());
    assertEquals(Long.parseUnsignedLong("11353585621642493745"), refused.epoch());
    assertEquals(1, refused.version());
  }
}
