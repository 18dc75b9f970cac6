package io.handoff.server;

import static io.handoff.server.TestServer.token;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.ServerFrame;
import org.junit.jupiter.api.Test;

/** Per-connection write rate, per-address connection rate and per-user connections. */
class AbuseLimitsTest {
  @Test
  void writesOverTheConnectionsRateAreRefusedRetryablyWhileOtherDevicesWriteOn() throws Exception {
    // A bucket of 5 that refills once every 1000 s: deterministic on any machine.
    try (TestServer server = TestServer.start(b -> b.writeRate(0.001, 5));
        TestDevice flood = TestDevice.connect(server.port(), token("r1", "flood"));
        TestDevice calm = TestDevice.connect(server.port(), token("r1", "calm"))) {
      flood.hello();
      calm.hello();
      for (int i = 1; i <= 8; i++) {
        flood.send(Writes.frame("notes", i, "n", "v" + i));
      }
      int acked = 0;
      int limited = 0;
      while (acked + limited < 8) {
        ServerFrame f = flood.next(x -> x.hasAck() || x.hasError());
        if (f.hasAck()) {
          acked++;
        } else {
          assertEquals(ErrorCode.RATE_LIMITED, f.getError().getCode());
          assertTrue(f.getError().getRetryable(), "the client may re-send later");
          assertTrue(
              f.getError().getMessage().contains("more than 0.001 writes/s"),
              "the rate as configured: " + f.getError().getMessage());
          assertTrue(
              f.getError().getMessage().matches(".*retry in [1-9][0-9]{0,6} ms.*"),
              "a wait of at most 1000 s: " + f.getError().getMessage());
          limited++;
        }
      }
      assertEquals(5, acked);
      assertEquals(3, limited);
      calm.send(Writes.frame("notes", 1, "n", "calm"));
      assertTrue(calm.next(x -> x.hasAck() || x.hasError()).hasAck(), "another device writes on");
      assertEquals(3, server.server.stats().writesRateLimited.sum());
    }
  }

  @Test
  void upgradesOverTheAddressRateGet429WithRetryAfter() throws Exception {
    try (TestServer server = TestServer.start(b -> b.connectRatePerAddress(0.001, 3))) {
      for (int i = 0; i < 3; i++) {
        try (TestDevice d = TestDevice.connect(server.port(), token("c1", "d" + i))) {
          d.hello();
        }
      }
      assertEquals(429, TestDevice.upgradeStatus(server.port(), token("c1", "d3")));
      assertEquals(1, server.server.stats().connectsRateLimited.sum());
    }
  }

  @Test
  void userOverItsConnectionLimitIsClosedWithPolicyViolationButAReplacementFits() throws Exception {
    try (TestServer server = TestServer.start(b -> b.maxConnectionsPerUser(2));
        TestDevice a = TestDevice.connect(server.port(), token("p1", "a"));
        TestDevice b = TestDevice.connect(server.port(), token("p1", "b"));
        RawSocket c = RawSocket.connect(server.port(), token("p1", "c"), 0);
        TestDevice other = TestDevice.connect(server.port(), token("p2", "a"))) {
      // The third connection is closed right after its upgrade: a connection holds a slot, Hello
      // or not. (A raw socket reads the close frame that follows the 101 at once.)
      assertEquals(CloseCode.POLICY_VIOLATION.code(), c.readUntilClose());
      a.hello();
      b.hello();
      other.hello(); // Another user is not affected.
      try (TestDevice a2 = TestDevice.connect(server.port(), token("p1", "a"))) {
        a2.hello(); // The same device reconnecting replaces its old connection.
        assertEquals(CloseCode.REPLACED.code(), a.awaitClose());
      }
    }
  }
}
