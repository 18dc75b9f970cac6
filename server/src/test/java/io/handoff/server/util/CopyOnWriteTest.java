package io.handoff.server.util;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import org.junit.jupiter.api.Test;

class CopyOnWriteTest {
  private final String a = new String("a");
  private final String b = new String("b");
  private final String c = new String("c");

  @Test
  void removesTheElementWhereverItIsAndKeepsTheOrder() {
    String[] all = {a, b, c};
    assertArrayEquals(new String[] {b, c}, CopyOnWrite.without(all, a));
    assertArrayEquals(new String[] {a, c}, CopyOnWrite.without(all, b));
    assertArrayEquals(new String[] {a, b}, CopyOnWrite.without(all, c));
    assertArrayEquals(new String[] {a, b, c}, all, "the array given is left as it was");
  }

  @Test
  void theLastElementGoneLeavesAnEmptyArrayOfTheSameType() {
    String[] none = CopyOnWrite.without(new String[] {a}, a);
    assertEquals(0, none.length);
    assertEquals(String[].class, none.getClass());
  }

  @Test
  void anElementNotThereByIdentityLeavesTheSameArray() {
    String[] all = {a, b};
    assertSame(all, CopyOnWrite.without(all, new String("a")), "equal is not identical");
    assertSame(all, CopyOnWrite.without(all, c));
  }

  @Test
  void onlyTheFirstOccurrenceGoes() {
    assertArrayEquals(new String[] {b, a}, CopyOnWrite.without(new String[] {a, b, a}, a));
  }
}
