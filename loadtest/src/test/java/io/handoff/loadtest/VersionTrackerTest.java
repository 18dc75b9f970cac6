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
    VersionTracker t = new VersionTracker(3);
    assertEquals(Arrival.IN_ORDER, t.onVersion(1, OTHER, 1));
    assertEquals(Arrival.IN_ORDER, t.onVersion(2, OTHER, 2));
    assertEquals(Arrival.IN_ORDER, t.onVersion(3, SELF, 1));
    assertEquals(3, t.high());
  }

  @Test
  void aVersionThatArrivesTwiceIsADuplicate() {
    VersionTracker t = new VersionTracker(3);
    t.onVersion(1, OTHER, 1);
    t.onVersion(2, OTHER, 2);
    assertEquals(Arrival.DUPLICATE, t.onVersion(1, OTHER, 1));
    assertEquals(Arrival.DUPLICATE, t.onVersion(2, OTHER, 2));
  }

  @Test
  void aGapAndTheLateVersionBehindItAreBothOutOfOrder() {
    VersionTracker t = new VersionTracker(3);
    t.onVersion(1, OTHER, 1);
    assertEquals(Arrival.OUT_OF_ORDER, t.onVersion(3, OTHER, 3));
    assertEquals(Arrival.OUT_OF_ORDER, t.onVersion(2, 2, 1));
    assertEquals(3, t.high());
    assertEquals(Arrival.IN_ORDER, t.onVersion(4, OTHER, 4));
  }

  @Test
  void aNewVersionWithAnOldSequenceNumberIsAWriteAppliedTwice() {
    VersionTracker t = new VersionTracker(3);
    t.onVersion(1, OTHER, 7);
    assertEquals(Arrival.APPLIED_TWICE, t.onVersion(2, OTHER, 7));
    // Sequence numbers are per writer: another device may use the same number.
    assertEquals(Arrival.IN_ORDER, t.onVersion(3, 2, 7));
  }

  @Test
  void unknownOriginsSkipTheSequenceCheck() {
    VersionTracker t = new VersionTracker(3);
    assertEquals(Arrival.IN_ORDER, t.onVersion(1, -1, 0));
    assertEquals(Arrival.IN_ORDER, t.onVersion(2, -1, 0));
    assertEquals(Arrival.IN_ORDER, t.onVersion(3, 17, 1));
  }

  @Test
  void versionsFarAboveTheFirstAreTracked() {
    VersionTracker t = new VersionTracker(2);
    t.onSnapshot(9_999);
    assertEquals(Arrival.IN_ORDER, t.onVersion(10_000, OTHER, 1));
    assertEquals(Arrival.DUPLICATE, t.onVersion(10_000, OTHER, 1));
    assertTrue(t.isSeen(10_000));
    assertFalse(t.isSeen(9_999));
  }

  @Test
  void aSnapshotCoversWhatItContainsAndTheNextVersionIsInOrder() {
    VersionTracker t = new VersionTracker(3);
    t.onVersion(1, OTHER, 1);
    t.onSnapshot(5);
    assertEquals(5, t.high());
    assertEquals(Arrival.IN_ORDER, t.onVersion(6, OTHER, 6));
  }

  @Test
  void theWalkCountsWhatNeverArrivedByWriter() {
    // Versions 1..8: 1-4 by OTHER, 5 by SELF, 6 by OTHER, 7 unknown, 8 by OTHER.
    DocLog log = new DocLog();
    for (long v : new long[] {1, 2, 3, 4, 6, 8}) {
      log.acked(v, OTHER);
    }
    log.acked(5, SELF);
    VersionTracker t = new VersionTracker(3);
    t.onVersion(1, OTHER, 1);
    t.onSnapshot(3); // 2 and 3 only inside the snapshot
    t.onVersion(4, OTHER, 4);
    // 5 (own) missing, 6 missing, 7 (unknown writer) missing, 8 received
    t.onVersion(8, OTHER, 8);
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
    VersionTracker t = new VersionTracker(2);
    for (long v = 1; v <= 200; v++) {
      log.acked(v, (int) (v % 2));
      t.onVersion(v, (int) (v % 2), v);
    }
    VersionTracker.Walk w = new VersionTracker.Walk();
    t.walk(200, log, SELF, w);
    assertEquals(0, w.othersMissing + w.othersViaSnapshot + w.ownMissing + w.unknownMissing);
  }

  @Test
  void twoWritesAckedWithOneVersionAreACollision() {
    DocLog log = new DocLog();
    assertTrue(log.acked(1, 0));
    assertTrue(log.acked(1, 0)); // the same writer's retried write: same version again
    assertFalse(log.acked(1, 1));
    assertEquals(1, log.collisions());
    assertEquals(0, log.origin(1));
    assertEquals(-1, log.origin(2));
    assertEquals(1, log.maxAcked());
  }
}
