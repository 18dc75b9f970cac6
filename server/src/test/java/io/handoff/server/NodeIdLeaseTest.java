package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.Ping;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.server.HandoffMultiNodeTest.Inbox;
import io.handoff.server.engine.NodeIdInUseException;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.redis.RedisEngine;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.sync.RedisCommands;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Two processes started with one {@code --node-id} on one Redis would take each other's devices'
 * signals for their own: a device moving from one to the other keeps its stale connection open (the
 * online signal from "the same node" is ignored, so nothing is closed with REPLACED), and the old
 * connection's close clears the session's {@code node} though the device is connected on the other.
 * So a node claims its id with a lease in Redis before it serves: the second process with the id
 * refuses to start, while a node killed and restarted at once takes its id back once the dead
 * process's lease lapses, and a Redis outage never makes a node think its id was taken.
 */
class NodeIdLeaseTest {
  private static final Duration BOUND = Duration.ofSeconds(30);
  private static final String SECRET = "s".repeat(40);

  private final Nodes nodes = new Nodes();

  @RegisterExtension
  final CapturedLog said = new CapturedLog("io.handoff.server.engine.redis.NodeLease");

  @AfterEach
  void stop() {
    nodes.close();
  }

  private static StoreLimits lease(Duration time) {
    return StoreLimits.builder().nodeLease(time).build();
  }

  private RedisEngine engine(String url, StoreLimits limits) {
    return nodes.add(RedisEngine.connect(url, nodes.prefix, limits));
  }

  private static ServerConfig config(String nodeId) {
    return ServerConfig.builder()
        .host("127.0.0.1")
        .port(0)
        .nodeId(nodeId)
        .jwtSecret(TestServer.SECRET)
        .build();
  }

  private boolean logged(String fragment) {
    return said.events().stream().anyMatch(e -> e.getFormattedMessage().contains(fragment));
  }

  private void servesDevices(HandoffServer node) {
    TestDevice d =
        nodes.add(TestDevice.connect(node.port(), TestServer.token("u-" + UUID.randomUUID(), "p")));
    Inbox inbox = new Inbox(d);
    inbox.hello();
    long ping = d.send(ClientFrame.newBuilder().setPing(Ping.newBuilder()));
    inbox.await(f -> f.hasPong() && f.getRequestId() == ping);
  }

  @Test
  void aSecondNodeWithTheIdOfARunningOneRefusesToStart() throws Exception {
    String url = RedisProcess.sharedUrl();
    HandoffServer first = nodes.redis(url, "same");
    RedisEngine second = engine(url, StoreLimits.builder().build());

    NodeIdInUseException refused =
        assertThrows(
            NodeIdInUseException.class,
            () -> nodes.add(HandoffServer.start(config("same"), second)));
    assertTrue(refused.getMessage().contains("node id same is in use"), refused.getMessage());
    // The first goes on as before, its id still its own.
    servesDevices(first);
    assertTrue(((RedisEngine) first.engine()).holdsNode("same"));
    // Another id on the same engine is no trouble.
    servesDevices(nodes.add(HandoffServer.start(config("other"), second)));
  }

  @Test
  void aNodeStoppedCleanlyGivesItsIdBackAtOnce() throws Exception {
    String url = RedisProcess.sharedUrl();
    // A lease far longer than the test: only the release lets the second start.
    RedisEngine engine = engine(url, lease(Duration.ofMinutes(10)));
    HandoffServer first = HandoffServer.start(config("handed"), engine);
    first.close();
    HandoffServer second =
        nodes.add(
            HandoffServer.start(config("handed"), engine(url, lease(Duration.ofMinutes(10)))));
    servesDevices(second);
  }

  @Test
  void theLauncherRefusesASecondNodeWithOneLineAndExitCode2() throws Exception {
    String url = RedisProcess.sharedUrl();
    nodes.redis(url, "launched");
    StringWriter err = new StringWriter();
    CompletableFuture<Integer> exit = launch("launched", url, err);
    assertStoppedInOneLineForIdInUse(exit, err, "launched");
  }

