package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.client.ConnectionState;
import io.handoff.client.HandoffClient;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.redis.RedisBroker;
import io.handoff.server.engine.redis.RedisEngine;
import io.handoff.server.sync.WriteOutcome;
import io.lettuce.core.KillArgs;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import io.netty.channel.EventLoopGroup;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.IntSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * A node's sessions re-read their documents after the broker may have lost events, and each re-read
 * goes to Redis: a node with thousands of users told all at once would queue them all behind each
 * other and the devices' own commands. So it tells them paced, 256 users at a time, the next only
 * once those re-reads were answered and at least 50 ms later (docs/redis.md), whatever made it:
 * Lettuce subscribing every channel again at once after Redis dropped the node's pub/sub
 * connections, or a failover seen in a Redis Cluster's topology; on real Redis processes, with a
 * node holding 1,500 users (the fault suite) or 300 (the default run, counts only).
 */
class PossibleLossPacingTest {
  private static final int USERS = 1500;
  // RedisBroker's pacing, as docs/redis.md gives it.
  private static final int BATCH = 256;
  private static final long PAUSE_NANOS = TimeUnit.MILLISECONDS.toNanos(50);
  // How much later than the pace the test's listener may read the clock for a batch's first user.
  private static final long READ_LAG_NANOS = TimeUnit.MILLISECONDS.toNanos(10);

  private final Nodes nodes = new Nodes();

  @AfterEach
  void tearDown() {
    nodes.close();
  }

  /**
   * Every channel on the node's shared pub/sub connection ({@code --redis-on-loops} off): Lettuce
   * subscribes them again in one command, and Redis confirms them all in one answer. (On the loops'
   * connections the confirmations come per loop, read between the loops' other work.)
   */
  @Test
  @Tag("fault") // 1,500 users, 10-15 s.
  void aResubscriptionOfEveryChannelTellsTheSessionsPacedNotAllAtOnce() throws Exception {
    String url = RedisProcess.sharedUrl();
    StoreLimits limits = StoreLimits.builder().build();
    GatedEngine gated = new GatedEngine(RedisEngine.connect(url, nodes.prefix, limits));
    connectUsers(gated, b -> b.storeLimits(limits).redisOnLoops(false));

    RedisClient admin = RedisClient.create(url);
    nodes.add(admin::shutdown);
    try (StatefulRedisConnection<String, String> c = admin.connect()) {
      c.sync().clientKill(KillArgs.Builder.typePubsub());
    }
    assertToldPaced(gated, "a resubscription");
  }

  /**
   * A failover in a Redis Cluster (a replica promoted by {@code CLUSTER FAILOVER}, which drops no
   * connection) is seen in the topology, and every session of the node re-reads.
   */
  @Test
  @Tag("fault") // 1,500 users on a fresh six-process Cluster: under the full suite's load their
  // subscriptions time out and the node sees losses of its own before the failover.
  void aClusterFailoverTellsTheSessionsPacedNotAllAtOnce() throws Exception {
    ReplicatedCluster cluster = nodes.add(ReplicatedCluster.start());
    StoreLimits limits = StoreLimits.builder().build();
    GatedEngine gated =
        new GatedEngine(RedisEngine.connectCluster(cluster.seeds(), nodes.prefix, limits));
    connectUsers(gated, b -> b.storeLimits(limits));

    ReplicatedCluster.Instance master = cluster.masterOf(0);
    ReplicatedCluster.Instance replica = cluster.replicaOf(master);
    cluster.call(replica, r -> r.clusterFailover(false));
    assertToldPaced(gated, "a failover");
  }

