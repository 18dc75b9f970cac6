package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.google.protobuf.ByteString;
import io.handoff.client.ConnectionState;
import io.handoff.client.DocumentChange;
import io.handoff.client.HandoffClient;
import io.handoff.client.HandoffListener;
import io.netty.channel.DefaultEventLoopGroup;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoEventLoop;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import java.net.URI;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The client's connection controls against a real node: dropping the connection on purpose, the
 * "caught up" signal after a (re)connection, and shared epoll event loops.
 */
class ClientConnectionControlTest {
  private TestServer server;
  private final List<HandoffClient> clients = new ArrayList<>();

  @BeforeEach
  void start() throws Exception {
    server = TestServer.start();
  }

  @AfterEach
  void stop() {
    clients.forEach(HandoffClient::close);
    server.close();
  }

  /** Records states, versions and, at each onSynced, the replica's versions of two documents. */
  static final class Watcher implements HandoffListener {
    final Signal signal = new Signal();
    final List<String> states = Collections.synchronizedList(new ArrayList<>());
    final List<Map<String, Long>> synced = Collections.synchronizedList(new ArrayList<>());
    final List<Long> cartVersions = Collections.synchronizedList(new ArrayList<>());
    volatile HandoffClient client;

    @Override
    public void onChange(DocumentChange change) {
      if (change.document().equals("cart")) {
        cartVersions.add(change.version());
      }
      signal.fire();
    }

    @Override
    public void onStateChanged(ConnectionState state, int closeCode, String reason) {
      states.add(state + (closeCode == 0 ? "" : " " + closeCode));
      signal.fire();
    }

    @Override
    public void onSynced() {
      synced.add(
          Map.of("cart", client.lastVersion("cart"), "player", client.lastVersion("player")));
      signal.fire();
    }

    long count(String state) {
      synchronized (states) {
        return states.stream().filter(state::equals).count();
      }
    }
  }

  private HandoffClient client(String url, String user, String device, Watcher w) throws Exception {
    return client(url, user, device, w, null);
  }

  private HandoffClient client(
      String url, String user, String device, Watcher w, EventLoopGroup group) throws Exception {
    HandoffClient.Builder b = TestServer.clientBuilder(url, user, device).followAll().listener(w);
    if (group != null) {
      b.eventLoopGroup(group);
    }
    HandoffClient c = b.build();
    w.client = c;
    clients.add(c);
    c.connect().get(10, TimeUnit.SECONDS);
    return c;
  }

  private static ByteString text(String s) {
    return ByteString.copyFromUtf8(s);
  }

  @Test
  void droppedConnectionIsAResetTheClientReconnectsFromAndResumes() throws Exception {
    Watcher wa = new Watcher();
    Watcher wb = new Watcher();
    HandoffClient a = client(server.url(), "gail", "laptop", wa);
    HandoffClient b = client(server.url(), "gail", "phone", wb);
    a.document("cart").set("items", text("1")).get(10, TimeUnit.SECONDS);
    wb.signal.await("phone has cart v1", () -> b.lastVersion("cart") == 1);

    b.dropConnection();

    wb.signal.await("phone reconnected", () -> wb.count("CONNECTED") == 2);
    assertTrue(
        wb.states.contains("RECONNECTING 1006"),
        "lost as to a network failure, without a close code: " + wb.states);
    assertEquals(0, wb.count("CLOSED"), "not closed for good: " + wb.states);
    a.document("cart").set("items", text("2")).get(10, TimeUnit.SECONDS);
    assertEquals(3, b.document("cart").set("note", text("x")).get(10, TimeUnit.SECONDS));
    wb.signal.await("phone has cart v3", () -> b.lastVersion("cart") == 3);
    assertEquals(List.of(1L, 2L, 3L), wb.cartVersions, "nothing lost or repeated");
  }

  @Test
  void dropConnectionWithoutAConnectionDoesNothing() throws Exception {
    Watcher w = new Watcher();
    HandoffClient c =
        HandoffClient.builder()
            .url(URI.create(server.url()))
            .token(TestServer.token("hugo", "phone"))
            .listener(w)
            .build();
    w.client = c;
    clients.add(c);

    c.dropConnection();
    c.connect().get(10, TimeUnit.SECONDS);

    assertEquals(ConnectionState.CONNECTED, c.state());
    assertTrue(w.states.stream().noneMatch(s -> s.startsWith("RECONNECTING")), "" + w.states);
  }

  @Test
  void onSyncedComesOncePerConnectionAfterTheWelcomesCatchUpIsApplied() throws Exception {
    try (ChaosProxy proxy = new ChaosProxy(server.port())) {
      Watcher ww = new Watcher();
      Watcher wr = new Watcher();
      HandoffClient writer = client(server.url(), "ivy", "laptop", ww);
      for (int i = 1; i <= 30; i++) {
        writer.document("cart").set("items", text(Integer.toString(i)));
      }
      writer.document("player").set("at", text("0:01")).get(10, TimeUnit.SECONDS);
      writer.document("cart").set("done", text("no")).get(10, TimeUnit.SECONDS);

      HandoffClient reader = client(proxy.url(), "ivy", "phone", wr);
      wr.signal.await("first catch-up", () -> wr.synced.size() == 1);
      assertEquals(
          Map.of("cart", 31L, "player", 1L), wr.synced.get(0), "snapshots applied before onSynced");

      proxy.blackholeDownstream(true);
      proxy.cutAll();
      for (int i = 32; i < 50; i++) {
        writer.document("cart").set("items", text(Integer.toString(i)));
      }
      writer.document("cart").set("done", text("yes")).get(10, TimeUnit.SECONDS);
      proxy.blackholeDownstream(false);
      proxy.cutAll();

      wr.signal.await("second catch-up", () -> wr.synced.size() == 2);
      assertEquals(Map.of("cart", 50L, "player", 1L), wr.synced.get(1), "deltas applied first");
      assertEquals(2, wr.count("CONNECTED"), "one onSynced per connection: " + wr.states);
      assertEquals(50, reader.lastVersion("cart"));
    }
  }

  @Test
  void clientsShareAnEpollGroupAndExchangeWrites() throws Exception {
    assumeTrue(Epoll.isAvailable(), "native epoll is not available here");
    EventLoopGroup group = HandoffClient.newEventLoopGroup(2);
    try {
      assertTrue(((IoEventLoop) group.next()).isIoType(EpollIoHandler.class), "epoll loops");
      Watcher wa = new Watcher();
      Watcher wb = new Watcher();
      HandoffClient a = client(server.url(), "jack", "laptop", wa, group);
      HandoffClient b = client(server.url(), "jack", "phone", wb, group);

      a.document("cart").set("items", text("1")).get(10, TimeUnit.SECONDS);
      wb.signal.await("phone has cart v1", () -> b.lastVersion("cart") == 1);
      b.dropConnection();
      wb.signal.await("phone reconnected", () -> wb.count("CONNECTED") == 2);

      a.close();
      b.close();
      assertTrue(!group.isShuttingDown(), "a shared group outlives its clients");
    } finally {
      group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }
  }

  @Test
  void aGroupThatIsNeitherNioNorEpollIsRefused() {
    EventLoopGroup group = new DefaultEventLoopGroup(1);
    try {
      IllegalArgumentException e =
          assertThrows(
              IllegalArgumentException.class, () -> HandoffClient.builder().eventLoopGroup(group));
      assertTrue(e.getMessage().contains("NIO or epoll"), e.getMessage());
    } finally {
      group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }
  }
}
