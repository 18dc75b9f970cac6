package io.handoff.server.engine.redis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.handoff.protocol.v1.DocumentSync;
import io.handoff.protocol.v1.FieldOp;
import io.handoff.protocol.v1.Write;
import io.handoff.server.Conditions;
import io.handoff.server.MutableClock;
import io.handoff.server.RedisProcess;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.sync.SyncResult;
import io.handoff.server.sync.WriteOutcome;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The write script refreshes idle TTLs at most once per slack (TTL/16) per document and per device
 * instead of on every write; these check that no key is ever left without a TTL and none expires
 * before the TTL after its last write, and what a document's expiry leaves: nothing of it, and a
 * new history when it is written again.
 */
class RedisWriteExpiryTest {
  private static final Duration TTL = Duration.ofSeconds(1600);
  private static final long SLACK = TTL.toSeconds() / 16;

  private final String prefix = "test-" + UUID.randomUUID() + ":";
  private final MutableClock clock = new MutableClock(1_000_000_000L);
  private EngineWithRawRedis fixture;

  @BeforeEach
  void start() {
    fixture = new EngineWithRawRedis(prefix, StoreLimits.builder().idleTtl(TTL).build(), clock);
  }

  @AfterEach
  void stop() {
    fixture.close();
  }

  @Test
  void everyKeyAWriteCreatesExpires() {
    write("d1", "doc", 1);
    write("d2", "doc", 1); // a new device on an existing document
    write("d1", "other", 2); // a new document of a known device
    List<String> keys = userKeys();
    assertEquals(12, keys.size(), "2 x (m, f, h), docs, 2 x (s, o), wd: " + keys);
    for (String key : keys) {
      long ttl = fixture.redis.ttl(key);
      assertTrue(
          ttl > TTL.toSeconds() && ttl <= TTL.toSeconds() + SLACK, key + " expires in " + ttl);
    }
  }

  @Test
  void keysAreRefreshedOnceTheirLastRefreshIsOlderThanTheSlack() {
    write("d1", "doc", 1);
    String meta = prefix + "{u}:m:doc";
    String device = prefix + "{u}:s:d1";
    fixture.redis.expire(meta, 10);
    fixture.redis.expire(device, 10);

    clock.advance(Duration.ofSeconds(SLACK - 1));
    write("d1", "doc", 2);
    assertTrue(fixture.redis.ttl(meta) <= 10, "the document's keys are not due yet");
    assertTrue(fixture.redis.ttl(device) <= 10, "the device's keys are not due yet");

    clock.advance(Duration.ofSeconds(1));
    write("d1", "doc", 3);
    assertTrue(fixture.redis.ttl(meta) > TTL.toSeconds(), "the document's keys were refreshed");
    assertTrue(fixture.redis.ttl(device) > TTL.toSeconds(), "the device's keys were refreshed");
  }

  @Test
  void aDocumentIdleForTheTtlIsGoneAndWritingItAgainBeginsANewHistory() {
    // Redis's own clock expires the keys, so this one waits for it (a TTL of one second, the least
    // the engine takes), and only for it: the bound is far above the TTL.
    try (EngineWithRawRedis shortLived =
        new EngineWithRawRedis(
            prefix, StoreLimits.builder().idleTtl(Duration.ofSeconds(1)).build(), clock)) {
      WriteOutcome first = write(shortLived, "d1", "doc", 1);
      Conditions.await(
          "every key of the user expired", () -> userKeys().isEmpty(), Duration.ofSeconds(20));

      SyncResult gone =
          shortLived.engine.store().read("u", "doc", first.epoch(), first.version()).join();
      assertEquals(DocumentSync.Mode.GONE, gone.mode(), "a device that had it is told it is gone");
      assertTrue(shortLived.engine.store().documents("u").join().isEmpty());

      WriteOutcome again = write(shortLived, "d1", "doc", 2);
      assertEquals(1, again.version(), "versions begin again");
      assertNotEquals(first.epoch(), again.epoch(), "in a new history");
      assertEquals(
          DocumentSync.Mode.SNAPSHOT,
          shortLived.engine.store().read("u", "doc", first.epoch(), first.version()).join().mode(),
          "a device still on the old history gets the new one whole");
    }
  }

  private void write(String device, String doc, long seq) {
    write(fixture, device, doc, seq);
  }

  private static WriteOutcome write(EngineWithRawRedis on, String device, String doc, long seq) {
    Write w =
        Write.newBuilder()
            .setDocument(doc)
            .setClientSeq(seq)
            .addOps(FieldOp.newBuilder().setField("f").setSet(ByteString.copyFromUtf8("v" + seq)))
            .build();
    WriteOutcome out = on.engine.store().write("u", device, w).join();
    assertTrue(out.isApplied(), out.toString());
    return out;
  }

  private List<String> userKeys() {
    return RedisKeyspace.keys(
        List.of(RedisProcess.sharedUrl()), RedisKeyspace.userKeys(prefix, "u"));
  }
}
