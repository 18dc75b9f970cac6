package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertFalse;

import io.handoff.protocol.v1.DevicePresence;
import io.handoff.server.HandoffMultiNodeTest.Inbox;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.memory.MemoryEngine;
import io.handoff.server.engine.redis.RedisEngine;
import io.handoff.server.handoff.HandoffLimits;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The presence keeper's refresh of a device races the device leaving: the keeper names the device's
 * connection, the connection closes and marks the device offline, then the refresh reaches the
 * store. The refresh must not bring the entry back online (the device left), nor take over the
 * entry of the device's newer connection on another node (whose close would then not turn it
 * offline). The keeper's call is held by a gate to put it after the close; the clock is frozen, so
 * no deadline passes and only what the store was told decides.
 */
class PresenceKeeperRaceTest {
  private static final Duration PRESENCE_TTL = Duration.ofSeconds(3);
  private static final Duration BOUND = Duration.ofSeconds(20);

  private final Nodes nodes = new Nodes();
  private final String user = "u-" + UUID.randomUUID();
  private final MutableClock clock = new MutableClock();

  @AfterEach
  void stop() {
    nodes.close();
  }

  private static Consumer<ServerConfig.Builder> limits() {
    return b ->
        b.handoffLimits(
            HandoffLimits.builder()
                .maxRequestsPerSecond(1_000_000)
                .presenceTtl(PRESENCE_TTL)
                .build());
  }

  private GatedEngine redisEngine() {
    return new GatedEngine(
        RedisEngine.connect(
            RedisProcess.sharedUrl(), nodes.prefix, StoreLimits.builder().build(), clock));
  }

  private Inbox device(HandoffServer node, String name) {
    TestDevice d = TestDevice.connect(node.port(), TestServer.token(user, name)).presenceFrames();
    nodes.add(d);
    return new Inbox(d);
  }

  private static long deadline() {
    return System.nanoTime() + BOUND.toNanos();
  }

  private static boolean online(Inbox d, String device) {
    DevicePresence p = d.presence.get(device);
    return p != null && p.getOnline();
  }

  /** Holds {@code engine}'s next keeper call, which names {@code phone}'s connection. */
  private static void holdNextKeep(GatedEngine engine) throws InterruptedException {
    engine.holdKeeps(1);
    engine.changed.await("a keeper call held", () -> engine.heldKeeps() == 1, BOUND);
  }

  /** Sends the held keeper call and waits for its answer. */
  private static void releaseKeep(GatedEngine engine) throws InterruptedException {
    int before = engine.keptCalls();
    engine.releaseKeeps();
    engine.changed.await("the held keeper call answered", () -> engine.keptCalls() > before, BOUND);
  }

  private boolean storeSaysOnline(HandoffServer node, String device) throws Exception {
    List<DevicePresence> all = node.engine().handoff().presence(user).get(10, TimeUnit.SECONDS);
    return all.stream().anyMatch(p -> p.getDeviceId().equals(device) && p.getOnline());
  }

  private void aRefreshThatLandsAfterTheDeviceLeftDoesNotBringItBack(
      GatedEngine engine, HandoffServer a, HandoffServer b) throws Exception {
    Inbox laptop = device(b, "laptop");
    laptop.hello();
    Inbox phone = device(a, "phone");
    phone.hello();
    laptop.awaitPresence(p -> p.containsKey("phone") && p.get("phone").getOnline(), deadline());

    holdNextKeep(engine);
    phone.device.close();
    laptop.awaitPresence(p -> !p.get("phone").getOnline(), deadline());
    releaseKeep(engine);

    assertFalse(
        storeSaysOnline(b, "phone"),
        "the keeper's late refresh brought the phone, which had left, back online");
  }

  @Test
  void aKeeperRefreshLandingAfterTheDeviceLeftDoesNotBringItBackOnRedis() throws Exception {
    GatedEngine engine = redisEngine();
    HandoffServer a = nodes.start("a", engine, limits());
    HandoffServer b = nodes.redis(RedisProcess.sharedUrl(), "b", clock, limits());
    aRefreshThatLandsAfterTheDeviceLeftDoesNotBringItBack(engine, a, b);
  }

  @Test
  void aKeeperRefreshLandingAfterTheDeviceLeftDoesNotBringItBackInMemory() throws Exception {
    GatedEngine engine = new GatedEngine(new MemoryEngine(StoreLimits.builder().build(), clock));
    HandoffServer a = nodes.start("a", engine, limits());
    aRefreshThatLandsAfterTheDeviceLeftDoesNotBringItBack(engine, a, a);
  }

  @Test
  void aDeviceThatMovedToAnotherNodeAndLeftThereReadsOfflineThoughTheOldNodesRefreshCameLate()
      throws Exception {
    GatedEngine engine = redisEngine();
    HandoffServer a = nodes.start("a", engine, limits());
    HandoffServer b = nodes.redis(RedisProcess.sharedUrl(), "b", clock, limits());
    Inbox laptop = device(b, "laptop");
    laptop.hello();
    Inbox phone = device(a, "phone");
    phone.hello();
    laptop.awaitPresence(p -> online(laptop, "phone"), deadline());

    // The phone's connection to a drops while a's keeper refreshes it; the phone comes back on b
    // before a's refresh reaches Redis.
    holdNextKeep(engine);
    phone.device.close();
    laptop.awaitPresence(p -> !online(laptop, "phone"), deadline());
    Inbox phoneOnB = device(b, "phone");
    phoneOnB.hello();
    laptop.awaitPresence(p -> online(laptop, "phone"), deadline());
    releaseKeep(engine);

    // Now the phone leaves b too: it is offline, and the laptop is told.
    phoneOnB.device.close();
    laptop.awaitPresence(p -> !online(laptop, "phone"), deadline());
    assertFalse(storeSaysOnline(b, "phone"), "the phone left every node but reads online");
  }
}
