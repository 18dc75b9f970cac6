package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.openjdk.jol.datamodel.Model64;
import org.openjdk.jol.info.ClassLayout;
import org.openjdk.jol.layouters.HotSpotLayouter;
import org.openjdk.jol.layouters.Layouter;

/**
 * The idle-memory figure (about 2 KB of heap per idle connection, BENCHMARKS.md) is a sum of small
 * objects, and one more field in one of them costs 8 bytes on every connection once it crosses an
 * alignment step. Twice a merged change did that unseen until the next idle run. This pins
 * Handoff's own objects that every idle connection holds (the class histogram of an idle node lists
 * them) to their sizes under the JVM's default layout for heaps under 32 GB (compressed references
 * and class pointers, 8-byte alignment). A change that grows one must say so here, and be measured.
 */
class IdleConnectionObjectsTest {
  private static final Map<String, Integer> BYTES = new LinkedHashMap<>();

  static {
    BYTES.put("io.handoff.server.transport.ConnectionHandler", 64);
    BYTES.put("io.handoff.server.transport.CompactRecvByteBufAllocator$Handle", 40);
    // 8 bytes more for the Hello's instance (the Disconnect REPLACED names the one that took over).
    BYTES.put("io.handoff.server.session.Session", 64);
    BYTES.put("io.handoff.server.session.Outbox", 40);
    BYTES.put("io.handoff.server.sync.DocumentSession", 40);
    BYTES.put("io.handoff.server.handoff.HandoffSession", 64);
    BYTES.put("io.handoff.server.devices.TokenKeeper", 48);
    BYTES.put("io.handoff.server.auth.Principal", 32);
    BYTES.put("io.handoff.server.engine.memory.MemoryHandoffStore$Presence", 40);
  }

  @Test
  void everyIdleConnectionsOwnObjectKeepsItsSize() throws Exception {
    Layouter jdk17 = new HotSpotLayouter(new Model64(true, true, 8), 17);
    List<String> grown = new ArrayList<>();
    for (Map.Entry<String, Integer> e : BYTES.entrySet()) {
      ClassLayout layout =
          ClassLayout.parseClass(
              Class.forName(e.getKey(), false, getClass().getClassLoader()), jdk17);
      if (layout.instanceSize() > e.getValue()) {
        grown.add(
            e.getKey()
                + " takes "
                + layout.instanceSize()
                + " bytes, "
                + e.getValue()
                + " allowed: every idle connection holds one; fold a flag into one already there"
                + " or move the field to an object made only when used\n"
                + layout.toPrintable());
      }
    }
    assertTrue(grown.isEmpty(), String.join("\n", grown));
  }
}
