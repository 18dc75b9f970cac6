package io.handoff.server;

import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisCommandExecutionException;
import io.lettuce.core.RedisURI;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.cluster.RedisClusterClient;
import io.lettuce.core.cluster.SlotHash;
import io.lettuce.core.cluster.models.partitions.Partitions;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import redis.embedded.RedisShardedCluster;
import redis.embedded.core.RedisServerBuilder;

/**
 * A real Redis Cluster for tests: three primary shards, each a Redis process from the binary that
 * embedded-redis ships, joined with CLUSTER MEET and the 16384 slots split between them. One per
 * JVM, started on first use or as the JVM's tests begin ({@link SharedClusterHeadStart}). {@code
 * REDIS_CLUSTER_URL} (comma-separated seeds) overrides it.
 */
public final class RedisClusterProcess {
  private static final int SHARDS = 3;
  private static CompletableFuture<Private> shared;
  private static final Set<Integer> handedOut = new HashSet<>(); // by freePorts, in this JVM

  private RedisClusterProcess() {}

  /** Seed URLs of the cluster every test may share; tests keep apart by key prefix. */
  public static List<String> sharedSeeds() {
    String env = System.getenv("REDIS_CLUSTER_URL");
    if (env != null && !env.isBlank()) {
      return List.of(env.split(","));
    }
    try {
      return sharedStart().join().seeds();
    } catch (CompletionException e) {
      if (e.getCause() instanceof RuntimeException r) {
        throw r;
      }
      throw e;
    }
  }

  /**
   * Starts the shared Cluster on a thread of its own, unless it is started or {@code
   * REDIS_CLUSTER_URL} names one. Its start is mostly waiting (a Cluster master calls its state ok
   * no sooner than two seconds after it started), which then passes beside the JVM's first tests
   * instead of inside the first test that needs the Cluster ({@link SharedClusterHeadStart}).
   */
  static void headStart() {
    String env = System.getenv("REDIS_CLUSTER_URL");
    if (env == null || env.isBlank()) {
      sharedStart();
    }
  }

  /**
   * The shared Cluster's start, begun now if none was, or if the one begun failed. It is stopped as
   * the JVM exits, once started, and its directory deleted. A JVM that exits while it starts (a
   * short run) interrupts the start, which stops the nodes it started and deletes their directory,
   * and waits for that (daemon threads run on through the shutdown hooks), so that no process of it
   * outlives the run; waiting for the start instead outlasted the 30 s surefire gives a fork's exit
   * before it halts the JVM.
   */
  private static synchronized CompletableFuture<Private> sharedStart() {
    if (shared == null || shared.isCompletedExceptionally()) {
      Thread[] starter = new Thread[1];
      CompletableFuture<Private> started =
          CompletableFuture.supplyAsync(
              () -> startCluster(0, false),
              r -> {
                starter[0] = new Thread(r, "shared-redis-cluster-start");
                starter[0].setDaemon(true);
                starter[0].start();
              });
      Runtime.getRuntime()
          .addShutdownHook(
              new Thread(
                  () -> {
                    if (!started.isDone()) {
                      starter[0].interrupt();
                    }
                    try {
                      started.get(20, TimeUnit.SECONDS).close();
                    } catch (Exception failedOrLate) {
                      // Its start failed (and said so to a test, or was interrupted), or never
                      // ended.
                    }
                  }));
      shared = started;
    }
    return shared;
  }

  /** A Cluster of this test's own (three primaries), to pause or stop; close it when done. */
  public static Private startPrivate() {
    return closedAtExit(startCluster(0, false));
  }

  /**
   * {@link #startPrivate} whose nodes take {@code nodeTimeout} to decide a silent node failed (the
   * default private one: 15 s): a test of a node stopped for longer than that, whose outcome must
   * not depend on a race with the Cluster's own failure detection (then CLUSTERDOWN everywhere).
   */
  public static Private startPrivate(Duration nodeTimeout) {
    return closedAtExit(startCluster(freePorts(SHARDS), 0, false, nodeTimeout.toMillis()));
  }

  /**
   * {@link #startPrivate} whose nodes also listen on {@code ::1} and announce that address: the
   * topology names every node by an IPv6 address, while the seeds stay on 127.0.0.1.
   */
  public static Private startPrivateAnnouncingIpv6() {
    return closedAtExit(startCluster(0, true));
  }

  /**
   * A Cluster of this test's own with one replica per primary, quick to fail over ({@code
   * cluster-node-timeout} 1 s); close it when done.
   */
  public static Private startPrivateWithReplicas() {
    return closedAtExit(startCluster(1, false));
  }

