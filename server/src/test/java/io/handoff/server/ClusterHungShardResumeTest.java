package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.Hello;
import io.handoff.protocol.v1.ServerFrame;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * One master of a real Redis Cluster hung (SIGSTOP) while devices resume: once a resume of a user
 * on that shard timed out, the node's line of resumes sends that shard's one at a time and closes
 * its others with 4005 at once, while the resumes of users on the other masters, which answer, go
 * on and are welcomed.
 */
// A private Cluster with a master stopped: in the faults profile; ResumeSlotsShardsTest runs the
// line's per-shard rules by default.
@Tag("fault")
class ClusterHungShardResumeTest {
  private final Nodes nodes = new Nodes();

  @AfterEach
  void tearDown() {
    nodes.close();
  }

  @Test
  void aHungShardsTimeoutsHoldBackOnlyItsOwnResumes() throws Exception {
    RedisClusterProcess.Private cluster = nodes.add(RedisClusterProcess.startPrivate());
    // The node subscribes through the first seed (the broker's pub/sub connection): the last hangs.
    String hungSeed = cluster.seeds().get(cluster.seeds().size() - 1);
    RedisClusterProcess.Split split = cluster.split(1);
    String onHung = split.onLastSeed().get(0);
    String elsewhere = split.elsewhere();
    HandoffServer node = nodes.cluster(cluster.seeds(), "n1");

    // Both users' channels are subscribed before the shard hangs: each Hello below has one store
    // call, its resume script on its user's shard.
    TestDevice hungPhone =
        nodes.add(TestDevice.connect(node.port(), TestServer.token(onHung, "p")));
    assertTrue(hungPhone.hello().hasWelcome());
    TestDevice phone = nodes.add(TestDevice.connect(node.port(), TestServer.token(elsewhere, "p")));
    assertTrue(phone.hello().hasWelcome());

    nodes.pause(RedisSignals.pid(hungSeed));
    // A resume on the hung shard times out (2 s): from now on that shard's are sent one at a time.
    HeldResumes.timedOut(nodes, node, onHung, "laptop");
    assertEquals(1, node.stats().resumesFailed.sum());
    Conditions.await(
        "the laptop's session gone from the node",
        () -> node.hub().sessions() == 2,
        Duration.ofSeconds(10));
    // The hung shard's one read at a time, held there for its 2 s.
    TestDevice tablet = HeldResumes.resumeSent(nodes, node, onHung, "tablet");

    // Another device of the hung shard's user is closed 4005 at once, unsent.
    TestDevice watch = nodes.add(TestDevice.connect(node.port(), TestServer.token(onHung, "w")));
    watch.send(ClientFrame.newBuilder().setHello(Hello.getDefaultInstance()));
    assertEquals(CloseCode.UNAVAILABLE.code(), watch.awaitClose());

    // A device of a user on a master that answers is welcomed, not refused.
    TestDevice laptop =
        nodes.add(TestDevice.connect(node.port(), TestServer.token(elsewhere, "laptop")));
    laptop.send(ClientFrame.newBuilder().setHello(Hello.getDefaultInstance()));
    AtomicReference<ServerFrame> answer = new AtomicReference<>();
    Conditions.await(
        "the laptop welcomed or closed",
        () -> {
          ServerFrame f = laptop.poll();
          if (f != null && (f.hasWelcome() || f.hasError())) {
            answer.set(f);
          }
          return answer.get() != null || laptop.isClosed();
        },
        Duration.ofSeconds(10));
    ServerFrame welcome = answer.get();
    assertFalse(
        tablet.isClosed(),
        "precondition: the tablet's resume was still held by the hung shard meanwhile");
    assertTrue(
        welcome != null && welcome.hasWelcome(),
        "a device on a healthy shard was "
            + (laptop.isClosed() ? "closed " + laptop.awaitClose() : "answered " + welcome)
            + " while another shard hangs ("
            + node.stats().resumesRefused.sum()
            + " Hellos refused)");
    assertEquals(1, node.stats().resumesRefused.sum(), "only the watch's Hello was refused");

    // The held read times out too: the tablet is closed 4005, the hung shard's line stays shut.
    assertEquals(CloseCode.UNAVAILABLE.code(), tablet.awaitClose());
  }
}
