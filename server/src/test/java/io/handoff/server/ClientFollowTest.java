package io.handoff.server;

import static io.handoff.server.HttpHeads.header;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.client.ConnectionState;
import io.handoff.client.DocumentChange;
import io.handoff.client.HandoffClient;
import io.handoff.client.HandoffException;
import io.handoff.client.HandoffListener;
import io.handoff.protocol.v1.ClientFrame;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The Java client's follow set changed at run time ({@link HandoffClient#follow}, {@link
 * HandoffClient#unfollow}, {@link HandoffClient#followAll}), against a real node over real sockets:
 * what the node then pushes to the device, what the next Hello carries, and a change made while the
 * client connects.
 */
class ClientFollowTest {
  private static final long WAIT_SECONDS = 10;
  private static final String USER = "follow-user";

  private TestServer server;
  private UpgradeProxy proxy;
  private ChaosProxy chaos;
  private final List<HandoffClient> clients = new ArrayList<>();
  private final BlockingQueue<ConnectionState> states = new LinkedBlockingQueue<>();
  private final List<DocumentChange> changes = new CopyOnWriteArrayList<>();
  private final List<String> errors = new CopyOnWriteArrayList<>();

  @BeforeEach
  void start() throws Exception {
    server = TestServer.start();
  }

  @AfterEach
  void stop() throws Exception {
    clients.forEach(HandoffClient::close);
    if (proxy != null) {
      proxy.close();
    }
    if (chaos != null) {
      chaos.close();
    }
    server.close();
  }

  @Test
  void aDocumentFollowedAtRunTimeReceivesAnotherDevicesWrites() throws Exception {
    HandoffClient phone = phone(server.url(), b -> b.followDocuments("player"));
    phone.connect().get(WAIT_SECONDS, TimeUnit.SECONDS);
    HandoffClient tv = tv();
    // Not followed yet: the tv's later write to a followed document comes, this one does not.
    write(tv, "draft/42");
    write(tv, "player");
    awaitVersion(phone, "player", 1);
    assertEquals(0, phone.lastVersion("draft/42"), "a document not followed was pushed");

    phone.follow(List.of("draft/42"), List.of()).get(WAIT_SECONDS, TimeUnit.SECONDS);
    write(tv, "draft/42");
    awaitVersion(phone, "draft/42", 2);
    assertEquals(List.of(), errors, "errors told to the app");
  }

  @Test
  void noDeltaOfAnUnfollowedDocumentArrivesAfterTheUnfollowNorAfterAReconnect() throws Exception {
    HandoffClient phone = phone(server.url(), b -> b.followDocuments("player", "draft/42"));
    phone.connect().get(WAIT_SECONDS, TimeUnit.SECONDS);
    HandoffClient tv = tv();
    write(tv, "draft/42");
    awaitVersion(phone, "draft/42", 1);

    phone.unfollow(List.of("draft/42"), List.of()).get(WAIT_SECONDS, TimeUnit.SECONDS);
    int seen = changesOf("draft/42");
    write(tv, "draft/42");
    write(tv, "player");
    awaitVersion(phone, "player", 1);
    assertEquals(1, phone.lastVersion("draft/42"), "a Delta after the unfollow");
    assertEquals(seen, changesOf("draft/42"), "a change after the unfollow");

    // The next Hello carries the set without it.
    phone.dropConnection();
    awaitState(ConnectionState.RECONNECTING);
    awaitState(ConnectionState.CONNECTED);
    write(tv, "draft/42");
    write(tv, "player");
    awaitVersion(phone, "player", 2);
    assertEquals(1, phone.lastVersion("draft/42"), "pushed after the reconnect");
    assertEquals(seen, changesOf("draft/42"), "a change after the reconnect");
    assertEquals(List.of(), errors, "errors told to the app");
  }

