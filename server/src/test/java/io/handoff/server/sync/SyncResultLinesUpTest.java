package io.handoff.server.sync;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.Delta;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@link SyncResult#linesUp}: the deltas a store's history gives for a position are served only
 * when they are exactly the versions after it, each on top of the one before, ending at the
 * document's fingerprint; fingerprints of 0 (data from before fingerprints) are not held against
 * them.
 */
class SyncResultLinesUpTest {

  @Test
  void theVersionsAfterThePositionInOrderAndChainedLineUp() {
    assertTrue(
        SyncResult.linesUp(
            2, 5, 50, List.of(delta(3, 30, 20), delta(4, 40, 30), delta(5, 50, 40))));
    assertTrue(SyncResult.linesUp(0, 2, 20, List.of(delta(1, 10, 0), delta(2, 20, 10))), "from 0");
  }

  @Test
  void deltasWithoutFingerprintsLineUpByTheirVersions() {
    assertTrue(SyncResult.linesUp(1, 3, 0, List.of(delta(2, 0, 0), delta(3, 0, 0))));
    assertTrue(SyncResult.linesUp(1, 3, 30, List.of(delta(2, 0, 0), delta(3, 30, 0))));
  }

  @Test
  void anEntryTooManyOrTooFewDoesNotLineUp() {
    // What a replayed torn write leaves: its delta twice; read by position, one version is skipped.
    assertFalse(SyncResult.linesUp(2, 4, 40, List.of(delta(4, 40, 30), delta(4, 40, 30))));
    assertFalse(
        SyncResult.linesUp(2, 4, 0, List.of(delta(4, 0, 0), delta(4, 0, 0))), "no fingerprints");
    assertFalse(
        SyncResult.linesUp(2, 5, 50, List.of(delta(4, 40, 30), delta(5, 50, 40))), "one short");
    assertFalse(SyncResult.linesUp(1, 3, 30, List.of(delta(2, 20, 10), delta(4, 30, 20))), "a gap");
  }

  @Test
  void aBrokenChainOrAnotherLastFingerprintDoesNotLineUp() {
    assertFalse(SyncResult.linesUp(1, 3, 30, List.of(delta(2, 20, 10), delta(3, 30, 99))), "chain");
    assertFalse(SyncResult.linesUp(1, 3, 77, List.of(delta(2, 20, 10), delta(3, 30, 20))), "last");
  }

  private static DocumentEvent delta(long version, long fingerprint, long previous) {
    return new DocumentEvent(
        "u",
        Delta.newBuilder()
            .setDocument("doc")
            .setVersion(version)
            .setFingerprint(fingerprint)
            .setPreviousFingerprint(previous)
            .build());
  }
}
