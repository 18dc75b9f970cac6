package io.handoff.loadtest;

/**
 * The writes of one lean device that are neither acked nor given up on, as the Java client keeps
 * them: one lane per document, only the head of a lane numbered and on the wire, the writes behind
 * it waiting (each known by its intended send time, from which its payload is encoded again).
 * Bounded: at most {@link #MAX_QUEUED} writes wait behind each head. Arrays indexed by document, no
 * object per write. Confined to the device's event loop.
 */
final class WriteLanes {
  /** Writes waiting behind the head, per document. */
  static final int MAX_QUEUED = 4096;

  // Per document: whether there is a head, its number (0 until sent), its intended time, a hash of
  // its payload, whether it is on the wire, and how often it was refused and retried.
  private final boolean[] present;
  private final long[] seq;
  private final long[] intended;
  private final long[] hash;
  private final boolean[] sent;
  private final int[] retries;
  // The writes behind each head: a ring of intended times.
  private final long[][] queued;
  private final int[] start;
  private final int[] size;

  WriteLanes(int documents) {
    present = new boolean[documents];
    seq = new long[documents];
    intended = new long[documents];
    hash = new long[documents];
    sent = new boolean[documents];
    retries = new int[documents];
    queued = new long[documents][];
    start = new int[documents];
    size = new int[documents];
  }

  int documents() {
    return present.length;
  }

  /** Adds a write; returns false (and adds nothing) if {@link #MAX_QUEUED} already wait. */
  boolean add(int d, long intendedNanos) {
    if (!present[d]) {
      present[d] = true;
      seq[d] = 0;
      intended[d] = intendedNanos;
      sent[d] = false;
      retries[d] = 0;
      return true;
    }
    if (size[d] == MAX_QUEUED) {
      return false;
    }
    long[] q = queued[d];
    if (q == null || size[d] == q.length) {
      long[] grown = new long[q == null ? 4 : Math.min(q.length * 2, MAX_QUEUED)];
      for (int i = 0; i < size[d]; i++) {
        grown[i] = q[(start[d] + i) % q.length];
      }
      queued[d] = grown;
      start[d] = 0;
      q = grown;
    }
    q[(start[d] + size[d]++) % q.length] = intendedNanos;
    return true;
  }

  /** Whether document {@code d} has a head write numbered {@code n} (never 0). */
  boolean isHead(int d, long n) {
    return d >= 0 && d < present.length && present[d] && n != 0 && seq[d] == n;
  }

  boolean hasHead(int d) {
    return present[d];
  }

  /** Whether the head of {@code d} waits to be sent (new, or again). */
  boolean ready(int d) {
    return present[d] && !sent[d];
  }

  long seq(int d) {
    return seq[d];
  }

  void number(int d, long n) {
    seq[d] = n;
  }

  long intended(int d) {
    return intended[d];
  }

  long hash(int d) {
    return hash[d];
  }

  boolean sent(int d) {
    return sent[d];
  }

  /** The head of {@code d} went out with a payload hashing to {@code payloadHash}. */
  void sent(int d, long payloadHash) {
    sent[d] = true;
    hash[d] = payloadHash;
  }

  /** The head of {@code d} is off the wire (the connection ended, or it waits for a retry). */
  void unsent(int d) {
    sent[d] = false;
  }

  /** Every head is off the wire: the connection ended. */
  void allUnsent() {
    java.util.Arrays.fill(sent, false);
  }

  /** The retry count of the head of {@code d}, then counts one more. */
  int retried(int d) {
    return retries[d]++;
  }

  /** Removes the head of {@code d}; the next write of its lane, if any, becomes the head. */
  void next(int d) {
    if (size[d] == 0) {
      present[d] = false;
      return;
    }
    long[] q = queued[d];
    intended[d] = q[start[d]];
    start[d] = (start[d] + 1) % q.length;
    size[d]--;
    seq[d] = 0;
    sent[d] = false;
    retries[d] = 0;
  }
}
