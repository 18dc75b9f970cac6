package io.handoff.loadtest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNotSame;

import io.netty.channel.EventLoop;
import java.time.Duration;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import picocli.CommandLine;

/** How a fleet lays its devices out over the load tester's event loops (nothing is connected). */
class FleetTest {

  @ParameterizedTest(name = "lean: {0}")
  @ValueSource(booleans = {true, false})
  void aUsersDevicesShareOneLoopAndUsersTakeTheLoopsInTurn(boolean lean) {
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
    try (Fleet fleet = new Fleet(o, new Stats(), false, Duration.ofMinutes(5), lean)) {
      Set<EventLoop> all = new HashSet<>();
      EventLoop previous = null;
      for (int u = 0; u < 6; u++) {
        Set<EventLoop> mine = new HashSet<>();
        for (int d = 0; d < 3; d++) {
          Device device = fleet.device(u * 3 + d);
          mine.add(device.loop());
          assertNotNull(device.loop(), "device " + d + " of user " + u + " has a loop");
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
