package io.handoff.server.engine.memory;

import static io.handoff.server.Writes.numbered;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.Activity;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.Offer;
import io.handoff.protocol.v1.OfferOutcome;
import io.handoff.protocol.v1.Write;
import io.handoff.server.MutableClock;
import io.handoff.server.Writes;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.handoff.HandoffStore;
import io.handoff.server.sync.Broker;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * The memory engine holds what is live or retained, never one entry per user ever seen: users come
 * and go in waves, the test's clock moves past every retention, and each sweep brings every map
 * back to the users still active.
 */
class MemoryEngineBoundsTest {
  private static final int USERS = 100_000;
  private static final int WAVES = 10;
  private static final StoreLimits LIMITS = StoreLimits.builder().build();
  // Longer than every retention: idle TTL, presence, ended offers, activities.
  private static final Duration GONE =
      LIMITS
          .idleTtl()
          .plus(HandoffStore.PRESENCE_RETENTION)
          .plus(HandoffStore.ENDED_RETENTION)
          .plusDays(1);

  private final MutableClock clock = new MutableClock(1_700_000_000_000L);

  @Test
  void memoryStaysBoundedAfterAHundredThousandUsersComeAndGo() {
    MemoryEngine engine = new MemoryEngine(LIMITS, clock);
    try {
      int perWave = USERS / WAVES;
      for (int wave = 0; wave < WAVES; wave++) {
        for (int i = 0; i < perWave; i++) {
          visit(engine, "u" + wave + "-" + i);
        }
        assertEquals(perWave + (wave == 0 ? 0 : 1), engine.handoff().users(), "while they stay");
        clock.advance(GONE);
        visit(engine, "stayer"); // active right before the sweep: kept
        engine.sweep(clock.instant()).join();
        assertEquals(1, engine.store().users(), "documents after wave " + wave);
        assertEquals(1, engine.sessions().users(), "device sessions after wave " + wave);
        assertEquals(1, engine.handoff().users(), "handoff state after wave " + wave);
        assertEquals(0, engine.broker().subscribedUsers(), "broker subscribers");
      }
      assertTrue(engine.store().holds("stayer"));
      assertTrue(engine.handoff().holds("stayer"));
    } finally {
      engine.close();
    }
  }

  /**
   * Promise 2 within a bound: no device's record of its writes is dropped for another device. While
   * the user has {@code maxWritingDevicesPerUser} records, none idle, a write of one more device is
   * refused LIMIT_EXCEEDED with nothing applied or recorded, and every recorded device's re-send is
   * still the same write; once a device has not written for the idle TTL its record goes (as its
   * keys expire on Redis) and the newcomer's write is applied.
   */
  @Test
  void aDevicesRecordGoesOnlyWithTheIdleTtlAndADeviceBeyondTheBoundIsRefused() {
    StoreLimits limits = StoreLimits.builder().maxDevicesPerUser(2).build();
    int max = limits.maxWritingDevicesPerUser();
    assertEquals(2 * StoreLimits.WRITING_DEVICES_PER_DEVICE, max);
    Duration idle = limits.idleTtl();
    MemoryEngine engine = new MemoryEngine(limits, clock);
    try {
      var store = engine.store();
      assertTrue(store.write("u", "d0", numbered("doc", 1)).join().isApplied());
      clock.advance(idle.dividedBy(2));
      for (int i = 1; i < max; i++) {
        assertTrue(store.write("u", "d" + i, numbered("doc", 1)).join().isApplied(), "device " + i);
      }
      var refused = store.write("u", "late", numbered("doc", 1)).join();
      assertEquals(ErrorCode.LIMIT_EXCEEDED, refused.error(), refused.toString());
      assertTrue(refused.message().contains(max + " devices"), refused.message());
      assertTrue(refused.noWriteRecord(), "the store has no record of late's writes");
      assertEquals(max, store.read("u", "doc", 0, 0).join().toVersion(), "nothing applied");
      assertEquals(0L, store.lastClientSeq("u", "late").join(), "nothing recorded");
      assertEquals(max, store.writingDevices("u"));
      for (int i = 0; i < max; i++) {
        var again = store.write("u", "d" + i, numbered("doc", 1)).join();
        assertTrue(again.duplicate(), "device " + i + ": " + again);
        assertEquals(i + 1, again.version());
      }
      // Resuming does not keep a record (nor does a re-send): only writes do, as on Redis.
      assertEquals(1L, store.lastClientSeq("u", "d0").join());
      clock.advance(idle.dividedBy(2).minusMillis(1));
      engine.sweep(clock.instant()).join();
      assertEquals(max, store.writingDevices("u"), "d0 has not been idle for the TTL yet");
      assertEquals(
          ErrorCode.LIMIT_EXCEEDED,
          store.write("u", "late", numbered("doc", 1)).join().error(),
          "no room");
      clock.advance(Duration.ofMillis(1));
      var applied = store.write("u", "late", numbered("doc", 1)).join();
      assertTrue(applied.isApplied(), applied.toString());
      assertFalse(applied.duplicate());
      assertEquals(0L, store.lastClientSeq("u", "d0").join(), "d0's record expired");
      assertEquals(1L, store.lastClientSeq("u", "d1").join());
      assertEquals(max, store.writingDevices("u"));
      clock.advance(idle.dividedBy(2));
      engine.sweep(clock.instant()).join();
      assertEquals(1, store.writingDevices("u"), "the sweep drops the others' records");
    } finally {
      engine.close();
    }
  }

