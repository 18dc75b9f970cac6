package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.Hello;
import io.handoff.protocol.v1.Ping;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.server.engine.Engine;
import io.handoff.server.engine.ForwardingEngine;
import io.handoff.server.engine.NodeIdInUseException;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.redis.RedisEngine;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.codec.StringCodec;
import io.lettuce.core.output.StatusOutput;
import io.lettuce.core.protocol.CommandArgs;
import io.lettuce.core.protocol.CommandType;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.net.http.WebSocketHandshakeException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A reconnect storm against a Redis that holds every script ({@code CLIENT PAUSE WRITE}: the
 * resume's script marks the device online, so it waits; subscriptions and PINGs are answered): the
 * node sends at most its bound of resume reads to the store at once, lets a bounded line wait for
 * them, and closes every Hello past both at once with 4005 UNAVAILABLE, unread. No device is left
 * without an answer, and once Redis answers again every device resumes. On a real Redis process,
 * with 100 devices of 100 users.
 */
class ResumeStormTest {
  private static final int DEVICES = 100;
  private static final int IN_FLIGHT = 8;
  private static final int WAITING = 8;

  private final Nodes nodes = new Nodes();

  @RegisterExtension
  final CapturedLog said = new CapturedLog("io.handoff.server.session.ResumeSlots");

  @AfterEach
  void tearDown() {
    nodes.close();
  }

  @Test
  void aStormAgainstAPausedRedisReadsAtMostTheNodesBoundAndAnswersEveryDevice() throws Exception {
    RedisProcess redis = nodes.add(RedisProcess.start());
    StoreLimits limits = StoreLimits.builder().build();
    CountedResumes engine =
        new CountedResumes(RedisEngine.connect(redis.url(), nodes.prefix, limits));
    HandoffServer node =
        nodes.start(
            "a",
            engine,
            b ->
                b.storeLimits(limits)
                    .connectRatePerAddress(0, 1)
                    // Subscriptions on a connection of their own, not queued behind the held
                    // scripts on the loops' connections: every Hello the node lets through
                    // reaches the store.
                    .redisOnLoops(false)
                    // Every device upgrades before the first says Hello.
                    .handshakeTimeout(Duration.ofMinutes(2))
                    .maxResumes(IN_FLIGHT, WAITING));
    StatefulRedisConnection<String, String> control = nodes.control(redis.url());

    List<TestDevice> devices = new ArrayList<>();
    for (int i = 0; i < DEVICES; i++) {
      devices.add(nodes.add(TestDevice.connect(node.port(), TestServer.token("storm" + i, "p"))));
    }
    client(control, "PAUSE", "60000", "WRITE");
    for (TestDevice d : devices) {
      d.send(ClientFrame.newBuilder().setHello(Hello.getDefaultInstance()));
    }

    // Redis holds every resume script: those the node sent end at the store's timeout, closed
    // with 4005; those past the node's bound and its line are closed at once, unread. None waits
    // for Redis to come back.
    Conditions.await(
        "every device closed while Redis holds its scripts",
        () -> devices.stream().allMatch(TestDevice::isClosed),
        Duration.ofSeconds(60));
    for (TestDevice d : devices) {
      assertEquals(CloseCode.UNAVAILABLE.code(), d.awaitClose());
    }
    long refused = node.stats().resumesRefused.sum();
    String seen =
        engine.peak()
            + " resume reads at the store at once, "
            + engine.ended()
            + " in all, "
            + refused
            + " Hellos refused unread, of "
            + DEVICES;
    System.out.println("resume storm against a paused Redis: " + seen);
    assertTrue(engine.peak() <= IN_FLIGHT, seen);
    assertTrue(refused > 0, seen);
    // Every read the node sent failed at the store's timeout; once they timed out the node sent
    // at most one at a time (RedisPauseResumeTest). The log has a line per 10 s of them, not one
    // per device.
    long lines =
        said.events().stream().filter(e -> e.getFormattedMessage().startsWith("resume of")).count();
    assertTrue(engine.ended() >= IN_FLIGHT, seen);
    assertTrue(lines >= 1 && lines <= engine.ended() / 4, lines + " lines for " + seen);
    assertTrue(node.stats().resumesFailed.sum() >= engine.ended(), "all counted failed: " + seen);

    // Redis answers again (and runs the scripts it held): every device, reconnecting, resumes.
    client(control, "UNPAUSE");
    for (int i = 0; i < DEVICES; i++) {
      try (TestDevice again = TestDevice.connect(node.port(), TestServer.token("storm" + i, "p"))) {
        assertTrue(again.hello().hasWelcome(), "device " + i + " resumes after the storm");
      }
    }
  }

  /**
   * One resume read at a time and one waiting: a third Hello is refused at once; the one waiting
   * leaves before its turn, which passes on (it registers nothing and gives its user's slot back),
   * so the next Hello is read.
   */
  @Test
  void aHelloPastTheLineIsRefusedAndOneThatLeavesWhileWaitingPassesItsTurnOn() throws Exception {
    GatedEngine gated =
        new GatedEngine(
            RedisEngine.connect(
                RedisProcess.sharedUrl(), nodes.prefix, StoreLimits.builder().build()));
    // Three connections per user: a refused or waiting Hello that kept its slot of the user's would
    // leave none for the last device.
    HandoffServer node = nodes.start("a", gated, b -> b.maxResumes(1, 1).maxConnectionsPerUser(3));
    gated.holdSyncAnswers();
    TestDevice first = nodes.add(TestDevice.connect(node.port(), TestServer.token("u", "a")));
    long firstHello = first.send(ClientFrame.newBuilder().setHello(Hello.getDefaultInstance()));
    Conditions.await(
        "the first resume read", () -> gated.heldSyncAnswers() == 1, Duration.ofSeconds(10));
    TestDevice waiting = nodes.add(TestDevice.connect(node.port(), TestServer.token("u", "b")));
    waiting.send(ClientFrame.newBuilder().setHello(Hello.getDefaultInstance()));
    // Its Pong comes once the node has handled the Hello before it: the Hello waits for its turn.
    long ping = waiting.send(ClientFrame.newBuilder().setPing(Ping.getDefaultInstance()));
    assertTrue(waiting.next(f -> f.getRequestId() == ping).hasPong());
    TestDevice third = nodes.add(TestDevice.connect(node.port(), TestServer.token("u", "c")));
    third.send(ClientFrame.newBuilder().setHello(Hello.getDefaultInstance()));
    assertEquals(CloseCode.UNAVAILABLE.code(), third.awaitClose());
    assertEquals(1, node.stats().resumesRefused.sum());

    waiting.close();
    Conditions.await(
        "the waiting device's connection closed on the node",
        () -> node.stats().connectionsClosed.sum() == 2,
        Duration.ofSeconds(10));
    gated.releaseSyncAnswers();
    assertTrue(first.next(f -> f.getRequestId() == firstHello).hasWelcome());
    TestDevice next = nodes.add(TestDevice.connect(node.port(), TestServer.token("u", "d")));
    assertTrue(next.hello().hasWelcome(), "the turn of the device that left passed on");
    assertEquals(2, node.hub().sessions(), "only the two welcomed devices are the user's sessions");
    assertEquals(0, gated.heldSyncAnswers());
  }

  /**
   * A device whose new connection waits in the line while the node still holds its old one (the
   * device saw its connection die first) takes one of its user's slots, not two: the new one
   * replaces the old at its turn. Another device of the user then still fits, as it would had the
   * Hello's resume been read at once; it is not refused with the terminal 4505.
   */
  @Test
  void aDeviceWhoseNewConnectionWaitsInTheLineHoldsOneOfItsUsersSlots() throws Exception {
    GatedEngine gated =
        new GatedEngine(
            RedisEngine.connect(
                RedisProcess.sharedUrl(), nodes.prefix, StoreLimits.builder().build()));
    HandoffServer node = nodes.start("a", gated, b -> b.maxResumes(1, 4).maxConnectionsPerUser(2));
    TestDevice old = nodes.add(TestDevice.connect(node.port(), TestServer.token("u", "a")));
    assertTrue(old.hello().hasWelcome());
    gated.holdSyncAnswers();
    // Another user's resume holds the node's one slot.
    TestDevice other = nodes.add(TestDevice.connect(node.port(), TestServer.token("v", "x")));
    other.send(ClientFrame.newBuilder().setHello(Hello.getDefaultInstance()));
    Conditions.await(
        "the other user's resume read", () -> gated.heldSyncAnswers() == 1, Duration.ofSeconds(10));
    // Device a comes back on a new connection while the node still holds its old one.
    TestDevice again = nodes.add(TestDevice.connect(node.port(), TestServer.token("u", "a")));
    again.send(ClientFrame.newBuilder().setHello(Hello.getDefaultInstance()));
    long ping = again.send(ClientFrame.newBuilder().setPing(Ping.getDefaultInstance()));
    assertTrue(again.next(f -> f.getRequestId() == ping).hasPong(), "its Hello waits in line");

    TestDevice second = nodes.add(TestDevice.connect(node.port(), TestServer.token("u", "b")));
    second.send(ClientFrame.newBuilder().setPing(Ping.getDefaultInstance()));
    ServerFrame[] answer = new ServerFrame[1];
    Conditions.await(
        "device b answered, or told to go",
        () -> {
          ServerFrame f = second.poll(10);
          if (f != null && (f.hasPong() || f.hasDisconnect())) {
            answer[0] = f;
          }
          return answer[0] != null || second.isClosed();
        },
        Duration.ofSeconds(10));
    assertTrue(answer[0] != null && answer[0].hasPong(), "device b refused: " + answer[0]);

    gated.releaseSyncAnswers();
    assertEquals(CloseCode.REPLACED.code(), old.awaitClose());
    assertTrue(second.hello().hasWelcome());
    assertEquals(3, node.hub().sessions(), "a's new connection, b, and the other user's x");
  }

  /**
   * Upgrades with server-issued tokens each ask the store whether their device session lives before
   * the 101: with the store's answers held, the node asks for at most its bound at once and answers
   * the upgrades past it 503 at once, unasked.
   */
  @Test
  void upgradesPastTheNodesBoundOfSessionChecksAreAnswered503Unasked() throws Exception {
    AppBackend app = new AppBackend();
    GatedEngine gated =
        new GatedEngine(
            RedisEngine.connect(
                RedisProcess.sharedUrl(), nodes.prefix, StoreLimits.builder().build()));
    HandoffServer node =
        nodes.start(
            "a",
            gated,
            b ->
                b.tokens(app.tokens().build())
                    .connectRatePerAddress(0, 1)
                    // The held upgrades stay open until the store answers them (the JDK client
                    // would send one closed by the handshake limit again).
                    .handshakeTimeout(Duration.ofMinutes(2))
                    .maxResumes(IN_FLIGHT, WAITING));
    gated.holdSessionStatuses(Integer.MAX_VALUE);
    int upgrades = 40;
    HttpClient http = HttpClient.newHttpClient();
    List<CompletableFuture<WebSocket>> answers = new ArrayList<>();
    for (int i = 0; i < upgrades; i++) {
      String token =
          app.access(AppBackend.accessClaims("up" + i, "p", "sid" + i, Duration.ofMinutes(5)));
      answers.add(
          http.newWebSocketBuilder()
              .header("Authorization", "Bearer " + token)
              .buildAsync(
                  URI.create("ws://127.0.0.1:" + node.port() + "/ws"),
                  new WebSocket.Listener() {}));
    }
    Conditions.await(
        "the upgrades past the bound answered while the store holds the others",
        () -> answers.stream().filter(CompletableFuture::isDone).count() == upgrades - IN_FLIGHT,
        Duration.ofSeconds(30));
    assertEquals(IN_FLIGHT, gated.heldSessionStatuses());
    gated.releaseSessionStatuses();
    int refused = 0;
    for (CompletableFuture<WebSocket> a : answers) {
      ExecutionException e =
          assertThrows(ExecutionException.class, () -> a.get(10, TimeUnit.SECONDS));
      int status = ((WebSocketHandshakeException) e.getCause()).getResponse().statusCode();
      // 503 past the bound; 401 for the others, whose sessions the store does not have.
      assertTrue(status == 503 || status == 401, "HTTP " + status);
      refused += status == 503 ? 1 : 0;
    }
    assertEquals(upgrades - IN_FLIGHT, refused);
  }

  private static void client(StatefulRedisConnection<String, String> c, String... args) {
    CommandArgs<String, String> a = new CommandArgs<>(StringCodec.UTF8);
    for (String s : args) {
      a.add(s);
    }
    c.sync().dispatch(CommandType.CLIENT, new StatusOutput<>(StringCodec.UTF8), a);
  }

  /** The real engine, counting its resume calls not yet answered, and the most at once. */
  private static final class CountedResumes extends ForwardingEngine {
    private final AtomicInteger inFlight = new AtomicInteger();
    private final AtomicInteger peak = new AtomicInteger();
    private final AtomicInteger ended = new AtomicInteger();

    CountedResumes(Engine real) {
      super(real);
    }

    int peak() {
      return peak.get();
    }

    /** Resume calls answered or failed so far. */
    int ended() {
      return ended.get();
    }

    @Override
    public CompletableFuture<Resumed> resume(Request request) {
      peak.accumulateAndGet(inFlight.incrementAndGet(), Math::max);
      return delegate()
          .resume(request)
          .whenComplete(
              (r, err) -> {
                inFlight.decrementAndGet();
                ended.incrementAndGet();
              });
    }

    // As an engine that shares no store: the node claims no node id through it.

    @Override
    public Runnable claimNode(String nodeId, Consumer<NodeIdInUseException> taken) {
      return () -> {};
    }

    @Override
    public boolean holdsNode(String nodeId) {
      return true;
    }

    @Override
    public boolean confirmsNode(String nodeId) {
      return true;
    }
  }
}
