package io.handoff.server.engine.redis;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import org.junit.jupiter.api.Test;

class RedisKeysTest {
  private final RedisKeys keys = new RedisKeys("handoff:");

  @Test
  void aWritesKeysAreTheKeysEachFeatureNamesOneByOne() {
    for (String user : new String[] {"ann", "a{b}c%", "ünï"}) {
      assertArrayEquals(
          new byte[][] {
            keys.meta(user, "dóc"),
            keys.fields(user, "dóc"),
            keys.history(user, "dóc"),
            keys.docs(user),
            keys.outcomes(user, "phone"),
            keys.seqOrder(user, "phone"),
            keys.channel(user),
            keys.writers(user)
          },
          keys.writeKeys(user, "dóc", "phone"),
          user);
    }
  }
}
