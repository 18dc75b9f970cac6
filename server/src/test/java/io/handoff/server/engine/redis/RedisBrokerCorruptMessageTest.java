package io.handoff.server.engine.redis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.Delta;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.sync.Broker;
import io.handoff.server.sync.DocumentEvent;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A message on a user's channel that is no delta (corrupt bytes in Redis, or a stranger publishing
 * on the channel) is dropped with a warning: the user's next delta still arrives, in order, and no
 * other user sees anything of it.
 */
class RedisBrokerCorruptMessageTest {
  @Test
  void aMessageThatIsNoDeltaIsDroppedAndTheNextOneArrives() throws Exception {
    String prefix = "corrupt-" + UUID.randomUUID() + ":";
    try (EngineWithRawRedis r =
        new EngineWithRawRedis(prefix, StoreLimits.builder().build(), Clock.systemUTC())) {
      Broker broker = r.engine.broker();
      LinkedBlockingQueue<DocumentEvent> alice = new LinkedBlockingQueue<>();
      List<DocumentEvent> bob = new CopyOnWriteArrayList<>();
      try (Broker.Subscription a = broker.subscribe("alice", alice::add);
          Broker.Subscription b = broker.subscribe("bob", bob::add)) {
        a.ready().get(10, TimeUnit.SECONDS);
        b.ready().get(10, TimeUnit.SECONDS);
        String channel = new String(new RedisKeys(prefix).channel("alice"), StandardCharsets.UTF_8);

        // Tag 0 inside an op, then a cut-off op: neither parses as a delta.
        r.redis.publish(channel, new String(new byte[] {0x22, 0x01, 0x00}, StandardCharsets.UTF_8));
        r.redis.publish(channel, "\"\u0010cut");
        Delta good = Delta.newBuilder().setDocument("notes").setVersion(1).setEpoch(7).build();
        broker.publish(new DocumentEvent("alice", good));

        DocumentEvent first = alice.poll(10, TimeUnit.SECONDS);
        assertEquals("notes", first.document(), "the good delta after the two dropped ones");
        assertEquals(1, first.version());
        assertEquals(good, first.delta());
        assertTrue(alice.isEmpty(), "nothing else for alice: " + alice);
        assertTrue(bob.isEmpty(), "nothing for bob: " + bob);
      }
    }
  }
}