  /**
   * The pace spaces out when users are told, and also how many re-reads wait in Redis at once: it
   * tells the next batch only once the store answered the re-reads of the one before. With the
   * store's reads unanswered (held in front of a real Redis, as a Redis slow to answer holds them),
   * a node of 300 users tells at most 256 and waits; once the reads are answered it tells the
   * others, never more than 256 re-checking at once, every user's re-check completes, and a write
   * made meanwhile reaches every device. No timing is asserted: only counts, so it runs in the
   * default suite.
   */
  @Test
  void whileTheStoreDoesNotAnswerNoMoreThanOneBatchOfUsersRereadsAndEveryUserIsReread()
      throws Exception {
    int users = BATCH + 44;
    String url = RedisProcess.sharedUrl();
    String name = "pace-" + UUID.randomUUID();
    StoreLimits limits = StoreLimits.builder().build();
    RedisEngine engine = RedisEngine.connect(url + "?clientName=" + name, nodes.prefix, limits);
    GatedEngine gated = new GatedEngine(engine);
    // A document to follow, so that every session re-reads it (a cursor each).
    writeEveryCart(engine, users, 1);
    List<HandoffClient> clients =
        connectUsers(gated, users, "light", b -> b.storeLimits(limits).redisOnLoops(false));
    Conditions.await(
        "every device has the first version",
        () -> clients.stream().allMatch(c -> c.lastVersion("cart") == 1),
        Duration.ofSeconds(30));
    assertEquals(0, gated.possibleLosses());

    gated.holdReads();
    killPubSub(url, name);
    RedisBroker broker = engine.broker();
    assertPaceWaits(gated, broker, users, 0, gated::heldReads);

    // Written while the node's reads wait: every device must get it, by the stream or a re-read.
    writeEveryCart(engine, users, 2);
    gated.releaseReads();
    Conditions.await(
        "every user's re-check completed",
        () -> gated.rechecked() >= users,
        Duration.ofSeconds(30));
    assertEquals(users, gated.possibleLosses(), "every user told once");
    assertTrue(
        gated.peakRechecking() <= BATCH,
        gated.peakRechecking() + " users re-reading at once, over " + BATCH);
    Conditions.await(
        "every device has the second version",
        () -> clients.stream().allMatch(c -> c.lastVersion("cart") == 2),
        Duration.ofSeconds(30));
    assertEquals(0, broker.lossWaiting());

    // Again, with the re-read of the handoff state (activities, offers, presence) unanswered: the
    // pace waits for it too.
    gated.holdActivityReads();
    killPubSub(url, name);
    assertPaceWaits(gated, broker, users, users, gated::heldActivityReads);
    gated.releaseActivityReads();
    Conditions.await(
        "every user's second re-check completed",
        () -> gated.rechecked() >= 2 * users,
        Duration.ofSeconds(30));
    assertEquals(2 * users, gated.possibleLosses(), "every user told once more");
    assertTrue(
        gated.peakRechecking() <= BATCH,
        gated.peakRechecking() + " users re-reading at once, over " + BATCH);
    assertTrue(clients.stream().allMatch(c -> c.state() == ConnectionState.CONNECTED));
  }

  /** Drops the pub/sub connection of the node whose connections are named {@code name}. */
  private static void killPubSub(String url, String name) {
    RedisClient admin = RedisClient.create(url);
    try (StatefulRedisConnection<String, String> c = admin.connect()) {
      // Only this node's: the shared Redis serves other tests too.
      int killed = 0;
      for (String line : c.sync().clientList().split("\n")) {
        if (line.contains(" name=" + name + " ") && !line.contains(" sub=0 ")) {
          String id = line.substring(line.indexOf("id=") + 3, line.indexOf(' '));
          c.sync().clientKill(KillArgs.Builder.id(Long.parseLong(id)));
          killed++;
        }
      }
      assertEquals(1, killed, "the node's pub/sub connections");
    } finally {
      admin.shutdown();
    }
  }

  /**
   * Waits until every channel was confirmed again and the pace waits for the re-reads of the users
   * it told ({@code held}: the test holds their answers), or until every user was told since {@code
   * toldBefore}; then checks that fewer than all were told and no more than a batch re-reads.
   */
  private static void assertPaceWaits(
      GatedEngine gated, RedisBroker broker, int users, int toldBefore, IntSupplier held) {
    // Lettuce subscribes every channel again and Redis confirms them one by one: the pace tells
    // the users of those confirmed so far, and the rest wait until their re-reads are answered.
    Conditions.await(
        "every channel confirmed again and the pace waiting for re-reads (or every user told)",
        () -> {
          int told = gated.possibleLosses() - toldBefore;
          return told >= users
              || (told + broker.lossWaiting() == users
                  && broker.lossRereading() > 0
                  && gated.rechecking() == broker.lossRereading()
                  && held.getAsInt() >= gated.rechecking()
                  // Every document read the store has not answered is one the test holds.
                  && gated.readsInFlight() == gated.heldReads());
        },
        Duration.ofSeconds(30));
    String seen =
        (gated.possibleLosses() - toldBefore)
            + " users told, "
            + gated.rechecking()
            + " of them re-reading, "
            + held.getAsInt()
            + " reads unanswered, "
            + broker.lossWaiting()
            + " users waiting";
    assertTrue(gated.rechecking() <= BATCH, seen);
    assertTrue(
        gated.possibleLosses() - toldBefore < users,
        "told every user with reads unanswered: " + seen);
  }

