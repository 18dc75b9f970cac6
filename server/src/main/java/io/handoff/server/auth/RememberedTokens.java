package io.handoff.server.auth;

/**
 * The verified tokens an {@link AccessTokenVerifier} remembers, by a 64-bit key of each token's
 * digest: its 64 check bits, its principal and its key id, in four arrays indexed by the key (open
 * addressing with linear probing, at most three quarters full, doubled as entries come). A slot
 * costs 24 bytes, so an entry costs 32 to 48: every idle connection's token has one, and a cache
 * library's entry (key object, value record, map node and the entry itself) cost about 136.
 *
 * <p>Bounded to {@code max} entries: when full, a new entry takes the place of an expired one if
 * the hand (which moves on with every eviction) finds one within a few slots, else of the one under
 * the hand. Entries whose principal has expired are dropped when the table grows. A key holds one
 * entry: a later put with the same key replaces it.
 *
 * <p>Thread-safe: every method holds the table's monitor, for a few array reads and writes (a
 * token's verification, which this saves, costs thousands of times more).
 */
final class RememberedTokens {
  private static final int FIRST_CAPACITY = 16;
  // How many occupied slots an eviction looks at for an expired entry before taking the hand's.
  private static final int EVICTION_SCAN = 16;

  /** A remembered token's answer: its principal and key id (null for a development token). */
  record Entry(Principal principal, String kid) {}

  private final int max;
  private long[] keys = new long[FIRST_CAPACITY];
  private long[] checks = new long[FIRST_CAPACITY];
  // Null where a slot is free.
  private Principal[] principals = new Principal[FIRST_CAPACITY];
  private String[] kids = new String[FIRST_CAPACITY];
  private int size;
  private int hand;

  RememberedTokens(int max) {
    if (max < 1) {
      throw new IllegalArgumentException("max must be at least 1: " + max);
    }
    this.max = max;
  }

  /** The entry remembered for {@code key}, if its check bits are {@code check}; else null. */
  synchronized Entry get(long key, long check) {
    int i = find(key);
    return i < 0 || checks[i] != check ? null : new Entry(principals[i], kids[i]);
  }

  /**
   * Remembers {@code principal} and {@code kid} under {@code key} with {@code check}, replacing
   * what {@code key} held; {@code now} tells which entries have expired.
   */
  synchronized void put(long key, long check, Principal principal, String kid, long now) {
    int i = find(key);
    if (i < 0) {
      if (size >= max) {
        evict(now);
      }
      if ((size + 1) * 4L > keys.length * 3L) {
        grow(now);
      }
      i = free(key);
      keys[i] = key;
      size++;
    }
    checks[i] = check;
    principals[i] = principal;
    kids[i] = kid;
  }

  /** Entries held. */
  synchronized int size() {
    return size;
  }

  /** Slots of the table (for tests of its growth). */
  synchronized int capacity() {
    return keys.length;
  }

  private int home(long key) {
    return (int) (key ^ (key >>> 32)) & (keys.length - 1);
  }

  /** The slot holding {@code key}, or -1. */
  private int find(long key) {
    int mask = keys.length - 1;
    for (int i = home(key); principals[i] != null; i = (i + 1) & mask) {
      if (keys[i] == key) {
        return i;
      }
    }
    return -1;
  }

  /** The free slot where {@code key}, which the table does not hold, goes. */
  private int free(long key) {
    int mask = keys.length - 1;
    int i = home(key);
    while (principals[i] != null) {
      i = (i + 1) & mask;
    }
    return i;
  }

  /** Removes one entry: an expired one near the hand, else the hand's. */
  private void evict(long now) {
    int mask = keys.length - 1;
    int victim = -1;
    int seen = 0;
    for (int n = 0; n < keys.length && seen < EVICTION_SCAN; n++) {
      int i = (hand + n) & mask;
      if (principals[i] == null) {
        continue;
      }
      if (victim < 0) {
        victim = i;
      }
      seen++;
      if (principals[i].expiresAtMillis() <= now) {
        victim = i;
        break;
      }
    }
    hand = (victim + 1) & mask;
    removeAt(victim);
  }

  /** Frees slot {@code i}, moving back the entries after it that probed past it. */
  private void removeAt(int i) {
    int mask = keys.length - 1;
    int gap = i;
    for (int j = (i + 1) & mask; principals[j] != null; j = (j + 1) & mask) {
      int h = home(keys[j]);
      // Entry j may fill the gap unless its home lies cyclically within (gap, j].
      boolean stays = gap <= j ? (h > gap && h <= j) : (h > gap || h <= j);
      if (!stays) {
        keys[gap] = keys[j];
        checks[gap] = checks[j];
        principals[gap] = principals[j];
        kids[gap] = kids[j];
        gap = j;
      }
    }
    principals[gap] = null;
    kids[gap] = null;
    size--;
  }

  /** Doubles the table, leaving out the entries that have expired. */
  private void grow(long now) {
    long[] oldKeys = keys;
    long[] oldChecks = checks;
    Principal[] oldPrincipals = principals;
    String[] oldKids = kids;
    int capacity = oldKeys.length * 2;
    keys = new long[capacity];
    checks = new long[capacity];
    principals = new Principal[capacity];
    kids = new String[capacity];
    size = 0;
    hand = 0;
    for (int i = 0; i < oldKeys.length; i++) {
      Principal p = oldPrincipals[i];
      if (p != null && p.expiresAtMillis() > now) {
        int j = free(oldKeys[i]);
        keys[j] = oldKeys[i];
        checks[j] = oldChecks[i];
        principals[j] = p;
        kids[j] = oldKids[i];
        size++;
      }
    }
  }
}
