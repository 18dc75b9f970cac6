package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.Disconnect;
import io.handoff.protocol.v1.Hello;
import io.handoff.protocol.v1.ServerFrame;
import java.time.Clock;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * On one node: a connection closed REPLACED is told the Hello instance of the one that took over,
 * and the Java client tells an attempt of its own from another instance of the app ({@link
 * ReplacedClientContract}).
 */
class ReplacedByOwnAttemptTest extends ReplacedClientContract {
  private HandoffServer node;

  @Override
  List<HandoffServer> startNodes() throws Exception {
    node = nodes.memory("one", Clock.systemUTC(), b -> {});
    return List.of(node, node);
  }

  @Test
  void theDisconnectOfAReplacedConnectionNamesTheInstanceThatTookOver() {
    TestDevice first = nodes.add(TestDevice.connect(node.port(), token()));
    first.hello(Hello.newBuilder().setInstance(11).build());
    TestDevice second = nodes.add(TestDevice.connect(node.port(), token()));
    second.hello(Hello.newBuilder().setInstance(22).build());
    Disconnect d = first.next(ServerFrame::hasDisconnect).getDisconnect();
    assertEquals(CloseCode.REPLACED.code(), d.getCode(), d.getReason());
    assertEquals(22, d.getReplacedByInstance(), "the instance that took over");
    assertEquals(CloseCode.REPLACED.code(), first.awaitClose());
  }
}
