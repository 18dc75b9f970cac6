package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.OfferActivity;
import io.handoff.protocol.v1.PublishActivity;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.redis.RedisEngine;
import io.lettuce.core.KeyScanCursor;
import io.lettuce.core.RedisClient;
import io.lettuce.core.ScanArgs;
import io.lettuce.core.ScanCursor;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.sync.RedisCommands;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * An erasure on two nodes on one real Redis while the user's devices, one on each node, keep
 * writing new documents, publishing activities and making offers: what lands between the deletion
 * and the kick may stay, with its own lifetime (docs/security.md), and the erasure sent again once
 * the devices are closed leaves no key of the user in Redis, found with SCAN over the whole
 * keyspace (any key that names the user, under its hash tag or another).
 */
class ErasureWhileWritingTest {
  private final AppBackend app = new AppBackend();
  private final List<AutoCloseable> closeables = new ArrayList<>();
  private final String prefix = "test-" + UUID.randomUUID() + ":";
  private final String user = "eve-" + UUID.randomUUID();

  @AfterEach
  void stop() throws Exception {
    for (int i = closeables.size() - 1; i >= 0; i--) {
      closeables.get(i).close();
    }
  }

  private HandoffServer node(String name) throws Exception {
    ServerConfig config =
        ServerConfig.builder()
            .host("127.0.0.1")
            .port(0)
            .nodeId(name)
            .jwtSecret(TestServer.SECRET)
            .tokens(app.tokens().build())
            .build();
    RedisEngine engine =
        RedisEngine.connect(RedisProcess.sharedUrl(), prefix, StoreLimits.builder().build());
    closeables.add(engine);
    HandoffServer server = HandoffServer.start(config, engine);
    closeables.add(server);
    return server;
  }

  @Test
  void anErasureSentAgainOnceTheWritingDevicesAreClosedLeavesNoKeyOfTheUser() throws Exception {
    HandoffServer n1 = node("n1");
    HandoffServer n2 = node("n2");
    HttpApi.Answer phone = new HttpApi(n1.port()).signIn(app.identity(user), "phone", "P", "ios");
    HttpApi.Answer laptop =
        new HttpApi(n2.port()).signIn(app.identity(user), "laptop", "L", "macos");
    assertEquals(201, phone.status(), phone.toString());
    assertEquals(201, laptop.status(), laptop.toString());
    TestDevice onN1 = TestDevice.connect(n1.port(), phone.field("access_token"));
    TestDevice onN2 = TestDevice.connect(n2.port(), laptop.field("access_token"));
    closeables.add(onN1);
    closeables.add(onN2);
    onN1.hello();
    onN2.hello();

    CountDownLatch busy = new CountDownLatch(2);
    AtomicLong answered = new AtomicLong();
    List<Thread> writers = new ArrayList<>();
    for (Object[] d : new Object[][] {{onN1, "phone", "laptop"}, {onN2, "laptop", "phone"}}) {
      TestDevice device = (TestDevice) d[0];
      String self = (String) d[1];
      String other = (String) d[2];
      Thread t =
          new Thread(() -> keepWriting(device, self, other, busy, answered), "writer-" + self);
      t.start();
      writers.add(t);
    }
    assertTrue(busy.await(20, TimeUnit.SECONDS), "both devices write");

    HttpApi.Answer erased = new HttpApi(n1.port()).delete("/v1/me", phone.field("access_token"));
    assertEquals(200, erased.status(), erased.toString());
    assertEquals(CloseCode.SESSION_REVOKED.code(), onN1.awaitClose());
    assertEquals(CloseCode.SESSION_REVOKED.code(), onN2.awaitClose());
    for (Thread t : writers) {
      t.join(TimeUnit.SECONDS.toMillis(30));
    }
    assertTrue(answered.get() > 0);

    // What landed between the deletion and the kick may stay, but only with a lifetime.
    Map<String, Long> left = keysOfUser();
    left.forEach((k, ttl) -> assertTrue(ttl > 0, k + " has no TTL: " + left));

    // The erasure sent again (the user's sessions are gone, so with a development token).
    HttpApi.Answer again = new HttpApi(n2.port()).delete("/v1/me", TestServer.token(user, "phone"));
    assertEquals(200, again.status(), again.toString());
    assertEquals(Map.of(), keysOfUser(), "left after the erasure was sent again (first: " + left);
  }

  /**
   * Writes a new document, and now and then publishes an activity or offers one to the other
   * device, each after the answer to the one before, until the device is closed.
   */
  private static void keepWriting(
      TestDevice device, String self, String other, CountDownLatch busy, AtomicLong answered) {
    try {
      for (long seq = 1; !device.isClosed(); seq++) {
        ClientFrame.Builder frame;
        if (seq % 7 == 0) {
          frame =
              ClientFrame.newBuilder()
                  .setOfferActivity(
                      OfferActivity.newBuilder()
                          .setTargetDevice(other)
                          .setActivity(HandoffProtocolTest.activity("doc-" + seq, "offer"))
                          .setTtlMs(60_000)
                          .setOfferKey(self + "-" + seq));
        } else if (seq % 5 == 0) {
          frame =
              ClientFrame.newBuilder()
                  .setPublishActivity(
                      PublishActivity.newBuilder()
                          .setActivity(HandoffProtocolTest.activity("doc-" + seq, "now")));
        } else {
          frame = Writes.frame(self + "-doc-" + seq, seq, "f", "v" + seq);
        }
        long id = device.send(frame);
        while (!device.isClosed()) {
          ServerFrame f = device.poll(50);
          if (f != null && f.getRequestId() == id) {
            answered.incrementAndGet();
            break;
          }
        }
        if (seq == 20) {
          busy.countDown();
        }
      }
    } catch (RuntimeException | Error closedWhileSending) {
      // The kick closed the socket while a frame was being sent.
    }
  }

  /** Every key naming the user anywhere, with its PTTL, found by SCAN over the whole keyspace. */
  private Map<String, Long> keysOfUser() {
    Map<String, Long> out = new TreeMap<>();
    RedisClient client = RedisClient.create(RedisProcess.sharedUrl());
    try (StatefulRedisConnection<String, String> c = client.connect()) {
      RedisCommands<String, String> redis = c.sync();
      ScanArgs args = ScanArgs.Builder.matches(prefix + "*").limit(1000);
      KeyScanCursor<String> cursor = redis.scan(args);
      while (true) {
        for (String k : cursor.getKeys()) {
          if (k.contains(user)) {
            out.put(k, redis.pttl(k));
          }
        }
        if (cursor.isFinished()) {
          break;
        }
        cursor = redis.scan(ScanCursor.of(cursor.getCursor()), args);
      }
    } finally {
      client.shutdown();
    }
    return out;
  }
}