  /**
   * A node killed with SIGKILL and started again at once with its id (a Kubernetes restart): the
   * dead process's lease is still in Redis, and no one renews it. The new process waits for it to
   * lapse, within the lease's time, says so, and serves.
   */
  @Test
  @Tag("fault") // A launcher JVM killed and a lease left to lapse: 10-15 s, in the fault suite.
  void aNodeKilledAndRestartedAtOnceTakesItsIdBackWhenTheDeadOnesLeaseLapses() throws Exception {
    String url = RedisProcess.sharedUrl();
    Process p =
        LauncherProcess.start(
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--node-id",
            "restarted",
            "--redis-url",
            url,
            "--redis-prefix",
            nodes.prefix,
            "--jwt-secret",
            SECRET);
    List<String> output = new ArrayList<>();
    try (BufferedReader out =
        new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
      String line;
      boolean listening = false;
      while (!listening && (line = out.readLine()) != null) {
        output.add(line);
        listening = line.contains("Handoff node restarted on port");
      }
      assertTrue(listening, "the first process started: " + output);
    } finally {
      p.destroyForcibly(); // SIGKILL: no shutdown hook, the lease is not given back
      assertTrue(p.waitFor(30, TimeUnit.SECONDS), "the process ended");
    }

    HandoffServer again = nodes.redis(url, "restarted");

    assertTrue(logged("is held by another process"), "it said it waits: " + said);
    assertTrue(logged("lapsed unrenewed"), "it said it took the id over: " + said);
    servesDevices(again);
  }

  /**
   * Redis away for longer than the lease, and back without the key (not persisted): the renewals
   * Redis did not answer are no sign of another holder, and the first one answered claims the id
   * again, so a second process with the id is still refused.
   */
  @Test
  void aRedisOutageIsNotTakenForAnotherHolder() throws Exception {
    try (RedisProcess redis = RedisProcess.start(List.of("save \"\""))) {
      RedisEngine engine = engine(redis.url(), lease(Duration.ofMillis(500)));
      HandoffServer node = nodes.add(HandoffServer.start(config("steady"), engine));
      Conditions.await("Redis is up", engine::healthy, BOUND);

      redis.stop();
      Conditions.await("the node sees Redis gone", () -> !engine.healthy(), BOUND);
      assertTrue(engine.holdsNode("steady"), "no answer is no other holder");
      redis.startAgain();
      Conditions.await("the node sees Redis back", engine::healthy, BOUND);

      awaitTheLeaseClaimedAgain(redis.url(), engine);
      assertFalse(logged("two nodes run with this id"), said.toString());
      assertASecondNodeIsRefused(redis.url());
      servesDevices(node);
      nodes.close(); // while this Redis runs
    }
  }

  /**
   * Redis wiped ({@code FLUSHALL}) while the node runs: the next renewal finds the lease gone and
   * claims it again, so the node stays ready and a second process with the id is still refused.
   */
  @Test
  void aWipedRedisHasTheLeaseClaimedAgainAtTheNextRenewal() throws Exception {
    try (RedisProcess redis = RedisProcess.start()) {
      RedisEngine engine = engine(redis.url(), lease(Duration.ofMillis(500)));
      HandoffServer node = nodes.add(HandoffServer.start(config("steady"), engine));
      try (RedisClient client = RedisClient.create(redis.url());
          StatefulRedisConnection<String, String> c = client.connect()) {
        c.sync().flushall();
      }
      awaitTheLeaseClaimedAgain(redis.url(), engine);
      Conditions.await("ready", () -> node.readiness().problem() == null, BOUND);
      assertASecondNodeIsRefused(redis.url());
      servesDevices(node);
      assertFalse(node.stoppedForTakenId().isDone());
      nodes.close(); // while this Redis runs
    }
  }

