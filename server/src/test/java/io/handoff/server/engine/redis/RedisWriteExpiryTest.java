package io.handoff.server.engine.redis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.DocumentSync;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.server.Conditions;
import io.handoff.server.MutableClock;
import io.handoff.server.RedisProcess;
import io.handoff.server.Writes;
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

  @Test
  void aFieldsHashMadeAgainAfterItsLastFieldWasRemovedExpiresWithItsDocument() {
    String meta = prefix + "{u}:m:doc";
    String fields = prefix + "{u}:f:doc";
    write("d1", "doc", 1);
    WriteOutcome removed =
        fixture.engine.store().write("u", "d1", Writes.remove("doc", 2, "f")).join();
    assertTrue(removed.isApplied(), removed.toString());
    assertEquals(0, fixture.redis.exists(fields), "Redis deleted the empty fields hash");
    write("d1", "doc", 3); // within the slack: the document's keys are not refreshed
    long ttl = fixture.redis.ttl(fields);
    assertTrue(
        ttl > 0 && Math.abs(ttl - fixture.redis.ttl(meta)) <= 1,
        "the fields hash expires with its document, in " + ttl + " s");
  }

  @Test
  void aNewHistoryShowsNothingAnEarlierOneLeftBehind() {
    // What an expired document could leave before the fix above: its fields hash, without a TTL.
    fixture.redis.hset(prefix + "{u}:f:doc", "ghost", "boo");
    fixture.redis.rpush(prefix + "{u}:h:doc", "stale delta");
    WriteOutcome first = write(fixture, "d1", "doc", 1);
    SyncResult fresh = fixture.engine.store().read("u", "doc", 0, 0).join();
    assertEquals(List.of("f"), List.copyOf(fresh.fields().keySet()), fresh.toString());
    assertEquals(1, fixture.redis.llen(prefix + "{u}:h:doc"), "one delta: the write's");
    assertEquals(1, first.version());
  }

  @Test
  void namesOfExpiredDocumentsDoNotCountTowardTheUsersLimit() {
    try (EngineWithRawRedis two =
        new EngineWithRawRedis(
            prefix, StoreLimits.builder().idleTtl(TTL).maxDocumentsPerUser(2).build(), clock)) {
      write(two, "d1", "a", 1);
      write(two, "d1", "b", 2);
      // Document a expires on its own (its keys go), as documents do; b and the set live on.
      two.redis.del(prefix + "{u}:m:a", prefix + "{u}:f:a", prefix + "{u}:h:a");
      write(two, "d1", "c", 3);
      assertEquals(
          java.util.Set.of("b", "c"), two.redis.smembers(prefix + "{u}:docs"), "a's name is gone");
      WriteOutcome over = two.engine.store().write("u", "d1", Writes.set("d", 4, "f", "x")).join();
      assertEquals(ErrorCode.LIMIT_EXCEEDED, over.error(), "two live documents: " + over);
    }
  }

  @Test
  void aDeviceThatKeepsWritingNewDocumentsKeepsABoundedRecordOfThem() {
    // A device writes a new document each "day" (a second device writes it too), and yesterday's
    // expires idle, as Redis would expire its keys: the devices' outcome hashes must not keep a
    // field per document they ever wrote.
    int window = 16;
    try (EngineWithRawRedis daily =
        new EngineWithRawRedis(
            prefix, StoreLimits.builder().idleTtl(TTL).seqWindow(window).build(), clock)) {
      int days = 400;
      for (int day = 1; day <= days; day++) {
        write(daily, "d1", "day-" + day, day);
        write(daily, "d2", "day-" + day, day);
        String gone = "day-" + (day - 1);
        daily.redis.del(
            prefix + "{u}:m:" + gone, prefix + "{u}:f:" + gone, prefix + "{u}:h:" + gone);
      }
      // The outcomes of the window (and a sixteenth), the highest seq per document within it, and
      // _last, _forgot, _t; with room for the records made since the last pruning.
      long bound = 4L * (window + window / 16) + 3;
      for (String device : List.of("d1", "d2")) {
        long fields = daily.redis.hlen(prefix + "{u}:s:" + device);
        assertTrue(
            fields <= bound, device + " keeps " + fields + " fields after " + days + " days");
      }
      // What the records are for still holds: an older write of a document the device wrote
      // within the window is refused, not applied over the newer one.
      write(daily, "d1", "a", days + 1);
      write(daily, "d1", "a", days + 3);
      WriteOutcome older =
          daily.engine.store().write("u", "d1", Writes.set("a", days + 2, "f", "x")).join();
      assertEquals(ErrorCode.OUT_OF_ORDER, older.error(), older.toString());
    }
  }

  @Test
  void theSetOfWritingDevicesForgetsDevicesWhoseKeysExpired() {
    // One device keeps writing; many others write once and go quiet (a reinstall brings a new
    // device id), and their keys expire idle, as Redis would expire them: the user's set of
    // writing devices, renewed by every write of the active one, must not keep them all.
    int quiet = 300;
    for (int i = 1; i <= quiet; i++) {
      write("main", "doc", i);
      write("tmp-" + i, "doc", 1);
      fixture.redis.del(prefix + "{u}:s:tmp-" + i, prefix + "{u}:o:tmp-" + i);
    }
    long members = fixture.redis.scard(prefix + "{u}:wd");
    assertTrue(members <= 32, "the set lists " + members + " devices, 2 of them with keys");
    assertTrue(fixture.redis.sismember(prefix + "{u}:wd", "main"), "the active device is listed");
  }

  private void write(String device, String doc, long seq) {
    write(fixture, device, doc, seq);
  }

  private static WriteOutcome write(EngineWithRawRedis on, String device, String doc, long seq) {
    WriteOutcome out = on.engine.store().write("u", device, Writes.numbered(doc, seq)).join();
    assertTrue(out.isApplied(), out.toString());
    return out;
  }

  private List<String> userKeys() {
    return RedisKeyspace.keys(
        List.of(RedisProcess.sharedUrl()), RedisKeyspace.userKeys(prefix, "u"));
  }
}
