package io.handoff.server;

import static io.handoff.server.RedisSignals.pid;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.server.handoff.HandoffLimits;
import io.lettuce.core.RedisURI;
import io.lettuce.core.cluster.SlotHash;
import io.lettuce.core.cluster.api.StatefulRedisClusterConnection;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * On a Redis Cluster the node's Redis I/O is never bound to its event loops, and a node that stops
 * gracefully while the user's shard, paused (SIGSTOP), holds a resume's script must still take the
 * device back, behind the script: once the shard is back (SIGCONT), the script marks the device
 * online and the take-back offline. Without it, the device read online, to every device of the
 * user, until its presence deadline, though its node stopped and promised to leave nothing behind.
 */
class ClusterStopTakeBackTest {
  // Far past the test: a device the store holds online reads online for the whole test.
  private static final Duration PRESENCE_TTL = Duration.ofMinutes(10);

  private final Nodes nodes = new Nodes();
  private final RedisClusterProcess.Private cluster = nodes.add(RedisClusterProcess.startPrivate());

  @AfterEach
  void tearDown() {
    nodes.close();
  }

  @Test
  void aNodeThatStopsWhileItsUsersShardHoldsAResumeScriptTakesTheDeviceBack() throws Exception {
    HandoffServer node =
        nodes.cluster(
            cluster.seeds(),
            "n1",
            b ->
                b.drainTimeout(Duration.ZERO)
                    .closeTimeout(Duration.ofMillis(1))
                    .handoffLimits(HandoffLimits.builder().presenceTtl(PRESENCE_TTL).build()));
    StatefulRedisClusterConnection<String, String> control = nodes.clusterControl(cluster.seeds());
    RedisURI shard = control.getPartitions().getPartitionBySlot(SlotHash.getSlot("u")).getUri();

    // The user's channel is subscribed: the laptop's Hello has one store call, its script.
    TestDevice phone = nodes.add(TestDevice.connect(node.port(), TestServer.token("u", "phone")));
    assertTrue(phone.hello().hasWelcome());

    String paused = nodes.pause(pid(shard));
    HeldResumes.resumeSent(nodes, node, "u", "laptop");
    node.close();
    node.engine().close(); // As a stopping process does (NodeRun), the shard still paused.
    nodes.resume(paused);

    HeldResumes.awaitOfflineEntry(
        "laptop", () -> control.sync().hget(nodes.presenceKey("u"), "laptop"));
  }
}
