package io.handoff.server.sync;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.server.sync.WriteTracker.InFlight;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * A connection's writes in flight: found by sequence number and kept oldest first, whether the one
 * in flight sits alone in its field or several wait in the map behind it.
 */
class InFlightsTest {
  @Test
  void writesAreKeptOldestFirstAcrossTheFieldAndTheMap() {
    InFlights w = new InFlights();
    InFlight a = new InFlight(5, "doc", 1, 16);
    InFlight b = new InFlight(3, "doc", 2, 16);
    InFlight c = new InFlight(9, "other", 3, 16);
    w.add(a);
    w.add(b);
    w.add(c);
    assertEquals(List.of(a, b, c), w.all());

    assertSame(a, w.remove(5)); // the oldest leaves: the rest keep their order
    InFlight d = new InFlight(11, "doc", 4, 16);
    w.add(d);
    assertEquals(List.of(b, c, d), w.all());
    assertSame(c, w.get(9));
    assertNull(w.get(5));

    assertEquals(List.of(b, d), w.removeIf(p -> p.document.equals("doc")));
    assertEquals(List.of(c), w.all());
    assertSame(c, w.remove(9));
    assertTrue(w.isEmpty());
    w.add(a); // alone again: in the field
    assertEquals(1, w.size());
    assertSame(a, w.get(5));
  }

  @Test
  void itAnswersAsAnInsertionOrderedMapWouldThroughRandomAddsAndRemoves() {
    Random random = new Random(3);
    InFlights w = new InFlights();
    LinkedHashMap<Long, InFlight> model = new LinkedHashMap<>();
    long next = 1;
    for (int i = 0; i < 50_000; i++) {
      int op = random.nextInt(10);
      if (op < 4 || model.isEmpty()) {
        InFlight p = new InFlight(next++, "d" + random.nextInt(3), i, 16);
        w.add(p);
        model.put(p.seq, p);
      } else if (op < 8) {
        List<Long> seqs = new ArrayList<>(model.keySet());
        long seq = random.nextInt(4) == 0 ? next + 5 : seqs.get(random.nextInt(seqs.size()));
        assertSame(model.remove(seq), w.remove(seq));
      } else {
        String doc = "d" + random.nextInt(3);
        List<InFlight> expected = new ArrayList<>();
        model.values().removeIf(p -> p.document.equals(doc) && expected.add(p));
        assertEquals(expected, w.removeIf(p -> p.document.equals(doc)));
      }
      assertEquals(model.size(), w.size());
      assertEquals(new ArrayList<>(model.values()), w.all());
      long probe = 1 + random.nextInt((int) next);
      assertSame(model.get(probe), w.get(probe));
    }
  }
}
