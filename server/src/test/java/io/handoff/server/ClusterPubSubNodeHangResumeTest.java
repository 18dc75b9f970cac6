package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.lettuce.core.RedisURI;
import io.lettuce.core.cluster.SlotHash;
import io.lettuce.core.cluster.models.partitions.Partitions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The Redis Cluster node that holds a Handoff node's pub/sub connection hangs (SIGSTOP), while the
 * master of its users' slots answers. A new user's subscription times out on the hung node: its
 * device is closed 4005, but the timeout says nothing of the user's shard, whose resumes go on at
 * full width, not one at a time with the others refused.
 */
// A private Cluster with a node stopped: in the faults profile; ResumeSlotsShardsTest runs the
// line's rule (a failure off the user's shard changes nothing there) by default.
@Tag("fault")
class ClusterPubSubNodeHangResumeTest {
  private final Nodes nodes = new Nodes();

  @AfterEach
  void tearDown() {
    nodes.close();
  }

  @Test
  void aSubscriptionTimingOutOnAHungPubSubNodeDoesNotHoldBackTheUsersShard() throws Exception {
    RedisClusterProcess.Private cluster = nodes.add(RedisClusterProcess.startPrivate());
    HandoffServer node = nodes.cluster(cluster.seeds(), "n1");
    String holder = cluster.pubSubHolder();
    assertNotNull(holder, "some seed holds the node's pub/sub connection");
    String dataMaster = cluster.seeds().stream().filter(s -> !s.equals(holder)).findFirst().get();
    List<String> users = usersOn(cluster, dataMaster, 3);
    String known = users.get(0);
    TestDevice phone = nodes.add(TestDevice.connect(node.port(), TestServer.token(known, "p")));
    assertTrue(phone.hello().hasWelcome());

    nodes.pause(RedisSignals.pid(holder));
    // A user new to the node: its subscription times out on the hung node (2 s), unwelcomed.
    HeldResumes.timedOut(nodes, node, users.get(1), "laptop");
    assertEquals(1, node.stats().resumesFailed.sum());
    assertEquals(
        0,
        node.stats().resumeShardsStalled(),
        "the users' master answers: a timeout on the pub/sub node must not stall its resumes");
    Conditions.await(
        "the laptop's session gone from the node",
        () -> node.hub().sessions() == 1,
        Duration.ofSeconds(10));

    // Another new user's subscription waits on the hung node (until it times out or the node moves
    // its pub/sub connection); a device of the user already subscribed, whose master answers, is
    // welcomed meanwhile, not refused as if that master were hung.
    HeldResumes.resumeSent(nodes, node, users.get(2), "laptop");
    TestDevice tablet =
        nodes.add(TestDevice.connect(node.port(), TestServer.token(known, "tablet")));
    assertTrue(
        tablet.hello().hasWelcome(),
        "a device on a master that answers was refused: "
            + node.stats().resumesRefused.sum()
            + " Hellos refused");
    assertEquals(0, node.stats().resumesRefused.sum());
  }

  /** {@code count} users whose slots the master at {@code master} owns. */
  private static List<String> usersOn(
      RedisClusterProcess.Private cluster, String master, int count) {
    Partitions partitions = cluster.partitions();
    int port = RedisURI.create(master).getPort();
    List<String> users = new ArrayList<>();
    for (int i = 0; users.size() < count; i++) {
      String user = "user" + i;
      if (partitions.getPartitionBySlot(SlotHash.getSlot(user)).getUri().getPort() == port) {
        users.add(user);
      }
    }
    return users;
  }
}
