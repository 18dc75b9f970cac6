package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.Delta;
import io.lettuce.core.api.sync.RedisCommands;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * A catch-up read (a connection reading one document from its cursor, here after a gap in the
 * stream) that times out is read again, a bounded number of times, before the device is closed
 * UNAVAILABLE: a Redis slow for a few seconds (one that comes back from a hang and works through
 * what it held) costs the device a late version, not a disconnect. The copy that opens the gap is
 * published in one transaction with {@code CLIENT PAUSE}, so Redis holds the read it sets off, and
 * every other command, from that very instant for 3.5 s: past the 2 s command timeout once, and
 * answered within the second attempt's. Nothing is lost, repeated or sent past the gap meanwhile.
 */
class CatchUpReadRetryTest {
  private static final String DOC = "notes";
  private static final long PAUSE_MS = SlowRedis.PAUSE_MS;

  private final Nodes nodes = new Nodes();
  private final RedisProcess redis = nodes.add(RedisProcess.start());

  @AfterEach
  void tearDown() {
    nodes.close();
  }

  @Test
  void aCatchUpReadThatTimesOutOnceWhileRedisIsSlowIsReadAgainAndTheDeviceStays() throws Exception {
    HandoffServer node = nodes.redis(redis.url(), "n1");
    TestDevice tablet = nodes.add(TestDevice.connect(node.port(), TestServer.token("u", "tablet")));
    TestDevice phone = nodes.add(TestDevice.connect(node.port(), TestServer.token("u", "phone")));
    assertTrue(tablet.hello().hasWelcome());
    assertTrue(phone.hello().hasWelcome());
    assertTrue(tablet.answerTo(tablet.write(DOC, 1, "f", "one")).hasAck());
    Delta v1 = SlowRedis.nextDelta(phone);
    assertEquals(1, v1.getVersion());

    RedisCommands<byte[], byte[]> control = SlowRedis.control(nodes, redis);
    control.multi();
    control.publish(SlowRedis.channel(nodes, "u"), SlowRedis.gap(v1));
    control.clientPause(PAUSE_MS);
    control.exec();
    control.ping(); // Held until the pause ends: Redis answers again.
    SlowRedis.stillOpen(phone, "phone");
    SlowRedis.stillOpen(tablet, "tablet");

    // The tablet's next write reaches both devices, next after version 1: the read that timed out
    // was read again, the device stayed, and nothing of the gap's copy reached it.
    assertTrue(tablet.answerTo(tablet.write(DOC, 2, "f", "two")).hasAck());
    Delta v2 = SlowRedis.nextDelta(phone);
    assertEquals(2, v2.getVersion(), v2.toString());
    SlowRedis.stillOpen(tablet, "tablet");
    assertTrue(
        node.stats().catchUpReadsRetried.sum() >= 1,
        "no catch-up read timed out: Redis held nothing past the timeout");
  }

  @Test
  @Tag("fault") // Redis stopped through every attempt: in the faults profile; the retry that
  // succeeds runs by default.
  void aCatchUpReadTimingOutAtEveryAttemptClosesTheDeviceUnavailable() throws Exception {
    HandoffServer node = nodes.redis(redis.url(), "n1");
    TestDevice phone = nodes.add(TestDevice.connect(node.port(), TestServer.token("u", "phone")));
    TestDevice tablet = nodes.add(TestDevice.connect(node.port(), TestServer.token("u", "tablet")));
    assertTrue(phone.hello().hasWelcome());
    assertTrue(tablet.hello().hasWelcome());
    assertTrue(tablet.answerTo(tablet.write(DOC, 1, "f", "one")).hasAck());
    Delta v1 = SlowRedis.nextDelta(phone);

    // Redis holds every command from the gap's copy on (CLIENT PAUSE, so the reads it sets off
    // are held too), then hangs (SIGSTOP) well before that pause ends: every attempt of both
    // devices' reads times out.
    RedisCommands<byte[], byte[]> control = SlowRedis.control(nodes, redis);
    String pid = RedisSignals.pid(redis.url()); // Asked before the pause, which would hold it.
    control.multi();
    control.publish(SlowRedis.channel(nodes, "u"), SlowRedis.gap(v1));
    control.clientPause(PAUSE_MS);
    control.exec();
    nodes.pause(pid);
    assertEquals(CloseCode.UNAVAILABLE.code(), phone.awaitClose());
    assertEquals(CloseCode.UNAVAILABLE.code(), tablet.awaitClose());
    nodes.resume(pid);
    // Each device's read, sent again after each of its attempts but the last.
    assertEquals(2 * (3 - 1), node.stats().catchUpReadsRetried.sum());
  }
}