  @Test
  void aFollowOverTheLimitIsRefusedAndChangesNothing() throws Exception {
    String[] followed = new String[256];
    for (int i = 0; i < followed.length; i++) {
      followed[i] = "doc-" + i;
    }
    HandoffClient phone = phone(server.url(), b -> b.followDocuments(followed));
    phone.connect().get(WAIT_SECONDS, TimeUnit.SECONDS);

    IllegalArgumentException over =
        assertThrows(
            IllegalArgumentException.class, () -> phone.follow(List.of("extra"), List.of()));
    assertEquals(
        "follow: following 257 names and prefixes; the limit is 256 follow entries",
        over.getMessage());
    IllegalArgumentException all = assertThrows(IllegalArgumentException.class, phone::followAll);
    assertTrue(all.getMessage().startsWith("followAll: following 257"), all.getMessage());
    IllegalArgumentException bad =
        assertThrows(IllegalArgumentException.class, () -> phone.unfollow(List.of(""), List.of()));
    assertEquals("unfollow: a document name must not be empty", bad.getMessage());
    // A name already followed adds no entry.
    phone.follow(List.of("doc-0"), List.of()).get(WAIT_SECONDS, TimeUnit.SECONDS);

    HandoffClient tv = tv();
    write(tv, "extra");
    write(tv, "doc-0");
    awaitVersion(phone, "doc-0", 1);
    assertEquals(0, phone.lastVersion("extra"), "the refused follow reached the node");
    // Nor did it change the next Hello, which the node would refuse.
    phone.dropConnection();
    awaitState(ConnectionState.RECONNECTING);
    awaitState(ConnectionState.CONNECTED);
    write(tv, "doc-0");
    awaitVersion(phone, "doc-0", 2);
    assertEquals(List.of(), errors, "errors told to the app");
  }

  @Test
  void aFollowWhileNotConnectedIsCarriedByTheNextHello() throws Exception {
    HandoffClient tv = tv();
    write(tv, "draft/42");
    HandoffClient phone = phone(server.url(), b -> b.followDocuments("player"));

    CompletableFuture<Void> followed = phone.follow(List.of(), List.of("draft/"));
    followed.get(WAIT_SECONDS, TimeUnit.SECONDS);
    phone.connect().get(WAIT_SECONDS, TimeUnit.SECONDS);
    followsDraftWithoutErrors(phone, tv);
  }

  @Test
  void aFollowWhileTheUpgradeCarryingTheOlderHelloIsUnderWayIsNotLost() throws Exception {
    proxy = new UpgradeProxy(server.port(), UnaryOperator.identity(), UpgradeProxy::asIs);
    HandoffClient phone = phone(proxy.url(), b -> b.followDocuments("player"));
    HandoffClient tv = tv();
    write(tv, "draft/42");

    // The upgrade request carrying the Hello that follows only "player" is at the proxy, which
    // holds its way to the node: the node has not seen the connection, nor numbered it.
    CountDownLatch upstream = proxy.holdNextUpstream();
    phone.connect();
    String first = proxy.requests.poll(WAIT_SECONDS, TimeUnit.SECONDS);
    assertNotNull(first, "no first attempt");
    assertEquals(List.of("player"), carried(first).getHello().getFollow().getDocumentsList());

    phone.follow(List.of("draft/42"), List.of()).get(WAIT_SECONDS, TimeUnit.SECONDS);
    // Left now, the attempt could reach the node after the next one, which the node would then
    // close with the terminal REPLACED (the later connection of a device replaces the earlier):
    // the client would stop for good. It is left at its 101.
    assertEquals(ConnectionState.CONNECTING, phone.state(), "the attempt was left before its 101");
    upstream.countDown();
    String second = proxy.requests.poll(WAIT_SECONDS, TimeUnit.SECONDS);
    assertNotNull(second, "no second attempt");
    assertEquals(
        List.of("player", "draft/42"), carried(second).getHello().getFollow().getDocumentsList());
    awaitState(ConnectionState.RECONNECTING);
    awaitState(ConnectionState.CONNECTED);
    followsDraftWithoutErrors(phone, tv);
    assertEquals(ConnectionState.CONNECTED, phone.state(), "the connection did not last");
  }

  @Test
  void aFollowWhoseAnswerIsLostWithItsConnectionResolvesAndTheNextConnectionFollows()
      throws Exception {
    chaos = new ChaosProxy(server.port());
    HandoffClient phone = phone(chaos.url(), b -> b.followDocuments("player"));
    phone.connect().get(WAIT_SECONDS, TimeUnit.SECONDS);
    HandoffClient tv = tv();
    write(tv, "draft/42");

    // The Follow goes into a link that no longer carries what the phone sends: no answer comes
    // before the connection is dropped (the drop runs on the client's loop after the send).
    chaos.cutUpstreamOfOpenConnections();
    CompletableFuture<Void> followed = phone.follow(List.of("draft/42"), List.of());
    phone.dropConnection();
    followed.get(WAIT_SECONDS, TimeUnit.SECONDS);

    awaitState(ConnectionState.RECONNECTING);
    awaitState(ConnectionState.CONNECTED);
    followsDraftWithoutErrors(phone, tv);
  }

