package io.handoff.server;

import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.sync.RedisCommands;
import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.Function;
import java.util.stream.IntStream;
import redis.embedded.core.ExecutableProvider;

/**
 * A private Redis Cluster of three masters, each with one replica: six redis-server processes (the
 * binary embedded-redis ships) that a test can kill with SIGKILL and start again one by one.
 * Failure detection is fast ({@code cluster-node-timeout} 1 s) and any replica may take over. No
 * persistence: a restarted node comes back empty and, seeing its slots served by a newer master,
 * joins as that master's replica and copies its data. {@link #close()} deletes the nodes' directory
 * once they have exited; one left open is closed as the JVM exits ({@link TempDirs}).
 */
final class ReplicatedCluster implements AutoCloseable {
  static final int MASTERS = 3;
  private static final Duration READY = Duration.ofSeconds(60);

  /**
   * How often {@link #await} asks. Its conditions ask Redis, most on a connection opened for the
   * question ({@link #call}): asked every millisecond, as {@link Conditions#await(String,
   * java.util.function.BooleanSupplier, Duration)} does, through the seconds of a failover they
   * took CPU from the test JVMs beside (ClusterScriptCacheTest alone: 11.7 s of CPU, its JVM's and
   * its Redis processes', against 7.5 s every 20 ms, in the same wall time).
   */
  static final Duration POLL = Duration.ofMillis(20);

  /** {@link Conditions#await} for a condition that asks Redis: asks every {@link #POLL}. */
  static void await(String what, BooleanSupplier condition, Duration bound) {
    Conditions.await(what, condition, bound, POLL);
  }

  /** One redis-server process of the cluster. */
  final class Instance {
    final int port;
    final Path dir;
    private Process process;
    String id;

    Instance(int port) throws IOException {
      this.port = port;
      this.dir = Files.createDirectories(root.resolve(Integer.toString(port)));
    }

    String url() {
      return "redis://127.0.0.1:" + port;
    }

    void start() {
      try {
        process =
            new ProcessBuilder(
                    binary.getAbsolutePath(),
                    "--port",
                    Integer.toString(port),
                    "--bind",
                    "127.0.0.1",
                    "--dir",
                    dir.toString(),
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "1000",
                    "--cluster-replica-validity-factor",
                    "0",
                    "--appendonly",
                    "no",
                    "--save",
                    "")
                .redirectErrorStream(true)
                .redirectOutput(dir.resolve("redis.log").toFile())
                .start();
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      await("redis on " + port + " answers", () -> ping(this), READY);
      id = call(this, r -> r.clusterMyId());
    }

    /** SIGKILL: no shutdown, nothing flushed; the process is gone when this returns. */
    void kill() throws InterruptedException {
      process.destroyForcibly();
      process.waitFor(10, TimeUnit.SECONDS);
    }

    long pid() {
      return process.pid();
    }

    boolean alive() {
      return process != null && process.isAlive();
    }

    /** This node's own line of CLUSTER NODES, or "" if it does not answer. */
    String self() {
      try {
        for (String line : call(this, RedisCommands::clusterNodes).split("\n")) {
          if (line.contains("myself")) {
            return line;
          }
        }
      } catch (RuntimeException e) {
        // Not answering: no line.
      }
      return "";
    }

    boolean isMaster() {
      return self().contains("master");
    }

    @Override
    public String toString() {
      return "redis " + port + (alive() ? "" : " (dead)");
    }
  }

  private final RedisClient admin = RedisClient.create();
  private final File binary;
  private final Path root;
  final List<Instance> instances = new ArrayList<>();
  private boolean closed;

  private ReplicatedCluster() throws IOException {
    binary = ExecutableProvider.newJarResourceProvider().get();
    root = Files.createTempDirectory("handoff-redis-replicated");
    TempDirs.closeAtExit(this, "redis-replicated-cluster");
  }

  /** Starts six processes, splits the slots over the first three and makes the others replicas. */
  static ReplicatedCluster start() throws IOException {
    ReplicatedCluster c = new ReplicatedCluster();
    try {
      for (int port : RedisClusterProcess.freePorts(2 * MASTERS)) {
        Instance i = c.new Instance(port);
        c.instances.add(i);
        i.start();
      }
      Instance first = c.instances.get(0);
      for (Instance i : c.instances.subList(1, c.instances.size())) {
        c.call(first, r -> r.clusterMeet("127.0.0.1", i.port));
      }
      int per = 16384 / MASTERS;
      for (int m = 0; m < MASTERS; m++) {
        int from = m * per;
        int to = m == MASTERS - 1 ? 16384 : from + per;
        c.call(c.instances.get(m), r -> r.clusterAddSlots(IntStream.range(from, to).toArray()));
      }
      for (Instance i : c.instances) {
        await(
            i + " knows every node",
            () -> c.call(i, RedisCommands::clusterNodes).strip().split("\n").length == 2 * MASTERS,
            READY);
      }
      for (int m = 0; m < MASTERS; m++) {
        Instance master = c.instances.get(m);
        c.call(c.instances.get(MASTERS + m), r -> r.clusterReplicate(master.id));
      }
      c.awaitHealthy();
      return c;
    } catch (RuntimeException | Error e) {
      c.close();
      throw e;
    }
  }

