package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.client.HandoffClient;
import io.handoff.server.transport.IoTransport;
import io.handoff.server.transport.TransportConfig;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.uring.IoUring;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** The node's socket I/O transports: the choice, and writes in order over each one. */
class IoTransportTest {

  @Test
  void settingsAreParsedInAnyCaseAndAnUnknownOneNamesTheAcceptedValues() {
    assertEquals(IoTransport.IO_URING, IoTransport.parse("io_uring"));
    assertEquals(IoTransport.IO_URING, IoTransport.parse("IO-URING"));
    assertEquals(IoTransport.EPOLL, IoTransport.parse(" Epoll "));
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> IoTransport.parse("kqueue"));
    assertEquals(
        "unknown I/O transport 'kqueue'; use auto, io_uring, epoll or nio", e.getMessage());
  }

  @Test
  void autoTakesEpollWhereTheKernelOffersItThenIoUringThenNio() {
    IoTransport.Chosen chosen = IoTransport.AUTO.choose();
    IoTransport expected =
        Epoll.isAvailable()
            ? IoTransport.EPOLL
            : IoUring.isAvailable() ? IoTransport.IO_URING : IoTransport.NIO;
    assertEquals(expected, chosen.transport());
    assertTrue(chosen.why().startsWith("auto: "), chosen.why());
    if (expected != IoTransport.EPOLL) {
      assertTrue(chosen.why().contains("epoll unavailable"), chosen.why());
    }
  }

  @ParameterizedTest
  @EnumSource(
      value = IoTransport.class,
      names = {"IO_URING", "EPOLL", "NIO"})
  void eachTransportCarriesWritesInOrderOrIsRefusedWithItsReason(IoTransport transport)
      throws Exception {
    boolean available =
        switch (transport) {
          case IO_URING -> IoUring.isAvailable();
          case EPOLL -> Epoll.isAvailable();
          default -> true;
        };
    if (!available) {
      IllegalStateException e = assertThrows(IllegalStateException.class, transport::choose);
      assertTrue(e.getMessage().contains("refuses it"), e.getMessage());
      return;
    }
    assertEquals(transport, transport.choose().transport());
    try (TestServer server =
        TestServer.start(
            b -> b.transport(TransportConfig.builder().ioTransport(transport).build()))) {
      List<HandoffClient> clients = new ArrayList<>();
      List<ClientEndToEndTest.Recorder> recorders = new ArrayList<>();
      try {
        for (String device : List.of("phone", "tv", "laptop")) {
          ClientEndToEndTest.Recorder r = new ClientEndToEndTest.Recorder();
          HandoffClient c =
              TestServer.clientBuilder(server.url(), "alice", device).listener(r).build();
          clients.add(c);
          recorders.add(r);
          c.connect().get(10, TimeUnit.SECONDS);
        }
        List<CompletableFuture<Long>> acks = new ArrayList<>();
        for (int i = 1; i <= 200; i++) {
          acks.add(
              clients
                  .get(0)
                  .document("player")
                  .set("position", ("t" + i).getBytes(StandardCharsets.UTF_8)));
        }
        long last = 0;
        for (int i = 0; i < acks.size(); i++) {
          long v = acks.get(i).get(10, TimeUnit.SECONDS);
          assertTrue(
              v >= last, "acks in order: write " + (i + 1) + " at v" + v + " after v" + last);
          last = v;
        }
        List<Long> expected = new ArrayList<>();
        for (long v = 1; v <= last; v++) {
          expected.add(v);
        }
        for (int d = 1; d < 3; d++) {
          recorders.get(d).awaitVersion(clients.get(d), "player", last);
          assertEquals(expected, recorders.get(d).versions("player"), "every version, in order");
        }
        assertNotEquals(0, last);
      } finally {
        clients.forEach(HandoffClient::close);
      }
    }
  }
}
