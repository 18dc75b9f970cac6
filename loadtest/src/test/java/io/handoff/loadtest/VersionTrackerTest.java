package io.handoff.loadtest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.loadtest.VersionTracker.Arrival;
import org.junit.jupiter.api.Test;

class VersionTrackerTest {
  private static final int SELF = 0;
  private static final int OTHER = 1;

  @Test
  void consecutiveVersionsArriveInOrder() {
    VersionTracker t = new VersionTracker();
    assertEquals(Arrival.IN_ORDER, t.onVersion(1));
    assertEquals(Arrival.IN_ORDER, t.onVersion(2));
    assertEquals(Arrival.IN_ORDER, t.onVersion(3));
    assertEquals(3, t.high());
  }

  @Test
  void aVersionThatArrivesTwiceIsADuplicate() {
    VersionTracker t = new VersionTracker();
    t.onVersion(1);
    t.onVersion(2);
    assertEquals(Arrival.DUPLICATE, t.onVersion(1));
    assertEquals(Arrival.DUPLICATE, t.onVersion(2));
  }

  @Test
  void aGapAndTheLateVersionBehindItAreBothOutOfOrder() {
    VersionTracker t = new VersionTracker();
    t.onVersion(1);
    assertEquals(Arrival.OUT_OF_ORDER, t.onVersion(3));
    assertEquals(Arrival.OUT_OF_ORDER, t.onVersion(2));
    assertEquals(3, t.high());
    assertEquals(Arrival.IN_ORDER, t.onVersion(4));
  }

  @Test
  void versionsFarAboveTheFirstAreTracked() {
    VersionTracker t = new VersionTracker();
    t.onSnapshot(9_999);
    assertEquals(Arrival.IN_ORDER, t.onVersion(10_000));
    assertEquals(Arrival.DUPLICATE, t.onVersion(10_000));
    assertTrue(t.isSeen(10_000));
    assertFalse(t.isSeen(9_999));
  }

  @Test
  void aSnapshotCoversWhatItContainsAndTheNextVersionIsInOrder() {
    VersionTracker t = new VersionTracker();
    t.onVersion(1);
    t.onSnapshot(5);
    assertEquals(5, t.high());
    assertEquals(Arrival.IN_ORDER, t.onVersion(6));
  }

  @Test
  void theWalkCountsWhatNeverArrivedByWriter() {
    // Versions 1..8: 1-4 by OTHER, 5 by SELF, 6 by OTHER, 7 unknown, 8 by OTHER.
    DocLog log = new DocLog();
    for (long v : new long[] {1, 2, 3, 4, 6, 8}) {
      log.acked(v, OTHER);
    }
    log.acked(5, SELF);
    VersionTracker t = new VersionTracker();
    t.onVersion(1);
    t.onSnapshot(3); // 2 and 3 only inside the snapshot
    t.onVersion(4);
    // 5 (own) missing, 6 missing, 7 (unknown writer) missing, 8 received
    t.onVersion(8);
    VersionTracker.Walk w = new VersionTracker.Walk();
    t.walk(8, log, SELF, w);
    assertEquals(2, w.othersViaSnapshot);
    assertEquals(1, w.othersMissing);
    assertEquals(1, w.ownMissing);
    assertEquals(1, w.unknownMissing);
  }

  @Test
  void theWalkFindsNothingWhenEveryVersionArrived() {
    DocLog log = new DocLog();
    VersionTracker t = new VersionTracker();
    for (long v = 1; v <= 200; v++) {
      log.acked(v, (int) (v % 2));
      t.onVersion(v);
    }
    VersionTracker.Walk w = new VersionTracker.Walk();
    t.walk(200, log, SELF, w);
    assertEquals(0, w.othersMissing + w.othersViaSnapshot + w.ownMissing + w.unknownMissing);
  }

  @Test
  void twoWritesAckedWithOneVersionAreAReusedVersion() {
    DocLog log = new DocLog();
    assertTrue(log.acked(1, 0));
    assertTrue(log.acked(1, 0)); // the same writer's retried write: same version again
    assertFalse(log.acked(1, 1));
    assertEquals(1, log.reused());
    assertEquals(0, log.origin(1));
    assertEquals(-1, log.origin(2));
    assertEquals(1, log.maxAcked());
  }

  @Test
  void aWriteSeenAgainAsTheSameVersionIsNotADuplicateButUnderAnotherVersionIs() {
    DocLog log = new DocLog();
    assertEquals(DocLog.Seen.NEW, log.observe(1, OTHER, 7));
    assertEquals(DocLog.Seen.AGAIN, log.observe(1, OTHER, 7), "a second receiver, same write");
    // Sequence numbers are per writer: another device may use the same number.
    assertEquals(DocLog.Seen.NEW, log.observe(2, SELF, 7));
    assertEquals(DocLog.Seen.APPLIED_TWICE, log.observe(3, OTHER, 7));
    assertEquals(DocLog.Seen.AGAIN, log.observe(3, OTHER, 7), "counted once, not per receiver");
    assertEquals(1, log.appliedTwice());
    assertEquals(DocLog.Seen.VERSION_REUSED, log.observe(2, OTHER, 8));
    assertEquals(1, log.reused());
  }

  @Test
  void aDevicesOlderWriteAppliedAfterItsNewerOneIsOutOfOrder() {
    DocLog log = new DocLog();
    log.observe(1, OTHER, 10);
    log.observe(2, SELF, 3);
    log.observe(3, OTHER, 12);
    log.observe(4, OTHER, 11); // re-sent after its successor went through
    log.observe(5, SELF, 4);
    log.observe(6, OTHER, 13);

    assertEquals(1, log.appliedOutOfOrder(6));
    assertEquals(0, log.appliedOutOfOrder(3));
    assertEquals(0, log.appliedTwice());
  }
}
