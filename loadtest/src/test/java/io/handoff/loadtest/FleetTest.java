package io.handoff.loadtest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.client.ConnectionState;
import io.netty.channel.EventLoop;
import java.time.Duration;
import java.util.HashSet;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import picocli.CommandLine;

/**
 * How a fleet lays its devices out over the load tester's event loops, and when a storm may cut
 * them (nothing is connected: the devices hear of their connections from the test).
 */
class FleetTest {

  @ParameterizedTest(name = "lean: {0}")
  @ValueSource(booleans = {true, false})
  void aUsersDevicesShareOneLoopAndUsersTakeTheLoopsInTurn(boolean lean) {
    try (Fleet fleet =
        new Fleet(options(6, 3, 2), new Stats(), false, Duration.ofMinutes(5), lean)) {
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

  /**
   * A storm cuts only devices whose connection has lasted 10 s, as both clients need to start their
   * backoff over: a device back from a backoff the warm-up's cuts had grown, cut 7 s later, waited
   * 27.5 s after a storm of which every other device resumed within 7 s. At its deadline it cuts
   * all the same. Times are the devices' own Welcome times plus what the test says has passed.
   */
  @Test
  void aStormWaitsForEveryDeviceToBeConnectedForTenSecondsOrItsDeadline() {
    long never = Long.MAX_VALUE;
    long tenSeconds = Fleet.STABLE_NANOS;
    assertEquals(TimeUnit.SECONDS.toNanos(10), tenSeconds, "the clients' rule");
    try (Fleet fleet =
        new Fleet(options(1, 2, 1), new Stats(), true, Duration.ofMinutes(5), false)) {
      Device a = fleet.device(0);
      Device b = fleet.device(1);
      a.onStateChanged(ConnectionState.CONNECTED, 0, null);
      long aUp = a.upSinceNanos();
      assertFalse(fleet.readyForStorm(aUp + tenSeconds, never), "b is not connected");
      assertEquals(1, fleet.unsettled(aUp + tenSeconds));

      b.onStateChanged(ConnectionState.CONNECTED, 0, null);
      long bUp = b.upSinceNanos();
      assertFalse(
          fleet.readyForStorm(bUp + tenSeconds - 1, never),
          "b's connection has not lasted 10 s: a cut now would leave its backoff where it was");
      assertTrue(fleet.readyForStorm(bUp + tenSeconds, never), "both connected for 10 s");

      // a is cut and comes back: its new connection counts from its new Welcome.
      a.onStateChanged(ConnectionState.RECONNECTING, Device.ABNORMAL_CLOSURE, "cut");
      a.onStateChanged(ConnectionState.CONNECTED, 0, null);
      long aAgain = a.upSinceNanos();
      assertTrue(aAgain >= bUp);
      assertFalse(
          fleet.readyForStorm(aAgain + tenSeconds - 1, never),
          "a's new connection has not lasted 10 s, though its first one had");
      assertEquals(2, fleet.unsettled(aAgain + TimeUnit.SECONDS.toNanos(7)));
      assertTrue(
          fleet.readyForStorm(
              aAgain + TimeUnit.SECONDS.toNanos(7), aAgain + TimeUnit.SECONDS.toNanos(7)),
          "at its deadline the storm cuts whatever the devices' state");
      assertTrue(fleet.readyForStorm(aAgain + tenSeconds, never));
    }
  }

  /**
   * The warm-up's whole-user cuts take every device of a user together, and only users whose
   * devices are all connected: a user with one device down would not leave the node, which is the
   * path these cuts are there to make the server compile before a storm.
   */
  @Test
  void wholeUserCutsTakeEveryDeviceOfUsersWhoseDevicesAreAllConnected() {
    try (Fleet fleet =
        new Fleet(options(3, 3, 1), new Stats(), true, Duration.ofMinutes(5), false)) {
      for (int i = 0; i < 9; i++) {
        fleet.device(i).onStateChanged(ConnectionState.CONNECTED, 0, null);
      }
      fleet.device(4).onStateChanged(ConnectionState.RECONNECTING, Device.ABNORMAL_CLOSURE, "cut");
      Random random = new Random(7);

      assertEquals(3, fleet.cutRandomUsers(1, random), "one user: all three of its devices");
      assertEquals(
          6,
          fleet.cutRandomUsers(5, random),
          "users 0 and 2 only: user 1 has a device down (devices are still up here, as no"
              + " connection tells them otherwise)");
      assertEquals(0, fleet.cutRandomUsers(0, random));
    }
  }

  private static LoadOptions options(int users, int devices, int threads) {
    LoadOptions o = new LoadOptions();
    new CommandLine(o)
        .parseArgs(
            "--url",
            "ws://127.0.0.1:9/ws",
            "--jwt-secret",
            "fleet-test-secret-0123456789-0123456789",
            "--users",
            Integer.toString(users),
            "--devices",
            Integer.toString(devices),
            "--threads",
            Integer.toString(threads));
    return o;
  }
}
