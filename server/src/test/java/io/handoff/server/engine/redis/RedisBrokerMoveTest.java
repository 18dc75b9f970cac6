package io.handoff.server.engine.redis;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.bus.v1.UserSignal;
import io.handoff.server.Conditions;
import io.handoff.server.RedisProcess;
import io.handoff.server.sync.Broker;
import io.lettuce.core.ClientOptions;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.TimeoutOptions;
import io.lettuce.core.codec.ByteArrayCodec;
import io.lettuce.core.pubsub.RedisPubSubAdapter;
import io.lettuce.core.pubsub.StatefulRedisPubSubConnection;
import java.time.Duration;
import java.util.Arrays;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The broker's watch moves its channels off a pub/sub connection whose Redis stopped delivering
 * (SIGSTOP) while a channel's first SUBSCRIBE waits there unanswered: closing the old connection
 * fails that SUBSCRIBE, but the channel, moved, is subscribed on the new one, and its subscription
 * must be ready (the resume waiting on it goes on) rather than failed (its device closed 4005 for a
 * subscription that in fact took). Two real Redis processes: the one that hangs, and the one the
 * watch publishes its heartbeat through and moves to. The watch's timings are short (a heartbeat
 * every 100 ms, unheard for 300 ms), well inside the 2 s command timeout.
 */
class RedisBrokerMoveTest {
  private final RedisProcess hung = RedisProcess.start();
  private final RedisProcess healthy = RedisProcess.start();
  private final RedisClient client = RedisClient.create();
  private RedisBroker broker;

  @AfterEach
  void tearDown() {
    hung.resume();
    healthy.resume();
    if (broker != null) {
      broker.close();
    }
    client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
    hung.close();
    healthy.close();
  }

  @Test
  void aSubscriptionWaitingOnAConnectionTheWatchReplacesIsReadyOnTheNewOne() throws Exception {
    client.setOptions(
        ClientOptions.builder()
            .protocolVersion(RedisEngine.PROTOCOL)
            .timeoutOptions(TimeoutOptions.enabled(RedisEngine.DEFAULT_COMMAND_TIMEOUT))
            .build());
    RedisURI healthyUri = RedisURI.create(healthy.url());
    broker =
        new RedisBroker(
            client.connectPubSub(ByteArrayCodec.INSTANCE, RedisURI.create(hung.url())),
            client.connect(ByteArrayCodec.INSTANCE, healthyUri).async(),
            new RedisKeys("test-" + UUID.randomUUID() + ":"),
            client.getResources().eventExecutorGroup());
    hung.pause();
    HeardSignals listener = new HeardSignals();
    Broker.Subscription s = broker.subscribe("u", listener);
    broker.watchPath(
        () -> client.connectPubSub(ByteArrayCodec.INSTANCE, healthyUri),
        Duration.ofMillis(100),
        Duration.ofMillis(300));

    try {
      s.ready().get(10, TimeUnit.SECONDS);
    } catch (ExecutionException e) {
      throw new AssertionError(
          "the subscription failed though its channel was moved: " + e.getCause(), e);
    }
    broker.signal("u", UserSignal.newBuilder().setOriginNode("elsewhere").build());
    assertTrue(listener.signals.tryAcquire(10, TimeUnit.SECONDS), "heard on the new connection");
  }

