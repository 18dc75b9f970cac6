package io.handoff.loadtest;

import java.util.Arrays;

/**
 * What one device has received of one document: the set of versions that reached it as a delta or
 * as the ack of its own write, and the highest version a snapshot covered. It classifies each
 * arrival and, at the end of a run, walks versions 1 to the document's final version to count what
 * never arrived. Whether a write was applied twice is the {@link DocLog}'s to tell, from the
 * writers' sequence numbers.
 *
 * <p>Definitions: a version that arrives again is a <em>duplicate</em> (the same write delivered
 * twice); a version that arrives when the previous one has not is <em>out of order</em> (a gap, or
 * a late arrival behind a higher version). A version neither received nor covered by a snapshot is
 * <em>missing</em>.
 *
 * <p>Threading: confined to the device's event loop, except {@link #high()}, which any thread may
 * read (the drain loop polls it).
 */
final class VersionTracker {

  /** How one arrival was classified. */
  enum Arrival {
    /** A new version, exactly one above the highest received or covered so far. */
    IN_ORDER,
    /** A new version, but not the next one (a gap before it, or a higher one came first). */
    OUT_OF_ORDER,
    /** A version already received. */
    DUPLICATE
  }

  /** What {@link #walk} found missing, and what a snapshot covered instead. Mutable, one thread. */
  static final class Walk {
    /** Versions written by other devices that arrived only inside a snapshot. */
    long othersViaSnapshot;

    /** Versions written by other devices that never arrived, not even inside a snapshot. */
    long othersMissing;

    /** Versions this device wrote that its replica never received (neither ack nor delta). */
    long ownMissing;

    /** Versions whose writer is unknown (no ack recorded) that this device is missing. */
    long unknownMissing;
  }

  private long[] seen = new long[1];
  private volatile long high;
  private long snapshotVersion;

  /** A version arrived as a delta or as the ack of this device's own write. */
  Arrival onVersion(long version) {
    if (version <= 0) {
      throw new IllegalArgumentException("versions start at 1, was " + version);
    }
    if (isSeen(version)) {
      return Arrival.DUPLICATE;
    }
    markSeen(version);
    long previousHigh = high;
    if (version > previousHigh) {
      high = version;
    }
    return version == previousHigh + 1 ? Arrival.IN_ORDER : Arrival.OUT_OF_ORDER;
  }

  /** The whole document arrived at {@code version}: everything up to it is covered. */
  void onSnapshot(long version) {
    snapshotVersion = Math.max(snapshotVersion, version);
    if (version > high) {
      high = version;
    }
  }

  /** The highest version received or covered by a snapshot; safe to read from any thread. */
  long high() {
    return high;
  }

  /** Whether {@code version} arrived (as a delta or an ack; a snapshot does not count). */
  boolean isSeen(long version) {
    int word = (int) (version >>> 6);
    return word < seen.length && (seen[word] & (1L << version)) != 0;
  }

  /**
   * Counts, for versions 1 to {@code finalVersion}, those that never arrived: covered by a snapshot
   * or missing altogether, split by whether this device wrote them.
   *
   * @param origins the writer of each version: the writer's slot, or -1 when unknown
   * @param self this device's slot
   */
  void walk(long finalVersion, Origins origins, int self, Walk into) {
    for (long v = 1; v <= finalVersion; v++) {
      if (isSeen(v)) {
        continue;
      }
      int origin = origins.origin(v);
      boolean covered = v <= snapshotVersion;
      if (origin == self) {
        if (!covered) {
          into.ownMissing++;
        }
      } else if (covered) {
        into.othersViaSnapshot++;
      } else if (origin < 0) {
        into.unknownMissing++;
      } else {
        into.othersMissing++;
      }
    }
  }

  private void markSeen(long version) {
    int word = (int) (version >>> 6);
    if (word >= seen.length) {
      seen = Arrays.copyOf(seen, Math.max(word + 1, seen.length * 2));
    }
    seen[word] |= 1L << version;
  }

  /** Who wrote each version of a document. */
  interface Origins {
    /** The writer's slot for {@code version}, or -1 when unknown. */
    int origin(long version);
  }
}