  /**
   * Honest outcomes: a device whose record of its writes expired (it has not written for the idle
   * TTL) re-sends a write whose answer it never got, while the user's other devices fill the bound:
   * the refusal says it was made with no record of the device's writes, since the first send,
   * before the record went, may have been applied (it was). A client that never learnt that write's
   * fate then gives it up as "may have been applied", not as certainly refused.
   */
  @Test
  void aReSendRefusedForWantOfRoomAfterItsDevicesRecordExpiredSaysTheStoreHadNoRecord() {
    StoreLimits limits = StoreLimits.builder().maxDevicesPerUser(1).build();
    int max = limits.maxWritingDevicesPerUser();
    MemoryEngine engine = new MemoryEngine(limits, clock);
    try {
      var store = engine.store();
      assertTrue(
          store.write("u", "tv", numbered("doc", 1)).join().isApplied(), "its answer is lost");
      clock.advance(limits.idleTtl());
      for (int i = 0; i < max; i++) {
        assertTrue(
            store.write("u", "d" + i, numbered("doc", i + 2)).join().isApplied(), "device " + i);
      }
      var resent = store.write("u", "tv", numbered("doc", 1)).join();
      assertEquals(ErrorCode.LIMIT_EXCEEDED, resent.error(), resent.toString());
      assertTrue(
          resent.noWriteRecord(),
          "refused as if certainly not applied, though the first send was: " + resent);
    } finally {
      engine.close();
    }
  }

  /**
   * Only what the store records counts as the user's activity, as on Redis, where only such a write
   * refreshes keys' TTLs: a device that keeps sending a write refused for want of room for its
   * record, and a device that keeps re-sending a write answered from its record, keep nothing of
   * the user's state past the idle TTL of the last write the store recorded.
   */
  @Test
  void writesTheStoreDoesNotRecordDoNotKeepTheUsersState() {
    StoreLimits limits = StoreLimits.builder().maxDevicesPerUser(1).build();
    int max = limits.maxWritingDevicesPerUser();
    Duration idle = limits.idleTtl();
    MemoryEngine engine = new MemoryEngine(limits, clock);
    try {
      var store = engine.store();
      for (int i = 0; i < max; i++) {
        assertTrue(
            store.write("u", "d" + i, numbered("doc", i + 1)).join().isApplied(), "device " + i);
      }
      clock.advance(idle.minusMillis(1));
      var refused = store.write("u", "late", numbered("doc", 1)).join();
      assertEquals(ErrorCode.LIMIT_EXCEEDED, refused.error(), refused.toString());
      assertTrue(
          store.write("u", "d0", numbered("doc", 1)).join().duplicate(),
          "answered from the record");
      clock.advance(Duration.ofMillis(1));
      engine.sweep(clock.instant()).join();
      assertFalse(
          store.holds("u"),
          "the user's state outlived the idle TTL of its last recorded write, kept by writes the"
              + " store did not record");
      assertEquals(0, store.users());
    } finally {
      engine.close();
    }
  }

  /**
   * A device that keeps writing keeps its user's state, while each document it wrote once and left
   * expires with the idle TTL: the device's record of the order of its writes per document goes
   * with the document, so a device writing a new document each day holds a record per live
   * document, not one per document it ever wrote.
   */
  @Test
  void aDevicesOrderRecordsGoWithTheDocumentsThatExpire() {
    MemoryEngine engine = new MemoryEngine(LIMITS, clock);
    try {
      var store = engine.store();
      int days = 365;
      for (int day = 1; day <= days; day++) {
        Write w = Writes.set("draft-" + day, day, "f", "v");
        assertTrue(store.write("u", "phone", w).join().isApplied());
        clock.advance(Duration.ofDays(1));
        engine.sweep(clock.instant()).join();
      }
      int live = store.documents("u").join().size();
      assertTrue(live <= LIMITS.idleTtl().toDays(), live + " drafts: those of the last idle TTL");
      assertEquals(live, store.orderRecords("u"), "order records of the device");
    } finally {
      engine.close();
    }
  }

  /** One user's visit: connects, writes, signs in, offers, accepts, goes offline, leaves. */
  private void visit(MemoryEngine engine, String user) {
    Broker.Subscription sub = engine.broker().subscribe(user, e -> {});
    engine.store().write(user, "phone", Writes.set("player", clock.millis(), "t", "42")).join();
    engine.sessions().create(user, "s-" + user, "phone", "Phone", "ios", new byte[] {1}).join();
    HandoffStore handoff = engine.handoff();
    handoff
        .putActivity(
            user, Activity.newBuilder().setDeviceId("phone").build(), Duration.ofDays(1), 64)
        .join();
    handoff.online(user, "phone", 1, 0, Duration.ofSeconds(30), 8).join();
    String offerId = "o-" + clock.millis();
    handoff
        .createOffer(
            user,
            Offer.newBuilder()
                .setOfferId(offerId)
                .setFromDevice("phone")
                .setCreatedMs(clock.millis())
                .setExpiresMs(clock.millis() + 60_000)
                .build(),
            8)
        .join();
    handoff.endOffer(user, offerId, "tv", OfferOutcome.ACCEPTED).join();
    handoff.offline(user, "phone", 1).join();
    sub.close();
  }
}
