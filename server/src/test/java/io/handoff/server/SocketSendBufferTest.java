package io.handoff.server;

import static io.handoff.server.TestServer.token;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.Hello;
import io.handoff.server.session.QueueBudget;
import io.handoff.server.transport.TransportConfig;
import org.junit.jupiter.api.Test;

/**
 * The kernel's share of a device that never reads is bounded by the node's socket send buffer, so
 * its backlog soon waits where the node's queue budget counts it. Without the bound, the kernel's
 * autotuning lets each such socket absorb up to {@code net.ipv4.tcp_wmem}'s maximum (4 MiB on
 * common Linux settings) that no budget of the node sees.
 */
class SocketSendBufferTest {
  private static final int SEND_BUFFER = 32 * 1024;
  private static final int VALUE = 16 * 1024;
  // Outbox bytes that only a backed-up socket leaves waiting (more than one event in flight).
  private static final long BACKLOG = 128 * 1024;
  private static final long MOST_FED = 2L << 20;

  @Test
  void aDeviceThatNeverReadsSoonQueuesWhereTheNodeCountsIt() throws Exception {
    try (TestServer server =
            TestServer.start(
                b ->
                    b.transport(
                        TransportConfig.builder().socketSendBufferBytes(SEND_BUFFER).build()));
        TestDevice feeder = TestDevice.connect(server.port(), token("crowd", "feeder"));
        RawSocket silent = RawSocket.connect(server.port(), token("crowd", "silent"), 4096)) {
      QueueBudget budget = server.server.queueBudget();
      silent.send(ClientFrame.newBuilder().setHello(Hello.getDefaultInstance()).build());
      feeder.hello();
      String value = "x".repeat(VALUE);
      long fed = 0;
      long seq = 0;
      while (budget.queuedBytes() < BACKLOG && fed < MOST_FED) {
        long s = ++seq;
        feeder.send(Writes.frame("feed", s, "v", value));
        feeder.next(f -> f.hasAck() && f.getAck().getClientSeq() == s);
        fed += VALUE;
      }
      // Kernel: twice the send buffer, plus the device's small receive buffer; Netty: the
      // write-buffer high-water mark (64 KiB); then the outbox.
      assertTrue(
          fed < 1L << 20,
          "the node counted a backlog of "
              + budget.queuedBytes()
              + " bytes only after "
              + fed
              + " bytes were sent to a device that never reads");
    }
  }
}
