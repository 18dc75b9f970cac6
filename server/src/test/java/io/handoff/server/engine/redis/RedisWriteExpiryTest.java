package io.handoff.server.engine.redis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.handoff.protocol.v1.FieldOp;
import io.handoff.protocol.v1.Write;
import io.handoff.server.MutableClock;
import io.handoff.server.RedisProcess;
import io.handoff.server.engine.StoreLimits;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The write script refreshes idle TTLs at most once per slack (TTL/16) per document and per device
 * instead of on every write; these check that no key is ever left without a TTL and none expires
 * before the TTL after its last write.
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

  private void write(String device, String doc, long seq) {
    Write w =
        Write.newBuilder()
            .setDocument(doc)
            .setClientSeq(seq)
            .addOps(FieldOp.newBuilder().setField("f").setSet(ByteString.copyFromUtf8("v" + seq)))
            .build();
    assertTrue(fixture.engine.store().write("u", device, w).join().isApplied());
  }

  private List<String> userKeys() {
    return RedisKeyspace.keys(
        List.of(RedisProcess.sharedUrl()), RedisKeyspace.userKeys(prefix, "u"));
  }
}