  /**
   * The old connection's SUBSCRIBE may be answered after the move, before the old connection is
   * closed (the node it is on hung for a while, then answered): the channel, moved, hears only the
   * new connection, so until that one confirms it a message published to the user reaches neither,
   * and the subscription must not be ready yet (a session would read the store and miss a write
   * published before the new SUBSCRIBE, with no re-read to follow). The new connection's answer is
   * held by pausing its Redis as soon as it is open; the old one's is released (SIGCONT) and read
   * between the move and the close ({@code retire}). Commands time out after 10 s here, beyond any
   * wait of the test.
   */
  @Test
  void aSubscriptionIsNotReadyOnTheOldConnectionsAnswerAfterTheMove() throws Exception {
    client.setOptions(
        ClientOptions.builder()
            .protocolVersion(RedisEngine.PROTOCOL)
            .timeoutOptions(TimeoutOptions.enabled(Duration.ofSeconds(10)))
            .build());
    RedisURI healthyUri = RedisURI.create(healthy.url());
    RedisKeys keys = new RedisKeys("test-" + UUID.randomUUID() + ":");
    StatefulRedisPubSubConnection<byte[], byte[]> old =
        client.connectPubSub(ByteArrayCodec.INSTANCE, RedisURI.create(hung.url()));
    broker =
        new RedisBroker(
            old,
            client.connect(ByteArrayCodec.INSTANCE, healthyUri).async(),
            keys,
            client.getResources().eventExecutorGroup());
    // Lettuce completes a SUBSCRIBE before it tells the listeners: once this one hears the answer,
    // the broker has had it.
    AtomicBoolean oldAnswered = new AtomicBoolean();
    old.addListener(
        new RedisPubSubAdapter<>() {
          @Override
          public void subscribed(byte[] channel, long count) {
            if (Arrays.equals(channel, keys.channel("u"))) {
              oldAnswered.set(true);
            }
          }
        });
    hung.pause();
    HeardSignals listener = new HeardSignals();
    Broker.Subscription s = broker.subscribe("u", listener);
    AtomicBoolean opened = new AtomicBoolean();
    CompletableFuture<Boolean> readyOnOldAnswer = new CompletableFuture<>();
    broker.watchPath(
        () -> {
          StatefulRedisPubSubConnection<byte[], byte[]> fresh =
              client.connectPubSub(ByteArrayCodec.INSTANCE, healthyUri);
          if (!opened.getAndSet(true)) {
            healthy.pause();
          }
          return fresh;
        },
        Duration.ofMillis(100),
        Duration.ofMillis(300),
        retired -> {
          if (retired == old) {
            try {
              hung.resume();
              Conditions.await(
                  "the old connection reads its SUBSCRIBE's answer",
                  oldAnswered::get,
                  Duration.ofSeconds(5));
              readyOnOldAnswer.complete(s.ready().isDone());
            } catch (Throwable t) {
              readyOnOldAnswer.completeExceptionally(t);
            }
          }
          retired.closeAsync();
        });

    assertFalse(
        readyOnOldAnswer.get(10, TimeUnit.SECONDS),
        "ready on the old connection's answer, before the new one confirmed the channel");
    healthy.resume();
    s.ready().get(10, TimeUnit.SECONDS);
    broker.signal("u", UserSignal.newBuilder().setOriginNode("elsewhere").build());
    assertTrue(listener.signals.tryAcquire(10, TimeUnit.SECONDS), "heard on the new connection");
  }