  @Test
  void followsThatTogetherWouldPassTheLimitLostWithTheirConnectionNeverStopTheClient()
      throws Exception {
    chaos = new ChaosProxy(server.port());
    HandoffClient phone = phone(chaos.url(), b -> b.followDocuments("player"));
    phone.connect().get(WAIT_SECONDS, TimeUnit.SECONDS);

    // No answer comes: both would be taken as the connection ends, and the next Hello carry both.
    chaos.cutUpstreamOfOpenConnections();
    CompletableFuture<Void> first = phone.follow(names("a/", 200), List.of());
    CompletableFuture<Void> second = phone.follow(names("b/", 100), List.of());
    ExecutionException refused =
        assertThrows(ExecutionException.class, () -> second.get(WAIT_SECONDS, TimeUnit.SECONDS));
    assertInstanceOf(IllegalArgumentException.class, refused.getCause());
    phone.dropConnection();
    first.get(WAIT_SECONDS, TimeUnit.SECONDS);

    // A Hello of 301 entries would be refused by the node, and the client would stop for good.
    awaitState(ConnectionState.RECONNECTING);
    awaitState(ConnectionState.CONNECTED);
    assertEquals(List.of(), errors, "errors told to the app");
  }

  private static List<String> names(String prefix, int count) {
    return java.util.stream.IntStream.range(0, count).mapToObj(i -> prefix + i).toList();
  }

  private static ClientFrame carried(String request) throws Exception {
    String hello = header(request, "handoff-hello");
    assertNotNull(hello, "the request carries no Hello:\n" + request);
    return ClientFrame.parseFrom(Base64.getUrlDecoder().decode(hello));
  }

  private HandoffClient phone(String url, UnaryOperator<HandoffClient.Builder> follow) {
    HandoffClient.Builder b =
        TestServer.clientBuilder(url, USER, "phone")
            // Longer than any wait here: no attempt is given up for its timeout during a test.
            .connectTimeout(Duration.ofSeconds(3 * WAIT_SECONDS))
            .listener(
                new HandoffListener() {
                  @Override
                  public void onStateChanged(ConnectionState state, int closeCode, String reason) {
                    states.add(state);
                  }

                  @Override
                  public void onChange(DocumentChange change) {
                    changes.add(change);
                  }

                  @Override
                  public void onError(HandoffException error) {
                    errors.add(error.getMessage());
                  }
                });
    HandoffClient c = follow.apply(b).build();
    clients.add(c);
    return c;
  }

  private HandoffClient tv() throws Exception {
    HandoffClient tv = TestServer.clientBuilder(server.url(), USER, "tv").followAll().build();
    clients.add(tv);
    tv.connect().get(WAIT_SECONDS, TimeUnit.SECONDS);
    return tv;
  }

  private static void write(HandoffClient device, String document) throws Exception {
    device.document(document).set("f", new byte[] {1}).get(WAIT_SECONDS, TimeUnit.SECONDS);
  }

  private int changesOf(String document) {
    return (int) changes.stream().filter(c -> c.document().equals(document)).count();
  }

  /**
   * The phone follows draft/42 (tv wrote it once before): it has the version there is, and a write
   * of the tv's reaches it; nothing was told to the app as an error.
   */
  private void followsDraftWithoutErrors(HandoffClient phone, HandoffClient tv) throws Exception {
    awaitVersion(phone, "draft/42", 1);
    write(tv, "draft/42");
    awaitVersion(phone, "draft/42", 2);
    assertEquals(List.of(), errors, "errors told to the app");
  }

  private static void awaitVersion(HandoffClient client, String document, long version) {
    Conditions.await(
        document + " at version " + version + " on the phone",
        () -> client.lastVersion(document) == version,
        Duration.ofSeconds(WAIT_SECONDS));
  }

  private void awaitState(ConnectionState expected) throws InterruptedException {
    TestServer.awaitState(states, expected, WAIT_SECONDS);
  }
}
