package io.handoff.server.engine.memory;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayDeque;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * A document's history as frames in byte chunks: every version held gives back its frame byte for
 * byte, the oldest go first (by length and by age), and the ring's bytes stay within a small
 * multiple of what it holds, growing for big frames and shrinking back after them.
 */
class HistoryTest {
  private record Entry(long version, long timestamp, byte[] frame) {}

  @Test
  void everyVersionHeldGivesBackItsFrameByteForByteThroughGrowthWrapsAndShrinks() {
    Random random = new Random(42);
    History history = new History();
    ArrayDeque<Entry> model = new ArrayDeque<>();
    long version = 1;
    for (int i = 0; i < 20_000; i++) {
      // Phases of small, mixed and big frames and of short and long histories, so chunks fill,
      // leave, are reused, and frames get chunks of their own.
      int phase = (i / 2_000) % 4;
      int size =
          switch (phase) {
            case 0 -> 20 + random.nextInt(40);
            case 1 -> 1 + random.nextInt(3_000);
            case 2 -> 5_000 + random.nextInt(5_000);
            default -> 1 + random.nextInt(10);
          };
      int maxLength = phase == 1 ? 200 : 1 + random.nextInt(50);
      byte[] frame = new byte[size];
      random.nextBytes(frame);
      history.add(version, i, frame);
      model.addLast(new Entry(version, i, frame));
      version++;
      long oldest = i - random.nextInt(10_000);
      history.trim(maxLength, oldest);
      while (!model.isEmpty()
          && (model.size() > maxLength || model.peekFirst().timestamp() < oldest)) {
        model.removeFirst();
      }

      assertEquals(model.size(), history.size(), "versions held after write " + i);
      if (!model.isEmpty()) {
        assertEquals(model.peekFirst().version(), history.firstVersion());
        assertEquals(model.peekLast().version(), history.lastVersion());
      }
      long held = 0;
      for (Entry e : model) {
        held += e.frame().length;
      }
      assertEquals(held, history.heldBytes());
      assertTrue(
          history.capacityBytes() <= 4 * (held + History.CHUNK),
          history.capacityBytes() + " bytes for " + held + " held");
      if (i % 97 == 0) {
        for (Entry e : model) {
          assertArrayEquals(e.frame(), history.frame(e.version()), "version " + e.version());
          assertEquals(e.timestamp(), history.timestamp(e.version()));
        }
      }
    }
  }

  @Test
  void theOldestVersionsGoFirstByLengthAndByAge() {
    History history = new History();
    for (long v = 1; v <= 10; v++) {
      history.add(v, 100 * v, new byte[] {(byte) v});
    }
    history.trim(7, 0);
    assertEquals(4, history.firstVersion());
    assertEquals(10, history.lastVersion());

    history.trim(7, 600); // written at 400 and 500: too old
    assertEquals(6, history.firstVersion());
    assertArrayEquals(new byte[] {6}, history.frame(6));
    assertThrows(IllegalArgumentException.class, () -> history.frame(5));

    history.trim(7, 10_000);
    assertTrue(history.isEmpty());
    history.add(42, 20_000, new byte[] {42}); // an empty history starts anywhere
    assertEquals(42, history.firstVersion());
    assertThrows(IllegalArgumentException.class, () -> history.add(44, 20_001, new byte[1]));
  }

  @Test
  void theRingShrinksBackOnceBigFramesHaveLeft() {
    History history = new History();
    long v = 1;
    for (int i = 0; i < 100; i++, v++) {
      history.add(v, v, new byte[64 * 1024]);
      history.trim(100, 0);
    }
    assertTrue(history.capacityBytes() >= 100 * 64 * 1024);
    for (int i = 0; i < 100; i++, v++) {
      history.add(v, v, new byte[100]);
      history.trim(100, 0);
    }
    assertEquals(100 * 100, history.heldBytes());
    assertTrue(
        history.capacityBytes() <= 2 * 100 * 100 + 2 * History.CHUNK,
        "chunks of " + history.capacityBytes() + " bytes for 10,000 held");
  }

  @Test
  void aFullHistoryReusesTheChunkItsOldestFramesLeft() {
    History history = new History();
    long v = 1;
    for (; v <= 1_000; v++) {
      history.add(v, v, new byte[300]);
      history.trim(100, 0);
    }
    long capacity = history.capacityBytes();
    long made = history.chunksMade();
    for (; v <= 5_000; v++) {
      history.add(v, v, new byte[300]);
      history.trim(100, 0);
      assertTrue(history.capacityBytes() <= capacity + History.CHUNK, "steady: " + v);
    }
    assertEquals(made, history.chunksMade(), "4,000 writes later, no chunk was made: all reused");
    assertTrue(capacity <= 100 * 300 + 2 * History.CHUNK, capacity + " bytes for 30,000 held");
  }

  @Test
  void aDocumentWrittenOnceCostsAFewHundredBytes() {
    History history = new History();
    history.add(1, 1, new byte[200]);
    assertEquals(History.FIRST_CHUNK, history.capacityBytes());
  }

  @Test
  void aCopySharesNothing() {
    History history = new History();
    history.add(1, 1, new byte[] {1});
    History copy = history.copy();
    history.add(2, 2, new byte[] {2});
    history.trim(1, 0);
    assertEquals(1, copy.size());
    assertArrayEquals(new byte[] {1}, copy.frame(1));
    assertEquals(2, history.firstVersion());
  }
}
