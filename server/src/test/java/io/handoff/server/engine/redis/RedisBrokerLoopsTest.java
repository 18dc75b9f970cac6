package io.handoff.server.engine.redis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.handoff.protocol.bus.v1.UserSignal;
import io.handoff.server.RedisProcess;
import io.handoff.server.engine.Engine;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.sync.Broker;
import io.netty.channel.EventLoop;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The broker with its subscriptions on the pub/sub connections of event loops (real epoll loops,
 * real Redis): a user's channel can be subscribed at Redis through two of them at once, the one
 * whose UNSUBSCRIBE has not been read by Redis yet and the one that subscribed it since (with
 * connections of a user on several loops, {@code --no-user-loops}). A message reaches each; the
 * listener must get it once, from the connection its channel is subscribed through.
 */
class RedisBrokerLoopsTest {
  private final MultiThreadIoEventLoopGroup loops =
      Epoll.isAvailable() ? new MultiThreadIoEventLoopGroup(2, EpollIoHandler.newFactory()) : null;
  private RedisEngine engine;
  private Engine.LoopBinding binding = Engine.LoopBinding.NONE;

  @AfterEach
  void stop() {
    binding.close();
    if (engine != null) {
      engine.close();
    }
    if (loops != null) {
      loops.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS).syncUninterruptibly();
    }
  }

  @Test
  void aMessageReadByTheLoopThatUnsubscribedMeanwhileIsNotDeliveredAgain() throws Exception {
    assumeTrue(Epoll.isAvailable(), "epoll is not offered here");
    String prefix = "test-" + UUID.randomUUID() + ":";
    engine = RedisEngine.connect(RedisProcess.sharedUrl(), prefix, StoreLimits.builder().build());
    binding = engine.bindLoops(loops, "epoll");
    RedisBroker broker = engine.broker();
    EventLoop first = loops.next();
    EventLoop second = loops.next();
    assertTrue(first != second, "two loops");

    Broker.Subscription old = first.submit(() -> broker.subscribe("u", new HeardSignals())).get();
    old.ready().get(5, TimeUnit.SECONDS);
    // The first loop is held, so the UNSUBSCRIBE of the close below waits in its queue, unsent.
    CountDownLatch release = new CountDownLatch(1);
    first.execute(
        () -> {
          try {
            release.await(10, TimeUnit.SECONDS);
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
        });
    old.close();
    HeardSignals listener = new HeardSignals();
    Broker.Subscription now = second.submit(() -> broker.subscribe("u", listener)).get();
    now.ready().get(5, TimeUnit.SECONDS);
    assertEquals(second, engine.subscriberLoop("u"), "subscribed again through the second loop");

    broker.signal("u", UserSignal.newBuilder().setOriginNode("elsewhere").build());
    assertTrue(listener.signals.tryAcquire(5, TimeUnit.SECONDS), "delivered through the second");
    // Redis sent it to the first loop's connection too (still subscribed there). Once the first
    // loop runs again, a message on a channel subscribed through it reaches it after that one.
    release.countDown();
    HeardSignals marker = new HeardSignals();
    first.submit(() -> broker.subscribe("v", marker)).get().ready().get(5, TimeUnit.SECONDS);
    broker.signal("v", UserSignal.newBuilder().setOriginNode("marker").build());
    assertTrue(marker.signals.tryAcquire(5, TimeUnit.SECONDS), "the first loop read on");

    assertEquals(List.of("elsewhere"), listener.origins, "the signal once");
    now.close();
  }
}
