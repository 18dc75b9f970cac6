package io.handoff.server.engine.memory;

import java.util.Arrays;

/**
 * One document's recent versions, kept as the push frames the store encoded for them ({@code
 * DocumentEvent#frame}): consecutive versions, their frames back to back in byte chunks, and beside
 * them each frame's place and its write's timestamp in primitive arrays.
 *
 * <p>Why bytes and not the events: an event kept in history outlives every young collection, so
 * each one was copied out of the young generation and promoted, and storing it into the document's
 * long-lived deque dirtied a card that G1's concurrent refinement then had to scan. Copying the
 * frame's bytes into an array that already lives stores no reference at all, and the event itself
 * dies young. Reading history back ({@link #frame}) copies a frame out; the store parses the
 * event's fields from it.
 *
 * <p>Why chunks and not one growing array: a history fills over hundreds of writes, and an array
 * that doubled would copy what it holds at each doubling, and the collector would copy each new
 * array again. A chunk is written once, frame after frame, and kept until its last frame leaves; a
 * full history then reuses the chunk its oldest frames left as the next one, so it allocates
 * nothing. A frame never straddles two chunks: one larger than {@link #CHUNK} gets a chunk of its
 * own size. The first chunks of a document are small ({@link #FIRST_CHUNK}, doubling up to {@link
 * #CHUNK}), so a document written a few times costs a few hundred bytes.
 *
 * <p>Bounds: the caller {@link #trim}s to its length and age limits after each {@link #add}. Chunks
 * hold only frames still held, but for the unused end of each chunk (a frame that did not fit
 * starts the next one) and one spare chunk, so the bytes are at most about twice what is held plus
 * two chunks. The entry arrays double up to the number of frames held.
 *
 * <p>Not thread-safe: the store guards it with its user's monitor.
 */
final class History {
  static final int FIRST_CHUNK = 256;
  static final int CHUNK = 4096;
  private static final int MIN_ENTRIES = 4;
  private static final byte[][] NO_CHUNKS = new byte[0][];
  private static final int[] NO_INTS = new int[0];
  private static final long[] NO_LONGS = new long[0];

  // Ring of chunks, oldest at firstChunk; chunkCount of them in use.
  private byte[][] chunks = NO_CHUNKS;
  private int firstChunk;
  private int chunkCount;
  // The number of the chunk at firstChunk: chunks are numbered as they are started.
  private int firstChunkNumber;
  // Bytes used in the newest chunk.
  private int fill;
  // A CHUNK-sized chunk whose frames all left, kept for the next chunk; or null.
  private byte[] spare;
  // Per entry, in a ring indexed from first: its chunk's number, where its frame starts in that
  // chunk, its length, and the write's timestamp.
  private int[] chunkOf = NO_INTS;
  private int[] starts = NO_INTS;
  private int[] lengths = NO_INTS;
  private long[] timestamps = NO_LONGS;
  private int first;
  private int count;
  // The version of the entry at first.
  private long firstVersion;
  // Bytes of the frames held.
  private long held;
  // Chunks allocated so far (not reused), for tests of reuse.
  private long chunksMade;

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

  /** Bytes of the chunks (the spare too): what the frames cost, for tests of the bounds. */
  long capacityBytes() {
    long n = spare == null ? 0 : spare.length;
    for (int c = 0; c < chunkCount; c++) {
      n += chunks[chunkIndex(c)].length;
    }
    return n;
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
    if (count == 0) {
      firstVersion = version;
    }
    int length = frame.length;
    byte[] chunk = chunkCount == 0 ? null : chunks[chunkIndex(chunkCount - 1)];
    if (chunk == null || fill + length > chunk.length) {
      chunk = startChunk(length, chunk == null ? 0 : chunk.length);
    }
    System.arraycopy(frame, 0, chunk, fill, length);
    if (count == starts.length) {
      growEntries();
    }
    int i = index(count);
    chunkOf[i] = firstChunkNumber + chunkCount - 1;
    starts[i] = fill;
    lengths[i] = length;
    timestamps[i] = timestampMs;
    fill += length;
    count++;
    held += length;
  }

