package io.handoff.server.engine.memory;

import io.handoff.server.sync.DocumentTag;
import io.handoff.server.sync.WriteOutcome;

/**
 * The outcomes of one device's last writes by client_seq: the idempotency window that answers a
 * re-sent write as it was answered the first time. Holds at most {@code window} writes; the one
 * recorded first is forgotten first, and {@link #forgottenUpTo} remembers the highest client_seq
 * forgotten, so a re-send older than the window is recognised as such.
 *
 * <p>Why primitive arrays: the outcome of every write is kept long after the write (a thousand
 * writes of that device), so a map of boxed keys and outcome objects promoted every entry out of
 * the young generation and linked each new one into old objects (a card for G1 to refine per
 * write). Here a write's epoch, version, fingerprint and document ({@link DocumentTag}) are stored
 * in a ring of {@code long}s, in the order recorded, and found through an open-addressed index of
 * ring slots (linear probing, deleted by shifting back, so no tombstones build up). An applied
 * write stores no reference; a refused one (rare) keeps its {@link WriteOutcome}, for its code and
 * message, in a side array made on the first refusal.
 *
 * <p>The arrays are made by the first write and double up to the window, so a device that wrote
 * little costs little. Not thread-safe: the store guards it with its user's monitor.
 */
final class SeqWindow {
  private static final int MIN_ENTRIES = 8;
  private static final long[] NO_LONGS = new long[0];
  // Fibonacci hashing: consecutive client_seqs spread over the index.
  private static final long SPREAD = 0x9E3779B97F4A7C15L;

  private final int window;
  // Empty until the first write is recorded.
  private long[] seqs = NO_LONGS;
  private long[] epochs = NO_LONGS;
  private long[] versions = NO_LONGS;
  private long[] fingerprints = NO_LONGS;
  // The DocumentTag of each write's document: a number reused for another document is refused.
  private long[] documents = NO_LONGS;
  // Refused writes' outcomes (WriteOutcome) by ring slot; null until the first refusal. Object[]:
  // an array of a feature's class is no part of its public face (ArchitectureTest).
  private Object[] refusals;
  private int refused;
  private int first;
  private int count;
  // Ring slot + 1 of each entry, 0 where free; a power of two, at least twice the ring.
  private int[] index = new int[0];
  private int shift;
  private long forgottenUpTo;

  SeqWindow(int window) {
    if (window < 1) {
      throw new IllegalArgumentException("window must be at least 1, was " + window);
    }
    this.window = window;
  }

  /** Writes remembered. */
  int size() {
    return count;
  }

  /** The ring's length: what this window costs, for tests of the bounds. */
  int capacity() {
    return seqs.length;
  }

  /** Every client_seq at or below this one was forgotten (or never seen); 0 at first. */
  long forgottenUpTo() {
    return forgottenUpTo;
  }

  /**
   * The outcome recorded for {@code seq}, marked as a duplicate; null if none is remembered. If
   * {@code seq} was recorded for a document of another tag than {@code document}, the refusal of a
   * reused client_seq ({@link DocumentTag#seqReused}) instead.
   */
  WriteOutcome duplicateOf(long seq, long document) {
    int p = find(seq);
    if (p < 0) {
      return null;
    }
    int slot = index[p] - 1;
    if (documents[slot] != document) {
      return DocumentTag.seqReused(seq);
    }
    if (refusals != null && refusals[slot] != null) {
      return ((WriteOutcome) refusals[slot]).asDuplicate();
    }
    return WriteOutcome.applied(epochs[slot], versions[slot], fingerprints[slot], true);
  }

