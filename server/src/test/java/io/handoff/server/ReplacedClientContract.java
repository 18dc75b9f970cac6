package io.handoff.server;

import static io.handoff.server.HttpHeads.header;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.handoff.client.ConnectionState;
import io.handoff.client.HandoffClient;
import io.handoff.client.HandoffListener;
import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.Disconnect;
import io.handoff.protocol.v1.Hello;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.server.sync.SyncResult;
import java.util.Base64;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The Java client after a REPLACED, written once: it reconnects after one by an attempt of its own
 * (one it left before its 101, which a node set up after the next one) and stops, as before, after
 * one by another instance of the app with the same device id. The attempt left is played by a raw
 * WebSocket carrying the client's instance, which makes its late arrival certain; the client's
 * instance is read from the Hello in its upgrade request, through a proxy that passes everything on
 * as it is. Subclasses say where the client and the other connection reach: one node, or two nodes
 * of one Redis as behind a load balancer.
 */
abstract class ReplacedClientContract {
  static final long WAIT_SECONDS = 20;

  final Nodes nodes = new Nodes();
  final String user = "u-" + UUID.randomUUID();
  private final BlockingQueue<String> states = new LinkedBlockingQueue<>();
  private HandoffServer clientsNode;
  private HandoffServer othersNode;
  private UpgradeProxy proxy;

  /** The node the client reaches (through the proxy), then the one the other connection reaches. */
  abstract List<HandoffServer> startNodes() throws Exception;

  @BeforeEach
  void startContract() throws Exception {
    List<HandoffServer> started = startNodes();
    clientsNode = started.get(0);
    othersNode = started.get(1);
    proxy =
        nodes.add(
            new UpgradeProxy(clientsNode.port(), UnaryOperator.identity(), UpgradeProxy::asIs));
  }

  @AfterEach
  void stopContract() {
    nodes.close();
  }

  @Test
  void aClientReplacedByAnAttemptOfItsOwnReconnectsAndIsWelcomedAgain() throws Exception {
    HandoffClient phone = phone();
    phone.connect().get(WAIT_SECONDS, TimeUnit.SECONDS);
    long instance = instanceOf(proxy.requests.poll(WAIT_SECONDS, TimeUnit.SECONDS));
    assertEquals(
        1L, phone.document("cart").set("a", bytes("1")).get(WAIT_SECONDS, TimeUnit.SECONDS));

    TestDevice left = nodes.add(TestDevice.connect(othersNode.port(), token()));
    // The node sets the attempt the client left up only now: it replaces the live connection.
    left.hello(Hello.newBuilder().setInstance(instance).build());
    awaitState("RECONNECTING " + CloseCode.REPLACED.code());
    // Made while the client reconnects: held, and applied on the next connection.
    var held = phone.document("cart").set("b", bytes("2"));
    awaitState("CONNECTED");
    // The client's next connection takes the device back from the attempt it left.
    Disconnect d = left.next(ServerFrame::hasDisconnect).getDisconnect();
    assertEquals(CloseCode.REPLACED.code(), d.getCode(), d.getReason());
    assertEquals(instance, d.getReplacedByInstance());
    assertEquals(2L, held.get(WAIT_SECONDS, TimeUnit.SECONDS));
    assertEquals(
        instance,
        instanceOf(proxy.requests.poll(WAIT_SECONDS, TimeUnit.SECONDS)),
        "the next attempt's Hello carries the same instance");
    assertEquals(
        3L, phone.document("cart").set("c", bytes("3")).get(WAIT_SECONDS, TimeUnit.SECONDS));
    assertEquals(ConnectionState.CONNECTED, phone.state());
    SyncResult truth =
        clientsNode.engine().store().read(user, "cart", 0, 0).get(10, TimeUnit.SECONDS);
    assertEquals(3, truth.toVersion());
    assertEquals(List.of("a", "b", "c"), truth.fields().keySet().stream().sorted().toList());
  }

  @Test
  void aClientReplacedByAnotherInstanceOfTheAppStops() throws Exception {
    HandoffClient phone = phone();
    phone.connect().get(WAIT_SECONDS, TimeUnit.SECONDS);
    long instance = instanceOf(proxy.requests.poll(WAIT_SECONDS, TimeUnit.SECONDS));

    TestDevice other = nodes.add(TestDevice.connect(othersNode.port(), token()));
    other.hello(Hello.newBuilder().setInstance(instance + 1).build());
    awaitState("CLOSED " + CloseCode.REPLACED.code());
    assertEquals(ConnectionState.CLOSED, phone.state());
    // The other instance keeps the device: the client did not come back for it.
    long id = other.write("cart", 1, "by", "other");
    assertEquals(1, other.answerTo(id).getAck().getVersion());
    assertTrue(other.untilPong().stream().noneMatch(ServerFrame::hasDisconnect));
    assertEquals(List.of(), List.copyOf(proxy.requests), "an attempt after the terminal close");
  }

  /** A token of the user's "phone", which every connection of these tests is. */
  String token() {
    return TestServer.token(user, "phone");
  }

  private HandoffClient phone() {
    return nodes.add(
        TestServer.clientBuilder(proxy.url(), user, "phone")
            .followAll()
            .listener(
                new HandoffListener() {
                  @Override
                  public void onStateChanged(ConnectionState state, int closeCode, String reason) {
                    states.add(state + (closeCode == 0 ? "" : " " + closeCode));
                  }
                })
            .build());
  }

  private void awaitState(String expected) throws InterruptedException {
    String seen;
    do {
      seen = states.poll(WAIT_SECONDS, TimeUnit.SECONDS);
      assertNotNull(seen, "state " + expected + " not reached");
    } while (!seen.equals(expected));
  }

  private static long instanceOf(String request) throws Exception {
    assertNotNull(request, "no attempt");
    String hello = header(request, "handoff-hello");
    assertNotNull(hello, "the request carries no Hello:\n" + request);
    long instance =
        ClientFrame.parseFrom(Base64.getUrlDecoder().decode(hello)).getHello().getInstance();
    assertNotEquals(0, instance, "the client's Hello carries no instance");
    return instance;
  }

  private static ByteString bytes(String s) {
    return ByteString.copyFromUtf8(s);
  }
}