  /** A private Cluster a test left open is closed as the JVM exits (the shared one by its own). */
  private static Private closedAtExit(Private cluster) {
    TempDirs.closeAtExit(cluster, "redis-cluster-" + cluster.seeds().get(0));
    return cluster;
  }

  /**
   * A private Cluster, the URLs of its primaries as started (the seeds) and of their replicas (the
   * i-th replicates the i-th primary), and the directory its nodes run in: deleted when it is
   * closed, once its nodes have exited, and closed as the JVM exits if it is still open then.
   */
  public record Private(
      RedisShardedCluster cluster, List<String> seeds, List<String> replicas, Path dir)
      implements AutoCloseable {
    /** The slots' masters as the Cluster tells them now. */
    public Partitions partitions() {
      RedisClusterClient client =
          RedisClusterClient.create(seeds.stream().map(RedisURI::create).toList());
      try {
        client.refreshPartitions();
        return client.getPartitions();
      } finally {
        client.shutdown();
      }
    }

    /** The seed with a client in pub/sub mode (a node under test is the Cluster's only one). */
    public String pubSubHolder() {
      for (String seed : seeds) {
        try (RedisClient client = RedisClient.create(seed);
            StatefulRedisConnection<String, String> c = client.connect()) {
          for (String line : c.sync().clientList().split("\n")) {
            if (line.matches(".* sub=[1-9].*")) {
              return seed;
            }
          }
        }
      }
      return null;
    }

    /**
     * Users {@code user0}, {@code user1}, ... by the master of their slot, as the Cluster tells it
     * now: the first {@code count} on the last seed's master (the one tests hang), and the first on
     * another master.
     */
    public Split split(int count) {
      Partitions partitions = partitions();
      int lastPort = RedisURI.create(seeds.get(seeds.size() - 1)).getPort();
      List<String> onLast = new ArrayList<>();
      for (int i = 0; ; i++) {
        String user = "user" + i;
        RedisURI master = partitions.getPartitionBySlot(SlotHash.getSlot(user)).getUri();
        if (master.getPort() != lastPort) {
          if (onLast.size() == count) {
            return new Split(onLast, user, master);
          }
        } else if (onLast.size() < count) {
          onLast.add(user);
        }
      }
    }

    @Override
    public void close() {
      TempDirs.closedBeforeExit(this);
      List<String> all = new ArrayList<>(seeds);
      all.addAll(replicas);
      if (stopQuietly(cluster, all)) {
        TempDirs.deleteQuietly(dir);
      } else {
        System.err.println("a Redis Cluster node may still run: its directory " + dir + " stays");
      }
    }
  }

  /**
   * {@link Private#split}'s answer: users on the last seed's master, and one user on another
   * master, with that master.
   */
  public record Split(List<String> onLastSeed, String elsewhere, RedisURI elsewhereMaster) {}

  private static Private startCluster(int replicas, boolean ipv6) {
    return startCluster(freePorts(SHARDS * (1 + replicas)), replicas, ipv6);
  }

  private static Private startCluster(List<Integer> ports, int replicas, boolean ipv6) {
    return startCluster(ports, replicas, ipv6, replicas > 0 ? 1000 : 15000);
  }

  /** A Cluster of three primaries on these ports, for a test of what a failed start stops. */
  static Private startPrivateOn(List<Integer> ports) {
    return closedAtExit(startCluster(ports, 0, false));
  }