  /**
   * Remembers {@code outcome} as the answer to {@code seq}, a write of the document tagged {@code
   * document} (replacing what was recorded for it, in its place), forgetting the oldest write if
   * the window is full.
   */
  void record(long seq, long document, WriteOutcome outcome) {
    int p = find(seq);
    int slot;
    if (p >= 0) {
      slot = index[p] - 1;
    } else {
      if (count == window) {
        forgetOldest();
      } else if (count == seqs.length) {
        allocate(Math.min(window, Math.max(MIN_ENTRIES, seqs.length * 2)));
      }
      slot = first + count;
      if (slot >= seqs.length) {
        slot -= seqs.length;
      }
      count++;
      seqs[slot] = seq;
      insert(seq, slot);
    }
    documents[slot] = document;
    if (outcome.isApplied()) {
      epochs[slot] = outcome.epoch();
      versions[slot] = outcome.version();
      fingerprints[slot] = outcome.fingerprint();
      if (refusals != null && refusals[slot] != null) {
        refusals[slot] = null;
        refused--;
      }
    } else {
      if (refusals == null) {
        refusals = new Object[seqs.length];
      }
      if (refusals[slot] == null) {
        refused++;
      }
      refusals[slot] = outcome;
    }
  }

  /** A copy that shares nothing with this one. */
  SeqWindow copy() {
    SeqWindow c = new SeqWindow(window);
    c.seqs = seqs.clone();
    c.epochs = epochs.clone();
    c.versions = versions.clone();
    c.fingerprints = fingerprints.clone();
    c.documents = documents.clone();
    c.refusals = refusals == null ? null : refusals.clone();
    c.refused = refused;
    c.first = first;
    c.count = count;
    c.index = index.clone();
    c.shift = shift;
    c.forgottenUpTo = forgottenUpTo;
    return c;
  }

  private void forgetOldest() {
    int slot = first;
    long seq = seqs[slot];
    forgottenUpTo = Math.max(forgottenUpTo, seq);
    remove(find(seq));
    if (refusals != null && refusals[slot] != null) {
      refusals[slot] = null;
      if (--refused == 0) {
        refusals = null; // The last refusal left the window.
      }
    }
    first = first + 1 == seqs.length ? 0 : first + 1;
    count--;
  }

  private int home(long seq) {
    return (int) ((seq * SPREAD) >>> shift);
  }

  /** The index position holding {@code seq}, or -1. */
  private int find(long seq) {
    if (count == 0) {
      return -1;
    }
    int mask = index.length - 1;
    for (int p = home(seq); ; p = (p + 1) & mask) {
      int e = index[p];
      if (e == 0) {
        return -1;
      }
      if (seqs[e - 1] == seq) {
        return p;
      }
    }
  }

  private void insert(long seq, int slot) {
    int mask = index.length - 1;
    int p = home(seq);
    while (index[p] != 0) {
      p = (p + 1) & mask;
    }
    index[p] = slot + 1;
  }

  /**
   * Frees index position {@code p}, moving back each later entry of its probe run that would
   * otherwise no longer be found from its home position.
   */
  private void remove(int p) {
    int mask = index.length - 1;
    int hole = p;
    for (int q = (p + 1) & mask; index[q] != 0; q = (q + 1) & mask) {
      int h = home(seqs[index[q] - 1]);
      // The entry at q may move to the hole unless its home lies cyclically in (hole, q].
      boolean stays = hole <= q ? (hole < h && h <= q) : (hole < h || h <= q);
      if (!stays) {
        index[hole] = index[q];
        hole = q;
      }
    }
    index[hole] = 0;
  }

  /** Moves the ring into arrays of {@code capacity} entries, in order, and rebuilds the index. */
  private void allocate(int capacity) {
    long[] s = new long[capacity];
    long[] e = new long[capacity];
    long[] v = new long[capacity];
    long[] f = new long[capacity];
    long[] d = new long[capacity];
    Object[] r = refusals == null ? null : new Object[capacity];
    for (int n = 0; n < count; n++) {
      int i = first + n;
      if (i >= seqs.length) {
        i -= seqs.length;
      }
      s[n] = seqs[i];
      e[n] = epochs[i];
      v[n] = versions[i];
      f[n] = fingerprints[i];
      d[n] = documents[i];
      if (r != null) {
        r[n] = refusals[i];
      }
    }
    seqs = s;
    epochs = e;
    versions = v;
    fingerprints = f;
    documents = d;
    refusals = r;
    first = 0;
    int size = Integer.highestOneBit(capacity * 2 - 1) << 1; // a power of two >= 2 * capacity
    index = new int[size];
    shift = 64 - Integer.numberOfTrailingZeros(size);
    for (int n = 0; n < count; n++) {
      insert(seqs[n], n);
    }
  }
}
