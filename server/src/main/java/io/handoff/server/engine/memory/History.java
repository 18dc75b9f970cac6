package io.handoff.server.engine.memory;

import java.util.Arrays;

/**
 * One document's recent versions, kept as the push frames the store encoded for them ({@code
 * DocumentEvent#frame}): consecutive versions, their frames back to back in one byte array used as
 * a ring, and beside them each frame's place and its write's timestamp in primitive arrays.
 *
 * <p>Why bytes and not the events: an event kept in history outlives every young collection, so
 * each one was copied out of the young generation and promoted, and storing it into the document's
 * long-lived deque dirtied a card that G1's concurrent refinement then had to scan. Copying the
 * frame's bytes into an array that already lives stores no reference at all, and the event itself
 * dies young. Reading history back ({@link #frame}) copies a frame out; the store parses the
 * event's fields from it.
 *
 * <p>Bounds: the caller {@link #trim}s to its length and age limits after each {@link #add}. The
 * byte array holds the frames present with at most one gap (where a frame did not fit before the
 * array's end and went to its start); it doubles when a frame does not fit and halves when the
 * frames fill less than a quarter of it, so it is never more than four times what it holds (and at
 * least {@link #MIN_BYTES}). The entry arrays double up to the number of frames held.
 *
 * <p>Not thread-safe: the store guards it with its user's monitor.
 */
final class History {
  static final int MIN_BYTES = 256;
  private static final int MIN_ENTRIES = 4;
  private static final int MAX_ARRAY = Integer.MAX_VALUE - 8;
  private static final byte[] NO_BYTES = new byte[0];
  private static final int[] NO_INTS = new int[0];
  private static final long[] NO_LONGS = new long[0];

  private byte[] ring = NO_BYTES;
  // Per entry, indexed from first round the entry arrays: where its frame starts in ring, its
  // length, and the write's timestamp.
  private int[] starts = NO_INTS;
  private int[] lengths = NO_INTS;
  private long[] timestamps = NO_LONGS;
  private int first;
  private int count;
  // The version of the entry at first.
  private long firstVersion;
  // Bytes of the frames held (gaps not counted).
  private long held;
  // The frames occupy [head, tail) when not wrapped; else [head, wrapEnd) and then [0, tail).
  private int head;
  private int tail;
  private int wrapEnd;
  private boolean wrapped;

  /** Versions held. */
  int size() {
    return count;
  }

  boolean isEmpty() {
    return count == 0;
  }

  /** The oldest version held; meaningless when empty. */
  long firstVersion() {
    return firstVersion;
  }

  /** The newest version held; meaningless when empty. */
  long lastVersion() {
    return firstVersion + count - 1;
  }

  /** Bytes of the frames held. */
  long heldBytes() {
    return held;
  }

  /** The byte array's length: what the frames cost, for tests of the bounds. */
  int capacityBytes() {
    return ring.length;
  }

  /**
   * Adds {@code frame} as {@code version}, written at {@code timestampMs}: the version after the
   * newest held, or any version when empty (history starts there).
   */
  void add(long version, long timestampMs, byte[] frame) {
    if (count > 0 && version != firstVersion + count) {
      throw new IllegalArgumentException(
          "version " + version + " does not follow " + lastVersion() + " in history");
    }
    int length = frame.length;
    if (count == 0) {
      firstVersion = version;
      head = 0;
      tail = 0;
      wrapped = false;
    }
    int at = place(length);
    System.arraycopy(frame, 0, ring, at, length);
    tail = at + length;
    if (count == starts.length) {
      growEntries();
    }
    int i = index(count);
    starts[i] = at;
    lengths[i] = length;
    timestamps[i] = timestampMs;
    count++;
    held += length;
  }

