package io.handoff.loadtest;

import java.util.Arrays;

/**
 * One document of one user, as its writers saw it: the highest acked version and which device wrote
 * each version (from the acks). Shared by the user's devices, which may live on different event
 * loops. Writers' slots must be below {@link #MAX_SLOTS}. Thread-safe.
 */
final class DocLog implements VersionTracker.Origins {
  /** Devices per user this log can tell apart. */
  static final int MAX_SLOTS = Short.MAX_VALUE - 1;

  private volatile long maxAcked;
  // origins[v] = slot + 1 of the device whose write became version v; 0 while unknown.
  private short[] origins = new short[64];
  private long collisions;

  /**
   * Records that the write of device {@code slot} became {@code version}.
   *
   * @return false when another write had already been acked with the same version (a server bug)
   */
  synchronized boolean acked(long version, int slot) {
    if (version <= 0 || version > Integer.MAX_VALUE - 8) {
      collisions++;
      return false;
    }
    int v = (int) version;
    if (v >= origins.length) {
      origins = Arrays.copyOf(origins, Math.max(v + 1, origins.length * 2));
    }
    if (origins[v] != 0 && origins[v] != slot + 1) {
      collisions++;
      return false;
    }
    origins[v] = (short) (slot + 1);
    if (version > maxAcked) {
      maxAcked = version;
    }
    return true;
  }

  /** The highest version acked to any writer; 0 before the first ack. Never blocks. */
  long maxAcked() {
    return maxAcked;
  }

  @Override
  public synchronized int origin(long version) {
    return version > 0 && version < origins.length ? origins[(int) version] - 1 : -1;
  }

  /** How many acks named a version another write already had. */
  synchronized long collisions() {
    return collisions;
  }
}
