package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.Disconnect;
import io.handoff.protocol.v1.Hello;
import io.handoff.protocol.v1.ServerFrame;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * As {@link ReplacedByOwnAttemptTest}, with the two connections on two nodes of one Redis, as
 * behind a load balancer: the connection replaced through the other node's presence entry is told
 * the Hello instance that entry keeps, and the client is replaced on node two by a connection set
 * up on node one ({@link ReplacedClientContract}).
 */
class ReplacedAcrossNodesTest extends ReplacedClientContract {
  private HandoffServer one;
  private HandoffServer two;

  @Override
  List<HandoffServer> startNodes() throws Exception {
    one = nodes.redis(RedisProcess.sharedUrl(), "one");
    two = nodes.redis(RedisProcess.sharedUrl(), "two");
    return List.of(two, one);
  }

  @Test
  void aConnectionReplacedThroughAnotherNodeIsToldTheInstanceThatTookOver() {
    TestDevice onTwo = nodes.add(TestDevice.connect(two.port(), token()));
    onTwo.hello(Hello.newBuilder().setInstance(11).build());
    TestDevice onOne = nodes.add(TestDevice.connect(one.port(), token()));
    onOne.hello(Hello.newBuilder().setInstance(-22).build());

    Disconnect d = onTwo.next(ServerFrame::hasDisconnect).getDisconnect();
    assertEquals(CloseCode.REPLACED.code(), d.getCode(), d.getReason());
    assertEquals(-22, d.getReplacedByInstance(), "the instance that took over, on node one");
    assertEquals(CloseCode.REPLACED.code(), onTwo.awaitClose());
  }
}