  /**
   * Drops the oldest versions while more than {@code maxLength} are held or the oldest was written
   * before {@code oldestTimestampMs}; a chunk whose frames have all left goes with them.
   */
  void trim(int maxLength, long oldestTimestampMs) {
    while (count > 0 && (count > maxLength || timestamps[first] < oldestTimestampMs)) {
      held -= lengths[first];
      first = first + 1 == starts.length ? 0 : first + 1;
      count--;
      firstVersion++;
      int oldest = count == 0 ? firstChunkNumber + chunkCount : chunkOf[first];
      while (firstChunkNumber != oldest) {
        dropOldestChunk();
      }
    }
    if (count == 0) {
      spare = null; // Nothing held: nothing kept.
    }
  }

  /** Chunks allocated so far (a reused one is not counted): for tests of reuse. */
  long chunksMade() {
    return chunksMade;
  }

  /** A copy of {@code version}'s frame; the version must be held. */
  byte[] frame(long version) {
    int i = entry(version);
    byte[] chunk = chunks[chunkIndex(chunkOf[i] - firstChunkNumber)];
    return Arrays.copyOfRange(chunk, starts[i], starts[i] + lengths[i]);
  }

  /** When {@code version} was written; the version must be held. */
  long timestamp(long version) {
    return timestamps[entry(version)];
  }

  /** A copy that shares nothing with this one. */
  History copy() {
    History c = new History();
    c.chunks = new byte[chunks.length][];
    for (int n = 0; n < chunks.length; n++) {
      c.chunks[n] = chunks[n] == null ? null : chunks[n].clone();
    }
    c.firstChunk = firstChunk;
    c.chunkCount = chunkCount;
    c.firstChunkNumber = firstChunkNumber;
    c.fill = fill;
    c.chunkOf = chunkOf.clone();
    c.starts = starts.clone();
    c.lengths = lengths.clone();
    c.timestamps = timestamps.clone();
    c.first = first;
    c.count = count;
    c.firstVersion = firstVersion;
    c.held = held;
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

  private int chunkIndex(int n) {
    int i = firstChunk + n;
    return i >= chunks.length ? i - chunks.length : i;
  }

  /**
   * Starts a chunk for a frame of {@code length} bytes after one of {@code last} bytes: twice the
   * last, from {@link #FIRST_CHUNK} up to {@link #CHUNK}, or the frame's own size if larger.
   */
  private byte[] startChunk(int length, int last) {
    int size = Math.min(CHUNK, Math.max(FIRST_CHUNK, 2 * last));
    byte[] chunk;
    if (length > size) {
      chunk = new byte[length];
      chunksMade++;
    } else if (size == CHUNK && spare != null) {
      chunk = spare;
      spare = null;
    } else {
      chunk = new byte[size];
      chunksMade++;
    }
    if (chunkCount == chunks.length) {
      byte[][] grown = new byte[Math.max(2, chunks.length * 2)][];
      for (int n = 0; n < chunkCount; n++) {
        grown[n] = chunks[chunkIndex(n)];
      }
      chunks = grown;
      firstChunk = 0;
    }
    chunks[chunkIndex(chunkCount)] = chunk;
    chunkCount++;
    fill = 0;
    return chunk;
  }

  private void dropOldestChunk() {
    byte[] chunk = chunks[firstChunk];
    chunks[firstChunk] = null;
    if (chunk.length == CHUNK) {
      spare = chunk;
    }
    firstChunk = firstChunk + 1 == chunks.length ? 0 : firstChunk + 1;
    firstChunkNumber++;
    chunkCount--;
    if (chunkCount == 0) {
      fill = 0;
    }
  }

  private void growEntries() {
    int capacity = Math.max(MIN_ENTRIES, starts.length * 2);
    int[] ch = new int[capacity];
    int[] s = new int[capacity];
    int[] l = new int[capacity];
    long[] t = new long[capacity];
    for (int n = 0; n < count; n++) {
      int i = index(n);
      ch[n] = chunkOf[i];
      s[n] = starts[i];
      l[n] = lengths[i];
      t[n] = timestamps[i];
    }
    chunkOf = ch;
    starts = s;
    lengths = l;
    timestamps = t;
    first = 0;
  }
}
