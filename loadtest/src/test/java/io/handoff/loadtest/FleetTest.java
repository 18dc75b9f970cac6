package io.handoff.loadtest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;

import io.netty.channel.EventLoop;
import java.time.Duration;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** How a fleet lays its devices out over the load tester's event loops (nothing is connected). */
class FleetTest {

  @Test
  void aUsersLeanDevicesShareOneLoopAndUsersTakeTheLoopsInTurn() {
    LoadOptions o = new LoadOptions();
    new CommandLine(o)
        .parseArgs(
            "--url",
            "ws://127.0.0.1:9/ws",
            "--jwt-secret",
            "fleet-test-secret-0123456789-0123456789",
            "--users",
            "6",
            "--devices",
            "3",
            "--threads",
            "2");
    try (Fleet fleet = new Fleet(o, new Stats(), false, Duration.ofMinutes(5), true)) {
      Set<EventLoop> all = new HashSet<>();
      EventLoop previous = null;
      for (int u = 0; u < 6; u++) {
        Set<EventLoop> mine = new HashSet<>();
        for (int d = 0; d < 3; d++) {
          mine.add(fleet.device(u * 3 + d).loop());
        }
        assertEquals(1, mine.size(), "user " + u + "'s devices share one loop");
        EventLoop loop = mine.iterator().next();
        if (previous != null) {
          assertNotSame(previous, loop, "user " + u + " takes the next loop");
        }
        previous = loop;
        all.addAll(mine);
      }
      assertEquals(2, all.size(), "both loops are used");
    }
  }
}
