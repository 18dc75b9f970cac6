package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertFalse;
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
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The presence keeper's thread only picks the users to keep: each user's store call is made from
 * the event loop that serves the user's connections, so its answer comes back there and no other
 * thread is woken to hand it over.
 */
class PresenceKeeperTest {
  @Test
  void eachUsersPresenceIsKeptFromTheEventLoopServingItsConnections() throws Exception {
    MemoryEngine real = new MemoryEngine(StoreLimits.builder().build(), Clock.systemUTC());
    List<Thread> keptOn = new CopyOnWriteArrayList<>();
    CountDownLatch threeKeeps = new CountDownLatch(3);
    HandoffStore handoff = real.handoff();
    HandoffStore recording =
        proxy(
            HandoffStore.class,
            (method, args) -> {
              if (method.getName().equals("keep")) {
                keptOn.add(Thread.currentThread());
                threeKeeps.countDown();
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
            // A keeper round every 100 ms.
            .handoffLimits(HandoffLimits.builder().presenceTtl(Duration.ofMillis(300)).build())
            .build();
    HandoffServer server = HandoffServer.start(config, engine);
    try (TestDevice phone = TestDevice.connect(server.port(), TestServer.token("ann", "phone"));
        TestDevice laptop = TestDevice.connect(server.port(), TestServer.token("ann", "laptop"))) {
      phone.hello();
      laptop.hello();
      assertTrue(
          threeKeeps.await(20, TimeUnit.SECONDS),
          "the keeper kept ann " + keptOn.size() + " times");
      List<EventLoop> loops = server.hub().loopsOf("ann");
      assertFalse(loops.isEmpty(), "ann's connections are served");
      for (Thread t : keptOn) {
        assertTrue(
            loops.stream().anyMatch(l -> l.inEventLoop(t)),
            "ann was kept on " + t.getName() + ", not on a loop serving her connections");
      }
    } finally {
      server.close();
      real.close();
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
