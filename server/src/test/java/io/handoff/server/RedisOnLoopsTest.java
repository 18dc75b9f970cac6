package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.handoff.client.HandoffClient;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.redis.RedisEngine;
import io.handoff.server.transport.IoTransport;
import io.handoff.server.transport.TransportConfig;
import io.lettuce.core.KillArgs;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import io.netty.channel.EventLoop;
import io.netty.channel.epoll.Epoll;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * With a standalone Redis on epoll, each event loop of a node has its own Redis connection, which
 * carries both its commands and its subscriptions: a user's channel is read by the loop that serves
 * the user's connections, and a write fans out across nodes whole and in order, also after the node
 * that bound its loops stops and another starts on the same engine. Without them (the option off,
 * or loops of another transport) the shared connections carry everything, as before.
 */
class RedisOnLoopsTest {
  private static final int USERS = 4;
  private static final int WRITES = 40;

  private final Nodes nodes = new Nodes();

  @AfterEach
  void stop() {
    nodes.close();
  }

  @Test
  void eachUsersChannelIsReadByTheLoopOfItsConnectionsAndCarriesEveryVersionInOrder()
      throws Exception {
    for (HandoffServer n : twoNodesOnLoopsAfterAFanOut()) {
      for (int u = 0; u < USERS; u++) {
        String user = "user" + u;
        List<EventLoop> served = n.hub().loopsOf(user);
        assertFalse(served.isEmpty(), user + " has sessions on " + n.config().nodeId());
        assertEquals(
            served.get(0),
            ((RedisEngine) n.engine()).subscriberLoop(user),
            user + "'s channel on " + n.config().nodeId() + " is read by the loop serving it");
      }
    }
  }

  @Test
  void aLoopsOneConnectionCarriesBothItsScriptsAndItsChannelsAndComesBackWhenKilled()
      throws Exception {
    List<HandoffServer> both = twoNodesOnLoopsAfterAFanOut();
    RedisClient admin = RedisClient.create(RedisProcess.sharedUrl());
    nodes.add(admin::shutdown);
    try (StatefulRedisConnection<String, String> c = admin.connect()) {
      // Over RESP2 a connection with subscriptions may send no script; a loop's connection does.
      boolean scriptsAndChannels = false;
      for (String client : c.sync().clientList().split("\n")) {
        scriptsAndChannels |= !client.contains(" sub=0 ") && client.contains(" cmd=evalsha ");
      }
      assertTrue(scriptsAndChannels, "a connection with subscriptions last ran a script");
      assertTrue(c.sync().clientKill(KillArgs.Builder.typePubsub()) >= 2, "the loops' connections");
    }
    // Each reconnects, subscribes its channels again and carries the next writes and their fan-out.
    fanOutAcross(both.get(0), both.get(1));
  }

  /**
   * Two nodes on the shared Redis with their loops bound, after one fan-out across them (epoll).
   */
  private List<HandoffServer> twoNodesOnLoopsAfterAFanOut() throws Exception {
    assumeTrue(Epoll.isAvailable(), "epoll is not offered here");
    String redis = RedisProcess.sharedUrl();
    HandoffServer n1 = nodes.redis(redis, "n1", Clock.systemUTC(), b -> {});
    HandoffServer n2 = nodes.redis(redis, "n2", Clock.systemUTC(), b -> {});
    fanOutAcross(n1, n2);
    return List.of(n1, n2);
  }

  @Test
  void withTheOptionOffTheSharedConnectionsCarryEverything() throws Exception {
    sharedOnly(b -> b.redisOnLoops(false));
  }

  @Test
  void loopsOfAnotherTransportThanRedisesKeepTheSharedConnections() throws Exception {
    // Lettuce's channels are epoll's here; they cannot be registered with NIO loops.
    sharedOnly(b -> b.transport(TransportConfig.builder().ioTransport(IoTransport.NIO).build()));
  }

