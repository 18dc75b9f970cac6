package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.Hello;
import io.handoff.protocol.v1.ServerFrame;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;

/** Steps of the tests whose resume scripts a paused Redis ({@link RedisProcess#pause()}) holds. */
final class HeldResumes {
  private HeldResumes() {}

  /**
   * {@code device} of {@code user} connects to {@code node} and sends its Hello; the paused Redis
   * holds the resume until the node times it out and closes the device, unwelcomed (4005).
   */
  static TestDevice timedOut(Nodes nodes, HandoffServer node, String user, String device) {
    TestDevice d = nodes.add(TestDevice.connect(node.port(), TestServer.token(user, device)));
    d.send(ClientFrame.newBuilder().setHello(Hello.getDefaultInstance()));
    assertEquals(CloseCode.UNAVAILABLE.code(), d.awaitClose());
    return d;
  }

  /**
   * {@code device} of {@code user} connects to {@code node} and sends its Hello; returns once the
   * node registered its session, so its resume is on its way to the store (which a paused Redis
   * holds).
   */
  static TestDevice resumeSent(Nodes nodes, HandoffServer node, String user, String device) {
    int sessions = node.hub().sessions();
    TestDevice d = nodes.add(TestDevice.connect(node.port(), TestServer.token(user, device)));
    d.send(ClientFrame.newBuilder().setHello(Hello.getDefaultInstance()));
    Conditions.await(
        "the " + device + "'s resume sent",
        () -> node.hub().sessions() == sessions + 1,
        Duration.ofSeconds(10));
    return d;
  }

  /**
   * Waits, once {@code redis} runs again, until the held script wrote {@code device}'s presence
   * entry of {@code user} and the entry is offline; returns that entry.
   */
  static String awaitOfflineEntry(Nodes nodes, RedisProcess redis, String user, String device) {
    try (RedisClient admin = RedisClient.create(redis.url());
        StatefulRedisConnection<String, String> control = admin.connect()) {
      return awaitOfflineEntry(device, () -> control.sync().hget(nodes.presenceKey(user), device));
    }
  }

  /**
   * Waits until {@code device}'s presence entry, as {@code entryNow} reads it, is written by the
   * held script and offline; returns that entry.
   */
  static String awaitOfflineEntry(String device, Supplier<String> entryNow) {
    AtomicReference<String> entry = new AtomicReference<>();
    try {
      Conditions.await(
          "the " + device + "'s presence entry written by the held script, and offline",
          () -> {
            entry.set(entryNow.get());
            return entry.get() != null && entry.get().startsWith("0|");
          },
          Duration.ofSeconds(20),
          Duration.ofMillis(10));
    } catch (AssertionError e) {
      throw new AssertionError(
          e.getMessage() + "; the entry (online|connection|seen|deadline): " + entry.get(), e);
    }
    return entry.get();
  }

  /** Waits until {@code device} (presence frames on) is pushed that {@code other} went offline. */
  static ServerFrame toldOffline(TestDevice device, String other) {
    return device.next(
        f ->
            f.hasPresenceUpdate()
                && f.getPresenceUpdate().getDevicesList().stream()
                    .anyMatch(p -> p.getDeviceId().equals(other) && !p.getOnline()));
  }
}
