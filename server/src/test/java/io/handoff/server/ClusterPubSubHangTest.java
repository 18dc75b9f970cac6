package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.redis.RedisEngine;
import io.handoff.server.sync.Broker;
import io.handoff.server.sync.DocumentEvent;
import io.handoff.server.sync.WriteOutcome;
import java.time.Duration;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The Redis node that holds a Handoff node's pub/sub connection hangs (SIGSTOP: a stalled host, a
 * network path that drops packets without a reset) and stays hung. The Cluster fails it over and
 * serves every slot again; the Handoff node must then hear its users' writes again (promise 1, and
 * with them revocations, promise 8), not wait for a TCP timeout of hours.
 */
class ClusterPubSubHangTest {
  private final ReplicatedCluster cluster;
  private final String prefix = "test-" + UUID.randomUUID() + ":";
  private RedisEngine engine;
  private ReplicatedCluster.Instance stopped;

  ClusterPubSubHangTest() throws Exception {
    cluster = ReplicatedCluster.start();
  }

  @AfterEach
  void tearDown() throws Exception {
    if (stopped != null) {
      signal("-CONT", stopped.pid());
    }
    if (engine != null) {
      engine.close();
    }
    cluster.close();
  }

  private static void signal(String sig, long pid) throws Exception {
    Process kill = new ProcessBuilder("kill", sig, Long.toString(pid)).inheritIO().start();
    assertTrue(kill.waitFor(10, TimeUnit.SECONDS));
    assertEquals(0, kill.exitValue(), "kill " + sig + " " + pid);
  }

  /** The instance that has a client in pub/sub mode (this test's engine is its only client). */
  private ReplicatedCluster.Instance pubSubHolder() {
    for (ReplicatedCluster.Instance i : cluster.instances) {
      String clients = cluster.call(i, r -> r.clientList());
      for (String line : clients.split("\n")) {
        if (line.contains("cmd=subscribe") || line.matches(".* sub=[1-9].*")) {
          return i;
        }
      }
    }
    return null;
  }

  @Test
  void writesReachTheNodeAgainOnceTheClusterFailedOverTheHungNodeOfItsPubSubConnection()
      throws Exception {
    engine = RedisEngine.connectCluster(cluster.seeds(), prefix, StoreLimits.builder().build());
    String user = "ann";
    AtomicLong highest = new AtomicLong();
    AtomicLong losses = new AtomicLong();
    Signal heard = new Signal();
    Broker.Subscription sub =
        engine
            .broker()
            .subscribe(
                user,
                new Broker.Listener() {
                  @Override
                  public void onEvent(DocumentEvent event) {
                    highest.accumulateAndGet(event.version(), Math::max);
                    heard.fire();
                  }

                  @Override
                  public CompletableFuture<?> onPossibleLoss() {
                    losses.incrementAndGet();
                    heard.fire();
                    return CompletableFuture.completedFuture(null);
                  }
                });
    sub.ready().get(10, TimeUnit.SECONDS);
    WriteOutcome first =
        engine.store().write(user, "phone", Writes.numbered("cart", 1)).get(15, TimeUnit.SECONDS);
    assertTrue(first.isApplied());
    heard.await("the first write is heard", () -> highest.get() >= 1, Duration.ofSeconds(10));

    ReplicatedCluster.Instance holder = pubSubHolder();
    assertNotNull(holder, "some node holds the pub/sub connection");
    signal("-STOP", holder.pid());
    stopped = holder;
    String stoppedId = holder.id;
    ReplicatedCluster.Instance witness =
        cluster.instances.stream().filter(i -> i != holder).findFirst().orElseThrow();
    ReplicatedCluster.await(
        "the Cluster marks the hung node failed and serves every slot again",
        () -> {
          String nodes = cluster.call(witness, r -> r.clusterNodes());
          boolean failed = false;
          for (String line : nodes.split("\n")) {
            if (line.startsWith(stoppedId) && line.contains("fail") && !line.contains("fail?")) {
              failed = true;
            }
          }
          return failed && cluster.call(witness, r -> r.clusterInfo()).contains("cluster_state:ok");
        },
        Duration.ofSeconds(30));

    // The Cluster is healthy again. The user's writes are applied ...
    long seq = 2;
    WriteOutcome o = null;
    long lossesBeforeFirst = losses.get();
    long applyBy = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
    while (System.nanoTime() < applyBy) {
      try {
        // Re-sent with its number until applied (a timeout on the hung master is of unknown fate).
        o =
            engine
                .store()
                .write(user, "phone", Writes.numbered("cart", seq))
                .get(30, TimeUnit.SECONDS);
        if (o.isApplied()) {
          break;
        }
      } catch (java.util.concurrent.ExecutionException unknownOrRefused) {
        o = null;
      }
    }
    assertNotNull(o, "applied on the healthy Cluster");
    assertTrue(o.isApplied(), "applied on the healthy Cluster: " + o.message());
    // ... and each is heard, or a possible loss is reported after it (the node's sessions then
    // read the store again); within seconds writes are heard again.
    WriteOutcome applied = o;
    heard.await(
        "version " + applied.version() + " is heard, or a loss reported after it",
        () -> highest.get() >= applied.version() || losses.get() > lossesBeforeFirst,
        Duration.ofSeconds(15));
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    WriteOutcome last = o;
    while (highest.get() < last.version()) {
      assertTrue(System.nanoTime() < deadline, "writes are heard again within 30 s");
      long lossesBefore = losses.get();
      WriteOutcome w =
          engine
              .store()
              .write(user, "phone", Writes.numbered("cart", ++seq))
              .get(30, TimeUnit.SECONDS);
      assertTrue(w.isApplied(), "applied: " + w.message());
      heard.await(
          "version " + w.version() + " is heard, or a loss reported after it",
          () -> highest.get() >= w.version() || losses.get() > lossesBefore,
          Duration.ofSeconds(10));
      last = w;
    }
  }
}
