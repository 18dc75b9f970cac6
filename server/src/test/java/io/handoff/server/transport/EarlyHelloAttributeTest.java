package io.handoff.server.transport;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.Hello;
import io.netty.channel.embedded.EmbeddedChannel;
import org.junit.jupiter.api.Test;

/**
 * The Hello of an upgrade rides on the channel from its check to the connection handler and leaves
 * no attribute entry behind, on a connection that carried one or not: an entry is some 40 bytes on
 * every idle connection (IdleConnectionObjectsTest pins the rest).
 */
class EarlyHelloAttributeTest {
  @Test
  void aConnectionWithoutAHelloGetsNoEntry() {
    EmbeddedChannel ch = new EmbeddedChannel();
    assertFalse(EarlyHello.carried(ch));
    assertNull(EarlyHello.take(ch));
    assertFalse(ch.hasAttr(EarlyHello.FRAME));
    ch.finishAndReleaseAll();
  }

  @Test
  void theHelloIsTakenWithItsEntry() {
    EmbeddedChannel ch = new EmbeddedChannel();
    ClientFrame hello =
        ClientFrame.newBuilder().setRequestId(1).setHello(Hello.getDefaultInstance()).build();
    ch.attr(EarlyHello.FRAME).set(hello);
    assertTrue(EarlyHello.carried(ch));
    assertSame(hello, EarlyHello.take(ch));
    assertFalse(ch.hasAttr(EarlyHello.FRAME));
    assertFalse(EarlyHello.carried(ch));
    ch.finishAndReleaseAll();
  }
}
