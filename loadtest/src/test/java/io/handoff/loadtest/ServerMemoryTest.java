package io.handoff.loadtest;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class ServerMemoryTest {
  @Test
  void readsTheUsedHeapOfG1() {
    String out =
        "28572:\n"
            + " garbage-first heap   total 98304K, used 28128K [0x0000000687400000,"
            + " 0x0000000800000000)\n"
            + "  region size 4096K, 1 young (4096K), 0 survivors (0K)\n"
            + " Metaspace       used 20390K, committed 20672K, reserved 1114112K\n";
    assertEquals(28_128L * 1024, ServerMemory.parseHeapUsed(out));
  }

  @Test
  void addsTheGenerationsOfParallelGc() {
    String out =
        "123:\n"
            + " PSYoungGen      total 76288K, used 2621K [0x0, 0x0, 0x0)\n"
            + "  eden space 65536K, 4% used [0x0,0x0,0x0)\n"
            + " ParOldGen       total 175104K, used 1000K [0x0, 0x0, 0x0)\n"
            + " Metaspace       used 3000K, committed 3200K, reserved 1056768K\n";
    assertEquals((2_621L + 1_000L) * 1024, ServerMemory.parseHeapUsed(out));
  }

  @Test
  void readsZgcAndShenandoah() {
    assertEquals(
        60L * 1024 * 1024,
        ServerMemory.parseHeapUsed(
            "13621:\n ZHeap           used 60M, capacity 378M, max capacity 6028M\n"));
    assertEquals(
        32_768L * 1024,
        ServerMemory.parseHeapUsed(
            "13667:\nShenandoah Heap\n 6028M max, 6028M soft max, 378M committed, 32768K used\n"));
  }

  @Test
  void unknownOutputGivesNoFigure() {
    assertEquals(-1, ServerMemory.parseHeapUsed("123:\nsomething else\n"));
  }

  @Test
  void readsTheResidentSet() {
    String status = "Name:\tjava\nVmPeak:\t 100 kB\nVmRSS:\t  181616 kB\nThreads:\t30\n";
    assertEquals(181_616L * 1024, ServerMemory.parseRss(status));
  }

  @Test
  void readsTheLiveBytesFromTheTotalOfAClassHistogram() {
    String out =
        "4856:\n"
            + " num     #instances         #bytes  class name (module)\n"
            + "-------------------------------------------------------\n"
            + "   1:         49126        3689320  [B (java.base@17.0.15)\n"
            + "   2:         29930        1915520  io.netty.channel.DefaultChannelHandlerContext\n"
            + "Total        609949       26579472\n";
    assertEquals(26_579_472L, ServerMemory.parseHistogramTotal(out));
    assertEquals(-1, ServerMemory.parseHistogramTotal("4856:\nno histogram\n"));
  }
}
