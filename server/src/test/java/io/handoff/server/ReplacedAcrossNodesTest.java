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
 * As {@link ReplacedByOwnAttemptTest}, with the two connections on two nodes of one Redis, as
 * behind a load balancer: the connection replaced through the other node's presence entry is told
 * the Hello instance that entry keeps, and the Java client whose live connection on one node is
 * replaced by an attempt of its own set up on the other reconnects, while one replaced by another
 * instance of the app stops. The attempt left is a raw WebSocket carrying the client's instance.
 */
class ReplacedAcrossNodesTest {
  private static final long WAIT_SECONDS = 20;

  private final Nodes nodes = new Nodes();
  private final String user = "u-" + UUID.randomUUID();
  private final BlockingQueue<String> states = new LinkedBlockingQueue<>();
  private HandoffServer one;
  private HandoffServer two;
  private UpgradeProxy proxy;

  @BeforeEach
  void start() throws Exception {
    one = nodes.redis(RedisProcess.sharedUrl(), "one");
    two = nodes.redis(RedisProcess.sharedUrl(), "two");
    // The client reaches node two, through a proxy that shows its Hello.
    proxy = nodes.add(new UpgradeProxy(two.port(), UnaryOperator.identity(), UpgradeProxy::asIs));
  }

  @AfterEach
  void stop() {
    nodes.close();
  }

  @Test
  void aConnectionReplacedThroughAnotherNodeIsToldTheInstanceThatTookOver() {
    TestDevice onTwo = nodes.add(TestDevice.connect(two.port(), TestServer.token(user, "phone")));
    onTwo.hello(Hello.newBuilder().setInstance(11).build());
    TestDevice onOne = nodes.add(TestDevice.connect(one.port(), TestServer.token(user, "phone")));
    onOne.hello(Hello.newBuilder().setInstance(-22).build());

    Disconnect d = onTwo.next(ServerFrame::hasDisconnect).getDisconnect();
    assertEquals(CloseCode.REPLACED.code(), d.getCode(), d.getReason());
    assertEquals(-22, d.getReplacedByInstance(), "the instance that took over, on node one");
    assertEquals(CloseCode.REPLACED.code(), onTwo.awaitClose());
  }

  @Test
  void aClientReplacedThroughAnotherNodeByAnAttemptOfItsOwnReconnectsAndIsWelcomedAgain()
      throws Exception {
    HandoffClient phone = phone();
    phone.connect().get(WAIT_SECONDS, TimeUnit.SECONDS);
    long instance = instanceOf(proxy.requests.poll(WAIT_SECONDS, TimeUnit.SECONDS));
    assertEquals(
        1L, phone.document("cart").set("a", bytes("1")).get(WAIT_SECONDS, TimeUnit.SECONDS));

    TestDevice left = nodes.add(TestDevice.connect(one.port(), TestServer.token(user, "phone")));
    // Node one sets the attempt the client left up only now: it replaces the live one on node two.
    left.hello(Hello.newBuilder().setInstance(instance).build());
    awaitState("RECONNECTING " + CloseCode.REPLACED.code());
    var held = phone.document("cart").set("b", bytes("2"));
    awaitState("CONNECTED");
    // The client's next connection, on node two again, takes the device back from node one.
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
    SyncResult truth = one.engine().store().read(user, "cart", 0, 0).get(10, TimeUnit.SECONDS);
    assertEquals(3, truth.toVersion());
    assertEquals(List.of("a", "b", "c"), truth.fields().keySet().stream().sorted().toList());
  }

  @Test
  void aClientReplacedThroughAnotherNodeByAnotherInstanceOfTheAppStops() throws Exception {
    HandoffClient phone = phone();
    phone.connect().get(WAIT_SECONDS, TimeUnit.SECONDS);
    long instance = instanceOf(proxy.requests.poll(WAIT_SECONDS, TimeUnit.SECONDS));

    TestDevice other = nodes.add(TestDevice.connect(one.port(), TestServer.token(user, "phone")));
    other.hello(Hello.newBuilder().setInstance(instance + 1).build());
    awaitState("CLOSED " + CloseCode.REPLACED.code());
    assertEquals(ConnectionState.CLOSED, phone.state());
    long id = other.write("cart", 1, "by", "other");
    assertEquals(1, other.answerTo(id).getAck().getVersion());
    assertTrue(other.untilPong().stream().noneMatch(ServerFrame::hasDisconnect));
    assertEquals(List.of(), List.copyOf(proxy.requests), "an attempt after the terminal close");
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
