package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.fail;

import io.handoff.protocol.v1.Delta;
import io.handoff.protocol.v1.ServerFrame;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.sync.RedisCommands;
import io.lettuce.core.codec.ByteArrayCodec;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.function.Predicate;

/**
 * What the tests of reads that Redis leaves unanswered for a moment share: a connection of the
 * test's own to Redis (to publish on a user's channel and to {@code CLIENT PAUSE} it), and waits
 * for a device's frames that fail at once with the close code when the node closed it instead.
 */
final class SlowRedis {
  /**
   * Past the 2 s command timeout (RedisEngine.DEFAULT_COMMAND_TIMEOUT) of a read sent up to 1.5 s
   * into a pause this long, and ended within the second attempt's, sent 100 ms after the first
   * timed out.
   */
  static final long PAUSE_MS = 3_500;

  private static final Duration WAIT = Duration.ofSeconds(30);

  private SlowRedis() {}

  /** A byte-array connection of the test's own to {@code redis}, closed with {@code nodes}. */
  static RedisCommands<byte[], byte[]> control(Nodes nodes, RedisProcess redis) {
    RedisClient client = RedisClient.create(redis.url());
    nodes.add(client::shutdown);
    StatefulRedisConnection<byte[], byte[]> c = nodes.add(client.connect(ByteArrayCodec.INSTANCE));
    return c.sync();
  }

  /** {@code user}'s channel under {@code nodes}' prefix. */
  static byte[] channel(Nodes nodes, String user) {
    return (nodes.prefix + "{" + user + "}:ch").getBytes(StandardCharsets.UTF_8);
  }

  /** A copy of version 3 of {@code v1}'s document, by a device of the user not connected. */
  static byte[] gap(Delta v1) {
    return Delta.newBuilder()
        .setDocument(v1.getDocument())
        .setEpoch(v1.getEpoch())
        .setVersion(3)
        .setOriginDevice("laptop")
        .setOriginSeq(1)
        .setTimestampMs(System.currentTimeMillis())
        .setFingerprint(0x5eed)
        .build()
        .toByteArray();
  }

  static void stillOpen(TestDevice d, String name) {
    assertFalse(d.isClosed(), () -> "the " + name + " was closed " + d.awaitClose());
  }

  /** The device's next Delta; fails at once with the close code if the node closed it instead. */
  static Delta nextDelta(TestDevice d) {
    return next(d, ServerFrame::hasDelta, "Delta").getDelta();
  }

  /**
   * The device's next frame that {@code match}es; fails at once with the close code if the node
   * closed it instead.
   */
  static ServerFrame next(TestDevice d, Predicate<ServerFrame> match, String what) {
    long deadline = System.nanoTime() + WAIT.toNanos();
    while (System.nanoTime() < deadline) {
      ServerFrame f = d.poll(50);
      if (f != null && match.test(f)) {
        return f;
      }
      if (f == null && d.isClosed()) {
        return fail("the device was closed " + d.awaitClose() + " instead of a " + what);
      }
    }
    return fail("no " + what + " within " + WAIT);
  }
}