  private static Private startCluster(
      List<Integer> ports, int replicas, boolean ipv6, long nodeTimeoutMillis) {
    List<String> seeds = new ArrayList<>();
    List<String> replicaUrls = new ArrayList<>();
    Path dir;
    try {
      dir = Files.createTempDirectory("handoff-redis-cluster");
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    RedisShardedCluster cluster = null;
    try {
      // Shard names end up in the nodes-*.conf file names: unique, so parallel runs never share.
      String run = Long.toHexString(ThreadLocalRandom.current().nextLong() & Long.MAX_VALUE);
      var builder =
          RedisShardedCluster.newRedisCluster()
              .withServerBuilder(
                  new RedisServerBuilder()
                      .bind(ipv6 ? "127.0.0.1 ::1" : "127.0.0.1")
                      .setting("dir " + RedisProcess.quoted(dir))
                      .setting("save \"\""))
              .serverPorts(ports)
              .initializationTimeout(Duration.ofSeconds(30));
      for (int i = 0; i < SHARDS; i++) {
        builder.shard("s" + i + "-" + run, replicas);
      }
      cluster = builder.build();
      cluster.start();
      // Each shard takes its primary's port, then its replicas', in order.
      for (int i = 0; i < ports.size(); i++) {
        (i % (1 + replicas) == 0 ? seeds : replicaUrls).add("redis://127.0.0.1:" + ports.get(i));
      }
      setNodeTimeout(ports, nodeTimeoutMillis);
      awaitStateOk(ports);
      if (ipv6) {
        announceIpv6(ports);
      }
      return new Private(cluster, seeds, List.copyOf(replicaUrls), dir);
    } catch (IOException e) {
      stopFailedStart(cluster, ports, dir);
      throw new UncheckedIOException(e);
    } catch (RuntimeException | Error e) {
      stopFailedStart(cluster, ports, dir);
      throw e;
    }
  }

  /**
   * The nodes of a start that failed stopped, by port (no seeds yet), then their directory. A start
   * interrupted (at JVM exit) stops them too: the interrupt is cleared, or every wait for them
   * would end at once.
   */
  private static void stopFailedStart(RedisShardedCluster cluster, List<Integer> ports, Path dir) {
    Thread.interrupted();
    List<String> all = ports.stream().map(p -> "redis://127.0.0.1:" + p).toList();
    if (cluster == null || stopQuietly(cluster, all)) {
      TempDirs.deleteQuietly(dir);
    }
  }

  /**
   * Stops every node, then embedded-redis's stop (SIGTERM and an unbounded wait). A node refuses to
   * shut down while it writes its first append-only file (a test that turned {@code appendonly} on
   * just before), and a SIGTERM it refused left that wait, and the run, hanging. So each node is
   * told SHUTDOWN NOSAVE until it goes (refusals retried for 10 s), and killed if it does not; only
   * if the Redis answering on its port is a process of this JVM's.
   */
  private static boolean stopQuietly(RedisShardedCluster cluster, List<String> urls) {
    for (String url : urls) {
      shutDown(url);
    }
    try {
      cluster.stop(); // Each node's stop waits for its process to exit.
      return true;
    } catch (IOException | RuntimeException e) {
      return false; // Best effort at JVM exit.
    }
  }

  private static void shutDown(String url) {
    RedisURI uri = RedisURI.create(url);
    uri.setTimeout(Duration.ofSeconds(2));
    RedisClient client = RedisClient.create(uri);
    long pid = -1;
    try {
      for (int attempt = 0; attempt < 50; attempt++) {
        try (StatefulRedisConnection<String, String> c = client.connect()) {
          if (pid < 0) {
            pid = processId(c.sync().info("server"));
            if (!childOfThisJvm(pid)) {
              return; // Not a node of ours: another process's Redis took the port of one gone.
            }
          }
          c.sync().shutdown(false);
        } catch (RedisCommandExecutionException refused) {
          sleepQuietly(200); // "Errors trying to SHUTDOWN": writing its first append-only file.
          continue;
        } catch (RuntimeException goneOrClosed) {
          // SHUTDOWN answers by closing the connection; or the node is gone already.
        }
        return;
      }
      if (pid > 0) {
        ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
      }
    } finally {
      client.shutdown(Duration.ZERO, Duration.ofSeconds(1));
    }
  }

  /**
   * Whether {@code pid} is a process this JVM started: every node of ours is. A node a test killed,
   * or one that never started (a start that failed on a port another process took), leaves its port
   * to whoever binds it next, maybe another test run's Redis, which is not to be shut down.
   */
  private static boolean childOfThisJvm(long pid) {
    return ProcessHandle.of(pid)
        .flatMap(ProcessHandle::parent)
        .map(parent -> parent.pid() == ProcessHandle.current().pid())
        .orElse(false);
  }

  private static long processId(String info) {
    for (String line : info.split("\r?\n")) {
      if (line.startsWith("process_id:")) {
        return Long.parseLong(line.substring("process_id:".length()).trim());
      }
    }
    return -1;
  }

  private static void sleepQuietly(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /**
   * {@code n} ports free on 127.0.0.1, each with its cluster bus port (+10,000) free too, both
   * below the kernel's ephemeral range (32,768 and up here): a bus port inside it could be taken by
   * an outgoing connection between this check and Redis's bind, which failed a run once. Each test
   * JVM of a run (surefire's fork number, passed as {@code handoff.test.fork}) draws from its own
   * third of the range, so JVMs starting clusters at the same moment never pick the same port; and
   * a JVM never gives a port twice, as the shared Cluster may start beside a test's own.
   */
  static synchronized List<Integer> freePorts(int n) {
    List<Integer> ports = new ArrayList<>();
    ThreadLocalRandom random = ThreadLocalRandom.current();
    // Ports 12,000 to 22,767 (bus ports 22,000 to 32,767), a third to each of up to three JVMs.
    int width = 10_768 / 3;
    int base = 12_000 + ((forkNumber() - 1) % 3) * width;
    for (int attempts = 0; ports.size() < n && attempts < 1000; attempts++) {
      int p = base + random.nextInt(width);
      if (!ports.contains(p) && !handedOut.contains(p) && free(p) && free(p + 10_000)) {
        ports.add(p);
      }
    }
    if (ports.size() < n) {
      throw new IllegalStateException("no free ports for a Redis Cluster");
    }
    handedOut.addAll(ports);
    return ports;
  }

  /**
   * Gives every node its {@code cluster-node-timeout}. The builder's setting is not enough:
   * embedded-redis writes its own {@code cluster-node-timeout 5000} after the settings it is given,
   * and Redis takes a directive's last line, so every node ran with 5 s whatever a test asked for
   * (a node stopped for a test of minutes was failed after about 7 s, then CLUSTERDOWN).
   */
  private static void setNodeTimeout(List<Integer> ports, long millis) {
    for (int port : ports) {
      RedisClient client = RedisClient.create("redis://127.0.0.1:" + port);
      try (StatefulRedisConnection<String, String> c = client.connect()) {
        c.sync().configSet("cluster-node-timeout", Long.toString(millis));
      } finally {
        client.shutdown();
      }
    }
  }

  /** Each node's {@code cluster-node-timeout} in milliseconds, as it says now, in order. */
  static List<Long> nodeTimeouts(List<String> urls) {
    List<Long> timeouts = new ArrayList<>();
    for (String url : urls) {
      RedisClient client = RedisClient.create(url);
      try (StatefulRedisConnection<String, String> c = client.connect()) {
        timeouts.add(
            Long.parseLong(c.sync().configGet("cluster-node-timeout").get("cluster-node-timeout")));
      } finally {
        client.shutdown();
      }
    }
    return timeouts;
  }

  /**
   * Waits until every node says {@code cluster_state:ok}: the nodes learn the slot map from each
   * other over the cluster bus, and one that has not yet answers CLUSTERDOWN to the first commands.
   */
  private static void awaitStateOk(List<Integer> ports) {
    long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    for (int port : ports) {
      io.lettuce.core.RedisClient client =
          io.lettuce.core.RedisClient.create("redis://127.0.0.1:" + port);
      try (var c = client.connect()) {
        while (!c.sync().clusterInfo().contains("cluster_state:ok")) {
          if (System.nanoTime() > deadline) {
            throw new IllegalStateException("Redis Cluster node " + port + " not ok within 30 s");
          }
          if (Thread.currentThread().isInterrupted()) {
            throw new IllegalStateException("Redis Cluster start interrupted");
          }
          java.util.concurrent.locks.LockSupport.parkNanos(Duration.ofMillis(50).toNanos());
        }
      } finally {
        client.shutdown();
      }
    }
  }

  /**
   * Has every node announce {@code ::1} (embedded-redis meets and checks its nodes on 127.0.0.1, so
   * only once the Cluster is up), and waits until every node's topology says so of every node.
   */
  private static void announceIpv6(List<Integer> ports) {
    long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    for (int port : ports) {
      io.lettuce.core.RedisClient client =
          io.lettuce.core.RedisClient.create("redis://127.0.0.1:" + port);
      try (var c = client.connect()) {
        c.sync().configSet("cluster-announce-ip", "::1");
      } finally {
        client.shutdown();
      }
    }
    for (int port : ports) {
      io.lettuce.core.RedisClient client =
          io.lettuce.core.RedisClient.create("redis://127.0.0.1:" + port);
      try (var c = client.connect()) {
        while (c.sync().clusterNodes().contains("127.0.0.1:")) {
          if (System.nanoTime() > deadline) {
            throw new IllegalStateException("Redis Cluster node " + port + " not on ::1 in 30 s");
          }
          java.util.concurrent.locks.LockSupport.parkNanos(Duration.ofMillis(50).toNanos());
        }
      } finally {
        client.shutdown();
      }
    }
  }

  private static int forkNumber() {
    try {
      return Math.max(1, Integer.parseInt(System.getProperty("handoff.test.fork", "1")));
    } catch (NumberFormatException notInAFork) {
      return 1;
    }
  }

  private static boolean free(int port) {
    try (ServerSocket s = new ServerSocket(port, 1, InetAddress.getLoopbackAddress())) {
      return true;
    } catch (IOException e) {
      return false;
    }
  }
}