  @Test
  void aNodeStartedOnTheEngineOfOneThatStoppedBindsItsOwnLoops() throws Exception {
    assumeTrue(Epoll.isAvailable(), "epoll is not offered here");
    String redis = RedisProcess.sharedUrl();
    RedisEngine engine =
        nodes.add(RedisEngine.connect(redis, nodes.prefix, StoreLimits.builder().build()));
    HandoffServer other = nodes.redis(redis, "other", Clock.systemUTC(), b -> {});
    ServerConfig config =
        ServerConfig.builder()
            .host("127.0.0.1")
            .port(0)
            .nodeId("first")
            .jwtSecret(TestServer.SECRET)
            .build();
    HandoffServer first = HandoffServer.start(config, engine);
    try {
      fanOutAcross(first, other);
    } finally {
      first.close();
    }
    assertNull(engine.subscriberLoop("user0"), "the stopped node's channels are forgotten");
    HandoffServer crashed = HandoffServer.start(config, engine);
    fanOutAcross(crashed, other);
    crashed.abort();
    HandoffServer second = nodes.add(HandoffServer.start(config, engine));
    fanOutAcross(second, other);
    assertEquals(
        second.hub().loopsOf("user0").get(0),
        engine.subscriberLoop("user0"),
        "the new node's loop reads user0's channel");
  }

  private void sharedOnly(Consumer<ServerConfig.Builder> config) throws Exception {
    String redis = RedisProcess.sharedUrl();
    HandoffServer n1 = nodes.redis(redis, "n1", Clock.systemUTC(), config);
    HandoffServer n2 = nodes.redis(redis, "n2", Clock.systemUTC(), config);
    fanOutAcross(n1, n2);
    for (HandoffServer n : List.of(n1, n2)) {
      for (int u = 0; u < USERS; u++) {
        assertNull(((RedisEngine) n.engine()).subscriberLoop("user" + u));
      }
    }
  }

  /**
   * Each user has a writer on {@code a} and a reader on each node; every reader gets every version
   * the writer was acked, in order. The clients stay connected (closed with the nodes).
   */
  private void fanOutAcross(HandoffServer a, HandoffServer b) throws Exception {
    List<HandoffClient> writers = new ArrayList<>();
    List<HandoffClient> readers = new ArrayList<>();
    List<ClientEndToEndTest.Recorder> recorders = new ArrayList<>();
    String run = Long.toString(System.nanoTime(), 36);
    List<CompletableFuture<Void>> connects = new ArrayList<>();
    for (int u = 0; u < USERS; u++) {
      String user = "user" + u;
      writers.add(client(a, user, "writer-" + run, new ClientEndToEndTest.Recorder(), connects));
      for (HandoffServer n : List.of(a, b)) {
        ClientEndToEndTest.Recorder r = new ClientEndToEndTest.Recorder();
        readers.add(client(n, user, "reader-" + n.config().nodeId() + "-" + run, r, connects));
        recorders.add(r);
      }
    }
    Nodes.connected(connects);
    List<CompletableFuture<Long>> acks = new ArrayList<>();
    for (int i = 1; i <= WRITES; i++) {
      for (HandoffClient w : writers) {
        acks.add(w.document("player").set("position", ("t" + i).getBytes(StandardCharsets.UTF_8)));
      }
    }
    for (CompletableFuture<Long> ack : acks) {
      ack.get(10, TimeUnit.SECONDS);
    }
    for (int i = 0; i < readers.size(); i++) {
      HandoffClient reader = readers.get(i);
      ClientEndToEndTest.Recorder r = recorders.get(i);
      long last = writers.get(i / 2).document("player").version();
      r.awaitVersion(reader, "player", last);
      List<Long> seen = r.versions("player");
      List<Long> expected = new ArrayList<>();
      for (long v = last - WRITES + 1; v <= last; v++) {
        expected.add(v);
      }
      assertEquals(
          expected,
          seen.subList(seen.size() - WRITES, seen.size()),
          "reader " + i + " got the last " + WRITES + " versions once each, in order");
    }
  }

  private HandoffClient client(
      HandoffServer node,
      String user,
      String device,
      ClientEndToEndTest.Recorder r,
      List<CompletableFuture<Void>> connects) {
    return nodes.connecting("ws://127.0.0.1:" + node.port() + "/ws", user, device, r, connects);
  }
}