  /**
   * Drops the oldest versions while more than {@code maxLength} are held or the oldest was written
   * before {@code oldestTimestampMs}.
   */
  void trim(int maxLength, long oldestTimestampMs) {
    boolean dropped = false;
    while (count > 0 && (count > maxLength || timestamps[first] < oldestTimestampMs)) {
      held -= lengths[first];
      first = first + 1 == starts.length ? 0 : first + 1;
      count--;
      firstVersion++;
      dropped = true;
      if (count == 0) {
        head = 0;
        tail = 0;
        wrapped = false;
      } else {
        int next = starts[first];
        if (wrapped && next < head) {
          wrapped = false; // The oldest frame is now the first of the array's start.
        }
        head = next;
      }
    }
    if (dropped && ring.length > MIN_BYTES && held * 4 < ring.length) {
      int capacity = ring.length;
      while (capacity / 2 >= MIN_BYTES && held * 4 < capacity) {
        capacity /= 2;
      }
      resize(capacity);
    }
  }

  /** A copy of {@code version}'s frame; the version must be held. */
  byte[] frame(long version) {
    int i = entry(version);
    int start = starts[i];
    return Arrays.copyOfRange(ring, start, start + lengths[i]);
  }

  /** When {@code version} was written; the version must be held. */
  long timestamp(long version) {
    return timestamps[entry(version)];
  }

  /** A copy that shares nothing with this one. */
  History copy() {
    History c = new History();
    c.ring = ring.clone();
    c.starts = starts.clone();
    c.lengths = lengths.clone();
    c.timestamps = timestamps.clone();
    c.first = first;
    c.count = count;
    c.firstVersion = firstVersion;
    c.held = held;
    c.head = head;
    c.tail = tail;
    c.wrapEnd = wrapEnd;
    c.wrapped = wrapped;
    return c;
  }

  private int entry(long version) {
    long n = version - firstVersion;
    if (n < 0 || n >= count) {
      throw new IllegalArgumentException(
          "version "
              + version
              + " is not in history ("
              + firstVersion
              + " to "
              + lastVersion()
              + ")");
    }
    return index((int) n);
  }

  private int index(int n) {
    int i = first + n;
    return i >= starts.length ? i - starts.length : i;
  }

  /** Where a frame of {@code length} bytes goes, making room first if none is free. */
  private int place(int length) {
    if (count > 0) {
      if (!wrapped) {
        if (tail + length <= ring.length) {
          return tail;
        }
        if (length <= head) {
          wrapped = true;
          wrapEnd = tail;
          return 0;
        }
      } else if (tail + length <= head) {
        return tail;
      }
    } else if (length <= ring.length) {
      return 0;
    }
    long needed = held + length;
    if (needed > MAX_ARRAY) {
      throw new IllegalStateException("history of " + needed + " bytes does not fit an array");
    }
    // Where the frames would fill no more than half the array, only the gaps were in the way:
    // closing them is enough. Otherwise the array doubles (or takes what is needed).
    long capacity =
        needed * 2 <= ring.length
            ? ring.length
            : Math.max(Math.max(MIN_BYTES, 2L * ring.length), needed);
    resize((int) Math.min(capacity, MAX_ARRAY));
    return tail;
  }

  /** Moves the frames held to the start of a new array of {@code capacity} bytes, in order. */
  private void resize(int capacity) {
    byte[] next = new byte[capacity];
    int at = 0;
    for (int n = 0; n < count; n++) {
      int i = index(n);
      System.arraycopy(ring, starts[i], next, at, lengths[i]);
      starts[i] = at;
      at += lengths[i];
    }
    ring = next;
    head = 0;
    tail = at;
    wrapped = false;
  }

  private void growEntries() {
    int capacity = Math.max(MIN_ENTRIES, starts.length * 2);
    int[] s = new int[capacity];
    int[] l = new int[capacity];
    long[] t = new long[capacity];
    for (int n = 0; n < count; n++) {
      int i = index(n);
      s[n] = starts[i];
      l[n] = lengths[i];
      t[n] = timestamps[i];
    }
    starts = s;
    lengths = l;
    timestamps = t;
    first = 0;
  }
}
