package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.server.engine.Engine;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.memory.MemoryEngine;
import io.handoff.server.handoff.HandoffLimits;
import io.handoff.server.handoff.HandoffStore;
import io.netty.channel.EventLoop;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.time.Clock;
import java.time.Duration;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The presence keeper's thread only picks the users to keep: each user's store call is made from
 * the event loop that serves the user's connections, so its answer comes back there and no other
 * thread is woken to hand it over. It keeps exactly the devices online on its node.
 */
class PresenceKeeperTest {
  private final MemoryEngine real =
      new MemoryEngine(StoreLimits.builder().build(), Clock.systemUTC());
  private final List<Thread> keptOn = new CopyOnWriteArrayList<>();
  // The devices of each keep call, in order.
  private final BlockingQueue<Set<String>> kept = new LinkedBlockingQueue<>();

  /** A node on {@link #real} whose keeper runs every 100 ms and whose keep calls are recorded. */
  private HandoffServer node() throws InterruptedException {
    HandoffStore handoff = real.handoff();
    HandoffStore recording =
        proxy(
            HandoffStore.class,
            (method, args) -> {
              if (method.getName().equals("keep")) {
                keptOn.add(Thread.currentThread());
                Set<String> devices = new TreeSet<>();
                for (Object live : (List<?>) args[1]) {
                  devices.add(((HandoffStore.Live) live).deviceId());
                }
                kept.add(devices);
              }
              return call(method, handoff, args);
            });
    Engine engine =
        proxy(
            Engine.class,
            (method, args) ->
                method.getName().equals("handoff") && method.getParameterCount() == 0
                    ? recording
                    : call(method, real, args));
    ServerConfig config =
        ServerConfig.builder()
            .host("127.0.0.1")
            .port(0)
            .nodeId("keeper")
            .jwtSecret(TestServer.SECRET)
            .handoffLimits(HandoffLimits.builder().presenceTtl(Duration.ofMillis(300)).build())
            .build();
    return HandoffServer.start(config, engine);
  }

  @AfterEach
  void closeEngine() {
    real.close();
  }

  @Test
  void eachUsersPresenceIsKeptFromTheEventLoopServingItsConnections() throws Exception {
    HandoffServer server = node();
    try (TestDevice phone = TestDevice.connect(server.port(), TestServer.token("ann", "phone"));
        TestDevice laptop = TestDevice.connect(server.port(), TestServer.token("ann", "laptop"))) {
      phone.hello();
      laptop.hello();
      for (int i = 0; i < 3; i++) {
        assertNotNull(kept.poll(20, TimeUnit.SECONDS), "the keeper kept ann " + i + " times");
      }
      List<EventLoop> loops = server.hub().loopsOf("ann");
      assertFalse(loops.isEmpty(), "ann's connections are served");
      for (Thread t : keptOn) {
        assertTrue(
            loops.stream().anyMatch(l -> l.inEventLoop(t)),
            "ann was kept on " + t.getName() + ", not on a loop serving her connections");
      }
    } finally {
      server.close();
    }
  }

  @Test
  void aDeviceThatLeftIsNoLongerKeptAndTheOthersStillAre() throws Exception {
    HandoffServer server = node();
    try (TestDevice phone = TestDevice.connect(server.port(), TestServer.token("ann", "phone"));
        TestDevice laptop = TestDevice.connect(server.port(), TestServer.token("ann", "laptop"));
        TestDevice tv = TestDevice.connect(server.port(), TestServer.token("ann", "tv"))) {
      phone.hello();
      laptop.hello();
      tv.hello();
      awaitKept(Set.of("laptop", "phone", "tv"));
      laptop.close(); // the one in the middle of ann's devices on this node
      awaitKept(Set.of("phone", "tv"));
      tv.close();
      awaitKept(Set.of("phone"));
    } finally {
      server.close();
    }
  }

  /** Waits (20 s at most) until a keep call names exactly {@code devices}. */
  private void awaitKept(Set<String> devices) throws InterruptedException {
    Set<Set<String>> seen = new LinkedHashSet<>();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
    while (true) {
      Set<String> next = kept.poll(deadline - System.nanoTime(), TimeUnit.NANOSECONDS);
      assertNotNull(next, "no keep of " + devices + " in 20 s; kept: " + seen);
      if (next.equals(devices)) {
        return;
      }
      seen.add(next);
    }
  }

  private interface Handler {
    Object handle(Method method, Object[] args) throws Throwable;
  }

  private static <T> T proxy(Class<T> type, Handler handler) {
    return type.cast(
        Proxy.newProxyInstance(
            type.getClassLoader(), new Class<?>[] {type}, (p, m, a) -> handler.handle(m, a)));
  }

  private static Object call(Method method, Object target, Object[] args) throws Throwable {
    try {
      return method.invoke(target, args);
    } catch (InvocationTargetException e) {
      throw e.getCause();
    }
  }
}
