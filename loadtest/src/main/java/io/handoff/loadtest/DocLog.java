package io.handoff.loadtest;

import java.util.Arrays;

/**
 * One document of one user, as the run saw the server apply it: the highest acked version, and for
 * each version the device that wrote it and that device's client sequence number. The writer comes
 * from acks and from deltas (which carry origin device and sequence), so a write applied but never
 * acked is known as soon as any device receives it. Shared by the user's devices, which may live on
 * different event loops. Writers' slots must be below {@link #MAX_SLOTS}. Thread-safe.
 *
 * <p>What it tells: a write applied twice (one writer's sequence number under two versions), a
 * version given to two different writes, and writes of one device applied out of the order the
 * device made them (a lower sequence number of the same writer at a higher version: the device
 * numbers each document's writes in the order it made them).
 */
final class DocLog implements VersionTracker.Origins {
  /** Devices per user this log can tell apart. */
  static final int MAX_SLOTS = Short.MAX_VALUE - 1;

  /** What an observation of (writer, sequence number, version) means. */
  enum Seen {
    /** The first time this version was seen. */
    NEW,
    /** This version was seen before, from the same write. */
    AGAIN,
    /** The writer's sequence number was already applied as another version: applied twice. */
    APPLIED_TWICE,
    /** This version was seen before from another write: two writes got one version. */
    VERSION_REUSED
  }

  private static final int MAX_VERSION = Integer.MAX_VALUE - 8;

  private volatile long maxAcked;
  // origins[v] = slot + 1 of the device whose write became version v; 0 while unknown.
  private short[] origins = new short[64];
  // seqs[v] = that write's client sequence number; 0 while unknown.
  private long[] seqs = new long[64];
  // versionsBySeq[slot][seq] = the version the writer's write seq became; 0 while unknown.
  private long[][] versionsBySeq = new long[0][];
  private long reused;
  private long appliedTwice;

  /**
   * Records that the write of device {@code slot} became {@code version} (from its ack, where its
   * sequence number is not known).
   *
   * @return false when another write had already been recorded with the same version
   */
  synchronized boolean acked(long version, int slot) {
    if (version <= 0 || version > MAX_VERSION) {
      reused++;
      return false;
    }
    int v = (int) version;
    grow(v);
    if (origins[v] != 0 && origins[v] != slot + 1) {
      reused++;
      return false;
    }
    origins[v] = (short) (slot + 1);
    if (version > maxAcked) {
      maxAcked = version;
    }
    return true;
  }

  /**
   * Records that {@code version} was written by device {@code slot} as its write {@code seq} (from
   * a delta or the ack of an own write). Sequence numbers of 0 and unknown slots are ignored.
   */
  synchronized Seen observe(long version, int slot, long seq) {
    if (slot < 0 || slot >= MAX_SLOTS || seq <= 0 || version <= 0 || version > MAX_VERSION) {
      return Seen.NEW;
    }
    int v = (int) version;
    grow(v);
    if (seqs[v] != 0) {
      if (seqs[v] == seq && origins[v] == slot + 1) {
        return Seen.AGAIN;
      }
      reused++;
      return Seen.VERSION_REUSED;
    }
    if (origins[v] != 0 && origins[v] != slot + 1) {
      reused++;
      return Seen.VERSION_REUSED;
    }
    origins[v] = (short) (slot + 1);
    seqs[v] = seq;
    if (slot >= versionsBySeq.length) {
      versionsBySeq = Arrays.copyOf(versionsBySeq, slot + 1);
    }
    long[] bySeq = versionsBySeq[slot];
    if (bySeq == null || seq >= bySeq.length) {
      int size =
          (int) Math.min(MAX_VERSION, Math.max(seq + 1, bySeq == null ? 64 : bySeq.length * 2L));
      if (seq >= size) {
        return Seen.NEW;
      }
      bySeq = bySeq == null ? new long[size] : Arrays.copyOf(bySeq, size);
      versionsBySeq[slot] = bySeq;
    }
    int s = (int) seq;
    if (bySeq[s] != 0 && bySeq[s] != version) {
      appliedTwice++;
      return Seen.APPLIED_TWICE;
    }
    bySeq[s] = version;
    return Seen.NEW;
  }

  /** The highest version acked to any writer; 0 before the first ack. Never blocks. */
  long maxAcked() {
    return maxAcked;
  }

  @Override
  public synchronized int origin(long version) {
    return version > 0 && version < origins.length ? origins[(int) version] - 1 : -1;
  }

  /** How many times two writes were seen with one version. */
  synchronized long reused() {
    return reused;
  }

  /** How many writes were seen applied as a second version. */
  synchronized long appliedTwice() {
    return appliedTwice;
  }

  /**
   * Versions up to {@code last} whose write has a lower sequence number than an earlier version
   * written by the same device: a write applied after a newer write of the same device.
   */
  synchronized long appliedOutOfOrder(long last) {
    long[] highest = new long[versionsBySeq.length];
    long count = 0;
    long end = Math.min(last, seqs.length - 1);
    for (int v = 1; v <= end; v++) {
      int slot = origins[v] - 1;
      long seq = seqs[v];
      if (slot < 0 || seq == 0 || slot >= highest.length) {
        continue;
      }
      if (seq < highest[slot]) {
        count++;
      } else {
        highest[slot] = seq;
      }
    }
    return count;
  }

  private void grow(int v) {
    if (v >= origins.length) {
      int size = Math.max(v + 1, origins.length * 2);
      origins = Arrays.copyOf(origins, size);
      seqs = Arrays.copyOf(seqs, size);
    }
  }
}