  /**
   * The lease found holding another token that no one renews (a Redis failover or a restart from an
   * older snapshot brought back the lease of the process that ran the id before): the node is not
   * ready while it lasts, says so, and neither takes the other's lease nor stops; once the key is
   * free it claims the id again and is ready.
   */
  @Test
  void aLeaseFoundHeldByATokenNoOneRenewsMakesTheNodeUnreadyUntilItIsFree() throws Exception {
    String url = RedisProcess.sharedUrl();
    RedisEngine engine = engine(url, lease(Duration.ofMillis(500)));
    HandoffServer node = nodes.add(HandoffServer.start(config("taken"), engine));
    Conditions.await("ready", () -> node.readiness().problem() == null, BOUND);
    try (RedisClient client = RedisClient.create(url);
        StatefulRedisConnection<String, String> c = client.connect()) {
      RedisCommands<String, String> raw = c.sync();
      String key = nodes.prefix + "{node:taken}:lease";
      assertNotNull(raw.get(key), "the lease is the key the docs name");
      raw.set(key, "another-process", io.lettuce.core.SetArgs.Builder.px(60_000));
      Conditions.await("the holder notices", () -> !engine.holdsNode("taken"), BOUND);
      assertEquals("node id held by another process", node.readiness().problem());
      // The node marks the lease contested before it logs so: the line may follow the flag.
      Conditions.await("it says so", () -> logged("is held by another process"), BOUND);
      assertEquals("another-process", raw.get(key), "it does not overwrite the other's lease");
      raw.del(key);
      Conditions.await("the holder has it again", () -> engine.holdsNode("taken"), BOUND);
      assertFalse("another-process".equals(raw.get(key)));
      assertEquals(null, node.readiness().problem());
      assertFalse(logged("two nodes run with this id"), said.toString());
      assertFalse(node.stoppedForTakenId().isDone());
      servesDevices(node);
    }
  }

  /**
   * Redis answers the node's PINGs but not its lease renewals as held (here: an ACL refuses the
   * renewal script to the node's user; after an outage longer than the lease, the first PING
   * answered comes up to a renewal period before the first renewal): the node's lease lapses and
   * another process claims the id meanwhile. The store is up, and no renewal found the other's
   * token yet, but the node is not ready once no renewal confirmed its lease within the lease's
   * time, so a load balancer sends it no devices while the id may be another's. When a renewal is
   * answered again, it finds the other process renewing the id, and the node drains.
   */
  @Test
  void aNodeWhoseLeaseRenewalsGoUnconfirmedIsNotReadyOnceTheLeaseMayHaveLapsed() throws Exception {
    try (RedisProcess redis = RedisProcess.start();
        RedisClient client = RedisClient.create(redis.url());
        StatefulRedisConnection<String, String> admin = client.connect()) {
      StoreLimits limits = lease(Duration.ofMillis(500));
      RedisEngine engine = engine(redis.url(), limits);
      HandoffServer first = nodes.add(HandoffServer.start(config("acl"), engine));
      Conditions.await("ready", () -> first.readiness().problem() == null, BOUND);
      acl(admin, "SETUSER", "other", "on", ">other-secret", "~*", "&*", "+@all");

      acl(admin, "SETUSER", "default", "-eval", "-evalsha");
      Conditions.await(
          "the lease lapsed unrenewed", () -> leaseIn(redis.url(), "acl") == null, BOUND);
      HandoffServer second =
          nodes.add(
              HandoffServer.start(
                  config("acl"),
                  engine(
                      "redis://other:other-secret@127.0.0.1:" + redis.url().split(":")[2],
                      limits)));
      assertTrue(engine.healthy(), "Redis answers the first node's PINGs");
      assertTrue(engine.holdsNode("acl"), "no renewal of the first node found the other's token");
      assertEquals("node id lease not confirmed", first.readiness().problem());
      assertEquals(null, second.readiness().problem());

      acl(admin, "SETUSER", "default", "+eval", "+evalsha");
      NodeIdInUseException why = first.stoppedForTakenId().get(BOUND.toSeconds(), TimeUnit.SECONDS);
      assertTrue(why.getMessage().contains("node id acl is in use"), why.getMessage());
      servesDevices(second);
      nodes.close(); // while this Redis runs
    }
  }

  private static void acl(StatefulRedisConnection<String, String> c, String... args) {
    io.lettuce.core.protocol.CommandArgs<String, String> a =
        new io.lettuce.core.protocol.CommandArgs<>(io.lettuce.core.codec.StringCodec.UTF8);
    for (String s : args) {
      a.add(s);
    }
    c.sync()
        .dispatch(
            io.lettuce.core.protocol.CommandType.ACL,
            new io.lettuce.core.output.StatusOutput<>(io.lettuce.core.codec.StringCodec.UTF8),
            a);
  }

