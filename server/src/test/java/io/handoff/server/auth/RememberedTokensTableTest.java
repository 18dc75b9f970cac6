package io.handoff.server.auth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The table of remembered tokens against a plain map, through growth, evictions and removals. */
class RememberedTokensTableTest {
  private static final long LATER = Long.MAX_VALUE;

  private static Principal principal(long n, long expiresAt) {
    return new Principal("user-" + n, "device-" + n, expiresAt);
  }

  @Test
  void answersAsAMapWouldWhileUnderItsBoundAndOnlyForTheRightCheckBits() {
    SplittableRandom random = new SplittableRandom(7);
    RememberedTokens table = new RememberedTokens(100_000);
    Map<Long, Long> checks = new HashMap<>();
    Map<Long, Principal> principals = new HashMap<>();
    for (int n = 0; n < 60_000; n++) {
      // Keys from a small range too, so that homes collide and probe runs form and wrap.
      long key = random.nextBoolean() ? random.nextLong() : random.nextInt(5_000);
      long check = random.nextLong();
      Principal p = principal(n, LATER);
      table.put(key, check, p, n % 2 == 0 ? null : "kid-" + n, 0);
      checks.put(key, check);
      principals.put(key, p);
    }
    assertEquals(principals.size(), table.size());
    for (Map.Entry<Long, Principal> e : principals.entrySet()) {
      long check = checks.get(e.getKey());
      RememberedTokens.Entry found = table.get(e.getKey(), check);
      assertNotNull(found, "key " + e.getKey());
      assertSame(e.getValue(), found.principal());
      assertNull(table.get(e.getKey(), check + 1), "the check bits must match");
    }
    assertTrue(table.capacity() * 3L >= table.size() * 4L, "at most three quarters full");
  }

  @Test
  void staysWithinItsBoundAndKeepsEveryEntryItDidNotEvictFindable() {
    SplittableRandom random = new SplittableRandom(9);
    int max = 1_000;
    RememberedTokens table = new RememberedTokens(max);
    Map<Long, Principal> put = new HashMap<>();
    for (int n = 0; n < 20_000; n++) {
      long key = random.nextInt(3) == 0 ? random.nextInt(2_000) : random.nextLong();
      Principal p = principal(n, LATER);
      table.put(key, key * 31, p, null, 0);
      put.put(key, p);
      assertTrue(table.size() <= max, "bounded");
    }
    assertEquals(max, table.size());
    int found = 0;
    for (Map.Entry<Long, Principal> e : put.entrySet()) {
      RememberedTokens.Entry f = table.get(e.getKey(), e.getKey() * 31);
      if (f != null) {
        assertSame(e.getValue(), f.principal(), "an entry answers only with its own principal");
        found++;
      }
    }
    assertEquals(max, found, "every entry held is findable after the evictions moved others");
  }

  @Test
  void expiredEntriesGoFirstWhenFullAndAreDroppedWhenTheTableGrows() {
    RememberedTokens table = new RememberedTokens(4);
    table.put(1, 1, principal(1, 100), null, 0);
    table.put(2, 2, principal(2, LATER), null, 0);
    table.put(3, 3, principal(3, LATER), null, 0);
    table.put(4, 4, principal(4, LATER), null, 0);
    table.put(5, 5, principal(5, LATER), null, 200);
    assertNull(table.get(1, 1), "the expired entry made room");
    for (long k = 2; k <= 5; k++) {
      assertNotNull(table.get(k, k));
    }
    RememberedTokens growing = new RememberedTokens(1_000);
    for (long k = 0; k < 12; k++) {
      growing.put(k, k, principal(k, k < 6 ? 100 : LATER), null, 0);
    }
    assertEquals(12, growing.size());
    growing.put(12, 12, principal(12, LATER), null, 200); // The thirteenth doubles the table.
    assertEquals(7, growing.size());
    assertNull(growing.get(0, 0));
    assertNotNull(growing.get(6, 6));
  }
}
