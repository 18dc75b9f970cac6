package io.handoff.server;

import static io.handoff.server.TestServer.token;
import static org.junit.jupiter.api.Assertions.assertFalse;

import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.Hello;
import io.handoff.protocol.v1.Ping;
import io.handoff.protocol.v1.ServerFrame;
import java.time.Duration;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A connection that closes while its Hello waits its turn in the node's line of resume reads (one
 * read at a time here, one place in the line, the read taken by another user's resume whose answer
 * the store holds) gives up its place: the next device's Hello waits in the line, not refused.
 */
class ResumeLineCloseTest extends OnGatedNode {
  @BeforeEach
  void start() throws Exception {
    startNode("a", b -> b.maxResumes(1, 1));
  }

  @Test
  void aHelloFindingTheLineHeldOnlyByAClosedConnectionWaitsItsTurnAndIsWelcomed() {
    engine.holdSyncAnswers();
    TestDevice other = nodes.add(TestDevice.connect(node.port(), token("x", "h")));
    long otherHello = other.send(ClientFrame.newBuilder().setHello(Hello.getDefaultInstance()));
    Conditions.await(
        "the other user's resume read, its answer held",
        () -> engine.heldSyncAnswers() == 1,
        Duration.ofSeconds(10));
    TestDevice gone = nodes.add(TestDevice.connect(node.port(), token("u", "gone")));
    gone.send(ClientFrame.newBuilder().setHello(Hello.getDefaultInstance()));
    long pinged = gone.send(ClientFrame.newBuilder().setPing(Ping.getDefaultInstance()));
    gone.next(x -> x.hasPong() && x.getRequestId() == pinged); // Its Hello waits in the line.
    long closedBefore = node.stats().connectionsClosed.sum();
    gone.close();
    // The close is handled on the user's loop, which then reads the next device's frames: the
    // same user's, so the same loop, and the close is done before its Hello.
    Conditions.await(
        "the node saw the closed connection",
        () -> node.stats().connectionsClosed.sum() > closedBefore,
        Duration.ofSeconds(10));

    TestDevice d = nodes.add(TestDevice.connect(node.port(), token("u", "d")));
    long hello = d.send(ClientFrame.newBuilder().setHello(Hello.getDefaultInstance()));
    long ping = d.send(ClientFrame.newBuilder().setPing(Ping.getDefaultInstance()));
    ServerFrame f = d.next(x -> x.hasDisconnect() || (x.hasPong() && x.getRequestId() == ping));
    assertFalse(
        f.hasDisconnect(),
        "the Hello waits its turn, not refused for a place the closed connection held: " + f);
    engine.releaseSyncAnswers();
    other.next(x -> x.hasWelcome() && x.getRequestId() == otherHello);
    d.next(x -> x.hasWelcome() && x.getRequestId() == hello);
  }
}