  /** Writes version {@code seq} of the cart of users light0 to light{@code users - 1}. */
  private static void writeEveryCart(RedisEngine engine, int users, long seq) throws Exception {
    List<CompletableFuture<WriteOutcome>> writes = new ArrayList<>();
    for (int i = 0; i < users; i++) {
      writes.add(engine.store().write("light" + i, "seed", Writes.numbered("cart", seq)));
    }
    for (CompletableFuture<WriteOutcome> w : writes) {
      WriteOutcome out = w.get(30, TimeUnit.SECONDS);
      assertTrue(out.isApplied() && out.version() == seq, out.toString());
    }
  }

  /** A node on {@code gated} with a device of each of {@link #USERS} users, all welcomed. */
  private void connectUsers(GatedEngine gated, Consumer<ServerConfig.Builder> config)
      throws Exception {
    connectUsers(gated, USERS, "pace", config);
    assertEquals(0, gated.possibleLosses());
    gated.resetPeakReadsInFlight();
  }

  /** A node on {@code gated} with a device ("phone") of users {@code name}0 to n - 1, welcomed. */
  private List<HandoffClient> connectUsers(
      GatedEngine gated, int users, String name, Consumer<ServerConfig.Builder> config)
      throws Exception {
    HandoffServer node = nodes.start("a", gated, b -> config.accept(b.connectRatePerAddress(0, 1)));
    EventLoopGroup group = HandoffClient.newEventLoopGroup(2);
    nodes.add(() -> group.shutdownGracefully(0, 1, TimeUnit.SECONDS).await(10, TimeUnit.SECONDS));
    URI at = URI.create("ws://127.0.0.1:" + node.port() + "/ws");
    List<HandoffClient> clients = new ArrayList<>();
    for (int i = 0; i < users; i++) {
      HandoffClient c =
          HandoffClient.builder()
              .url(at)
              .token(TestServer.token(name + i, "phone"))
              .followDocuments("cart")
              .eventLoopGroup(group)
              .build();
      nodes.add(c);
      clients.add(c);
      c.connect();
    }
    // A Welcome comes only once the user's channel is subscribed, its first confirmation read.
    Conditions.await(
        "every device welcomed",
        () -> clients.stream().allMatch(c -> c.state() == ConnectionState.CONNECTED),
        Duration.ofSeconds(60));
    return clients;
  }

  /**
   * Waits until every user was told, and checks the pace: batch k starts at least k pauses after
   * the first. The pace reads its clock when it starts a batch, and the test's listener reads its
   * own as it is told each user: a user late in a batch is read as late as telling the users before
   * it took, so the tellings are measured from the very first, which may be read up to {@link
   * #READ_LAG_NANOS} after the pace read its clock (a thread preempted between the two reads).
   */
  private static void assertToldPaced(GatedEngine gated, String after) {
    Conditions.await(
        "every user told events may have been lost",
        () -> gated.possibleLosses() >= USERS,
        Duration.ofSeconds(60));
    List<Long> told = gated.possibleLossTimes();
    Collections.sort(told);
    String seen =
        told.size()
            + " tellings within "
            + TimeUnit.NANOSECONDS.toMillis(told.get(told.size() - 1) - told.get(0))
            + " ms; at most "
            + gated.peakReadsInFlight()
            + " store reads in flight at once, of "
            + USERS
            + " users";
    System.out.println("possible loss after " + after + ": " + seen);
    // Each user's re-read here is one listing of its documents (it follows none that exist): the
    // pace tells the next batch only once those of the batch before were answered.
    assertTrue(gated.peakReadsInFlight() <= BATCH, seen);
    // A batch holds at most 256 users and starts only after the re-reads of the one before were
    // answered, each after its user was told: in sorted order, telling k x 256 is in batch k or a
    // later one, told at least k pauses after the first batch.
    for (int k = 1; k * BATCH < told.size(); k++) {
      long apart = told.get(k * BATCH) - told.get(0);
      assertTrue(
          apart >= k * PAUSE_NANOS - READ_LAG_NANOS,
          "tellings 0 and " + (k * BATCH) + " " + apart / 1000 + " us apart: " + seen);
    }
  }
}