  /**
   * The move may come while the old connection reads its SUBSCRIBE's answer: after the broker took
   * it (the subscription is ready, a session read the store) and before the broker's listener on
   * that connection counted it as the channel's first confirmation. The new connection's
   * confirmation is then its second, and its listeners must re-read: what was published after their
   * read and before the new SUBSCRIBE reached neither connection's delivery. The old connection
   * reads on a client of its own, and a listener ahead of the broker's holds that read until the
   * move is done ({@code retire}).
   */
  @Test
  void aChannelReadyJustBeforeTheMoveIsReReadOnceTheNewConnectionConfirmsIt() throws Exception {
    ClientOptions options =
        ClientOptions.builder()
            .protocolVersion(RedisEngine.PROTOCOL)
            .timeoutOptions(TimeoutOptions.enabled(Duration.ofSeconds(10)))
            .build();
    client.setOptions(options);
    RedisClient oldClient = RedisClient.create();
    oldClient.setOptions(options);
    try {
      RedisURI healthyUri = RedisURI.create(healthy.url());
      RedisKeys keys = new RedisKeys("test-" + UUID.randomUUID() + ":");
      StatefulRedisPubSubConnection<byte[], byte[]> old =
          oldClient.connectPubSub(ByteArrayCodec.INSTANCE, RedisURI.create(hung.url()));
      AtomicBoolean moved = new AtomicBoolean();
      old.addListener(
          new RedisPubSubAdapter<>() {
            @Override
            public void subscribed(byte[] channel, long count) {
              if (Arrays.equals(channel, keys.channel("u"))) {
                Conditions.await("the move", moved::get, Duration.ofSeconds(10));
              }
            }
          });
      broker =
          new RedisBroker(
              old,
              client.connect(ByteArrayCodec.INSTANCE, healthyUri).async(),
              keys,
              client.getResources().eventExecutorGroup());
      AtomicInteger losses = new AtomicInteger();
      Broker.Subscription s =
          broker.subscribe(
              "u",
              new Broker.Listener() {
                @Override
                public void onEvent(io.handoff.server.sync.DocumentEvent event) {}

                @Override
                public CompletableFuture<?> onPossibleLoss() {
                  losses.incrementAndGet();
                  return null;
                }
              });
      s.ready().get(10, TimeUnit.SECONDS);
      broker.watchPath(
          () -> client.connectPubSub(ByteArrayCodec.INSTANCE, healthyUri),
          Duration.ofMillis(100),
          Duration.ofMillis(300),
          retired -> {
            moved.set(true);
            retired.closeAsync();
          });

      Conditions.await(
          "a possible loss told once the new connection confirms the channel",
          () -> losses.get() > 0,
          Duration.ofSeconds(10));
    } finally {
      oldClient.shutdown(Duration.ZERO, Duration.ofSeconds(2));
    }
  }

  /**
   * The watch's new connection may be to the hung node again (the topology does not list it failed
   * yet): its handshake goes unanswered, the connect times out (2 s, as the node's), and the watch
   * tries again at its next tick; a subscription made meanwhile is either failed (its device closed
   * 4005, bounded) or ready where it is heard.
   */
  @Test
  void aMoveThatWouldLandOnTheHungNodeAgainIsTriedAgain() throws Exception {
    client.setOptions(
        ClientOptions.builder()
            .socketOptions(RedisEngine.socketOptions())
            .protocolVersion(RedisEngine.PROTOCOL)
            .timeoutOptions(TimeoutOptions.enabled(RedisEngine.DEFAULT_COMMAND_TIMEOUT))
            .build());
    RedisURI hungUri = RedisURI.create(hung.url());
    RedisURI healthyUri = RedisURI.create(healthy.url());
    broker =
        new RedisBroker(
            client.connectPubSub(ByteArrayCodec.INSTANCE, hungUri),
            client.connect(ByteArrayCodec.INSTANCE, healthyUri).async(),
            new RedisKeys("test-" + UUID.randomUUID() + ":"),
            client.getResources().eventExecutorGroup());
    hung.pause();
    AtomicInteger opened = new AtomicInteger();
    broker.watchPath(
        // A second, not the node's 4: an open that times out is tried again at the next tick.
        () ->
            NodePubSub.open(
                client,
                opened.getAndIncrement() == 0 ? hungUri : healthyUri,
                Duration.ofSeconds(1)),
        Duration.ofMillis(100),
        Duration.ofMillis(300));

    HeardSignals listener = new HeardSignals();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
    while (true) {
      assertTrue(System.nanoTime() < deadline, "no subscription ready within 15 s");
      Broker.Subscription s = broker.subscribe("u", listener);
      try {
        s.ready().get(5, TimeUnit.SECONDS);
        break;
      } catch (ExecutionException failedOnTheHungNode) {
        s.close();
      }
    }
    assertTrue(opened.get() >= 2, "tried again after the hung node: " + opened.get() + " opened");
    broker.signal("u", UserSignal.newBuilder().setOriginNode("elsewhere").build());
    assertTrue(listener.signals.tryAcquire(10, TimeUnit.SECONDS), "heard on the healthy node");
  }
}