  /**
   * A node cut off from Redis for longer than its lease while another process started with its id:
   * when it reaches Redis again it finds a live process renewing the lease. Two nodes with one id
   * must not go on serving side by side, so the one that lost the id turns {@code /readyz} 503 with
   * the reason, counts it in a metric and drains (its devices told to reconnect elsewhere), while
   * the process that holds the id goes on.
   */
  @Test
  void aNodeWhoseIdWasTakenWhileItWasCutOffFromRedisGoesUnreadyAndDrains() throws Exception {
    String url = RedisProcess.sharedUrl();
    ChaosProxy link = nodes.add(new ChaosProxy(Integer.parseInt(url.split(":")[2])));
    StoreLimits limits = lease(Duration.ofMillis(500));
    RedisEngine cutOff = engine("redis://127.0.0.1:" + link.port(), limits);
    HandoffServer first =
        nodes.add(
            HandoffServer.start(
                ServerConfig.builder()
                    .host("127.0.0.1")
                    .port(0)
                    .admin("127.0.0.1", 0)
                    .nodeId("split")
                    .jwtSecret(TestServer.SECRET)
                    // The device below does not answer the close: the drain waits for it.
                    .closeTimeout(Duration.ofSeconds(60))
                    .build(),
                cutOff));
    RawSocket device =
        nodes.add(
            RawSocket.connect(first.port(), TestServer.token("u-" + UUID.randomUUID(), "p"), 0));
    device.setReadTimeout(BOUND);
    device.send(
        ClientFrame.newBuilder()
            .setRequestId(1)
            .setHello(io.handoff.protocol.v1.Hello.getDefaultInstance())
            .build());
    assertTrue(device.readFrame().hasWelcome(), "the device is online");

    cutOffUntilTheLeaseLapses(link, url, "split");
    HandoffServer second = nodes.add(HandoffServer.start(config("split"), engine(url, limits)));
    reconnect(link);

    ServerFrame f;
    while (!(f = device.readFrame()).hasDisconnect()) {
      // Whatever the node sent before it drained.
    }
    assertEquals(CloseCode.SHUTDOWN.code(), f.getDisconnect().getCode(), f.toString());
    // Draining (the device has not answered the close): not ready, and why.
    HttpApi admin = new HttpApi(first.adminPort());
    HttpApi.Answer ready = admin.get("/readyz", null);
    assertEquals(503, ready.status(), ready.toString());
    assertTrue(ready.body().contains("not ready: node id taken"), ready.toString());
    HttpApi.Answer metrics = admin.get("/metrics", null);
    assertTrue(
        metrics.body().lines().anyMatch(l -> l.matches("handoff_node_id_taken\\{.*} 1(\\.0)?")),
        metrics.body());
    Conditions.await(
        "it says two nodes run with its id", () -> logged("two nodes run with this id"), BOUND);
    device.close();
    NodeIdInUseException why = first.stoppedForTakenId().get(BOUND.toSeconds(), TimeUnit.SECONDS);
    assertTrue(why.getMessage().contains("node id split is in use"), why.getMessage());

    // The other process keeps the id, and serves; it learns the loser ran with its id.
    servesDevices(second);
    assertTrue(((RedisEngine) second.engine()).holdsNode("split"));
    assertFalse(cutOff.holdsNode("split"));
    Conditions.await(
        "the holder counts the loser",
        () -> second.engine().nodeClaimsRefused("split") == 1,
        BOUND);
  }

  /**
   * The launcher of a node whose id another process took while it was cut off from Redis: it
   * drains, stops, and exits with code 2 and one line, as a second node refused at start does, so
   * that its supervisor sees it and restarts it (and the restart is refused while the other runs).
   */
  @Test
  @Tag("fault") // The default 10 s lease left to lapse: 15-20 s, in the fault suite.
  void theLauncherOfANodeWhoseIdWasTakenStopsWithOneLineAndExitCode2() throws Exception {
    String url = RedisProcess.sharedUrl();
    ChaosProxy link = nodes.add(new ChaosProxy(Integer.parseInt(url.split(":")[2])));
    StringWriter err = new StringWriter();
    CompletableFuture<Integer> exit = launch("cut-off", "redis://127.0.0.1:" + link.port(), err);
    Conditions.await(
        "the launcher's node holds its id",
        () -> leaseIn(url, "cut-off") != null,
        BOUND,
        Duration.ofMillis(20));

    cutOffUntilTheLeaseLapses(link, url, "cut-off");
    HandoffServer other = nodes.redis(url, "cut-off");
    reconnect(link);

    assertStoppedInOneLineForIdInUse(exit, err, "cut-off");
    servesDevices(other);
  }