  List<String> seeds() {
    return instances.stream().map(Instance::url).toList();
  }

  /** Waits until every live node says the cluster is ok and every live replica is in sync. */
  void awaitHealthy() {
    for (Instance i : instances) {
      if (!i.alive()) {
        continue;
      }
      await(
          i + " sees the cluster ok",
          () -> call(i, RedisCommands::clusterInfo).contains("cluster_state:ok"),
          READY);
      await(
          i + " is a master or a replica in sync",
          () -> {
            String info = call(i, r -> r.info("replication"));
            return info.contains("role:master") || info.contains("master_link_status:up");
          },
          READY);
    }
  }

  /**
   * Starts every killed node again (its {@code nodes.conf} kept, so it rejoins as what it was: the
   * replica of a master that still serves its slots) and waits until every node lists every other
   * without a failure flag and {@link #awaitHealthy} holds: the Cluster a test found, for the next
   * test of a class that shares it.
   */
  void restoreKilled() {
    for (Instance i : instances) {
      if (!i.alive()) {
        i.start();
      }
    }
    for (Instance i : instances) {
      await(
          i + " lists no node as failed",
          () -> {
            for (String line : call(i, RedisCommands::clusterNodes).split("\n")) {
              String[] f = line.split(" ");
              if (f.length > 2 && f[2].contains("fail")) {
                return false;
              }
            }
            return true;
          },
          READY);
    }
    awaitHealthy();
  }

  /** The live master that serves {@code slot}, as the live nodes see it. */
  Instance masterOf(int slot) {
    for (Instance i : instances) {
      if (!i.alive()) {
        continue;
      }
      for (String line : call(i, RedisCommands::clusterNodes).split("\n")) {
        String[] f = line.split(" ");
        if (!f[2].contains("master") || f[2].contains("fail")) {
          continue;
        }
        for (int k = 8; k < f.length; k++) {
          String[] range = f[k].split("-");
          if (range[0].startsWith("[")) {
            continue; // A slot being migrated.
          }
          int lo = Integer.parseInt(range[0]);
          int hi = range.length > 1 ? Integer.parseInt(range[1]) : lo;
          if (slot >= lo && slot <= hi) {
            for (Instance owner : instances) {
              if (f[0].equals(owner.id)) {
                return owner;
              }
            }
          }
        }
      }
      break;
    }
    throw new IllegalStateException("no master serves slot " + slot);
  }

  /** The replica of {@code master}: the live node whose line names it as its master. */
  Instance replicaOf(Instance master) {
    for (Instance i : instances) {
      if (i != master && i.alive() && i.self().contains("slave " + master.id)) {
        return i;
      }
    }
    throw new IllegalStateException("no live replica of " + master);
  }

  private boolean ping(Instance i) {
    try {
      return "PONG".equals(call(i, RedisCommands::ping));
    } catch (RuntimeException e) {
      return false;
    }
  }

  /** Runs one command on a fresh connection to {@code i} (no cluster routing). */
  <T> T call(Instance i, Function<RedisCommands<String, String>, T> command) {
    RedisURI uri = RedisURI.create(i.url());
    uri.setTimeout(Duration.ofSeconds(5));
    try (StatefulRedisConnection<String, String> c = admin.connect(uri)) {
      return command.apply(c.sync());
    }
  }

  /** Kills every node, and deletes their directory once they have all exited; once. */
  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    TempDirs.closedBeforeExit(this);
    for (Instance i : instances) {
      if (i.process != null) {
        i.process.destroyForcibly();
      }
    }
    boolean allExited = true;
    for (Instance i : instances) {
      allExited &= TempDirs.exited(i.process, 10);
    }
    admin.shutdown(0, 2, TimeUnit.SECONDS);
    if (allExited) {
      TempDirs.deleteQuietly(root);
    } else {
      System.err.println("a node of " + root + " still runs: the directory stays");
    }
  }
}