  /** On a Redis Cluster the lease is one key in the slot of its own hash tag. */
  @Test
  void aSecondNodeWithTheIdOfARunningOneRefusesToStartOnACluster() throws Exception {
    List<String> seeds = RedisClusterProcess.sharedSeeds();
    nodes.cluster(seeds, "clustered", lease(Duration.ofSeconds(2)));
    RedisEngine second =
        nodes.add(RedisEngine.connectCluster(seeds, nodes.prefix, lease(Duration.ofSeconds(2))));
    assertThrows(
        NodeIdInUseException.class,
        () -> nodes.add(HandoffServer.start(config("clustered"), second)));
  }

  /**
   * Runs the launcher as {@code main} does, for a node {@code nodeId} on the Redis at {@code
   * redisUrl}, on another thread: what it says on standard error goes to {@code err}.
   */
  private CompletableFuture<Integer> launch(String nodeId, String redisUrl, StringWriter err) {
    String[] args = {
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      "--node-id",
      nodeId,
      "--redis-url",
      redisUrl,
      "--redis-prefix",
      nodes.prefix
    };
    return CompletableFuture.supplyAsync(
        () ->
            Main.run(
                args,
                Map.of("HANDOFF_JWT_SECRET", SECRET),
                new PrintWriter(new StringWriter(), true),
                new PrintWriter(err, true)));
  }

  /**
   * The launcher returns exit code 2, having said in one line, with no stack trace, that another
   * running node has {@code nodeId} and that every node needs its own.
   */
  private static void assertStoppedInOneLineForIdInUse(
      CompletableFuture<Integer> exit, StringWriter err, String nodeId) throws Exception {
    Conditions.await("the launcher returned", exit::isDone, BOUND, Duration.ofMillis(20));
    String line = err.toString();
    assertEquals(2, exit.get(), line);
    assertEquals(1, line.strip().lines().count(), line);
    assertTrue(line.contains("node id " + nodeId + " is in use by another running node"), line);
    assertTrue(line.contains("give every node its own --node-id"), line);
    assertFalse(line.contains("Exception") || line.contains("\tat "), line);
  }

  /**
   * Cuts the node behind {@code link} off from Redis, as a partition does (no new connection, the
   * open ones silent both ways), until its lease of {@code nodeId} lapsed unrenewed.
   */
  private void cutOffUntilTheLeaseLapses(ChaosProxy link, String url, String nodeId) {
    link.refuseNew(true);
    link.freezeOpenConnections();
    Conditions.await(
        "the lease of " + nodeId + " lapsed",
        () -> leaseIn(url, nodeId) == null,
        BOUND,
        Duration.ofMillis(20));
  }

  /** Ends the partition: the node behind {@code link} reconnects, and renews its lease again. */
  private static void reconnect(ChaosProxy link) {
    link.refuseNew(false);
    link.cutAll();
  }

  /**
   * The node "steady" on {@code engine}, its lease gone from the Redis at {@code url}, says so and
   * claims its id again.
   */
  private void awaitTheLeaseClaimedAgain(String url, RedisEngine engine) {
    Conditions.await(
        "the lease is claimed again",
        () -> logged("its lease was gone") && leaseIn(url, "steady") != null,
        BOUND,
        Duration.ofMillis(20));
    assertTrue(engine.holdsNode("steady"));
  }

  /** A second node "steady" on the Redis at {@code url} refuses to start. */
  private void assertASecondNodeIsRefused(String url) {
    assertThrows(
        NodeIdInUseException.class,
        () ->
            nodes.add(
                HandoffServer.start(config("steady"), engine(url, lease(Duration.ofMillis(500))))));
  }

  private String leaseIn(String url, String nodeId) {
    try (RedisClient client = RedisClient.create(url);
        StatefulRedisConnection<String, String> c = client.connect()) {
      return c.sync().get(nodes.prefix + "{node:" + nodeId + "}:lease");
    }
  }
}
