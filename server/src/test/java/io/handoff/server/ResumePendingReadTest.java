package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.bus.v1.UserSignal;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.Hello;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.server.devices.ApprovalConfig;
import io.handoff.server.devices.ApprovalStore;
import io.handoff.server.engine.Engine;
import io.handoff.server.engine.ForwardingEngine;
import io.handoff.server.engine.ResumeStore;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.memory.MemoryEngine;
import io.handoff.server.engine.redis.RedisEngine;
import io.handoff.server.sync.Broker;
import io.handoff.server.sync.DocumentEvent;
import io.handoff.server.sync.FollowFilter;
import io.lettuce.core.KillArgs;
import io.lettuce.core.api.StatefulRedisConnection;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A resume reads, in its one store call, whether the user has sign-in requests pending; the Welcome
 * reads them only if it found some, or may have missed one since: over real sockets and HTTP with
 * real tokens, on the in-memory engine and on a real Redis. The node's engine is the real one,
 * under a wrapper that counts the node's reads of what is pending, can hold a resume's answer after
 * its read, and tells when the user's approval signals (or the broker's word that it may have lost
 * some) reached the node's sessions.
 */
class ResumePendingReadTest {
  private final AppBackend app = new AppBackend();
  private final Nodes nodes = new Nodes();

  @AfterEach
  void stop() {
    nodes.close();
  }

  private Watched memory() {
    return new Watched(new MemoryEngine(StoreLimits.builder().build(), Clock.systemUTC()));
  }

  private Watched redis(String url) {
    return new Watched(
        RedisEngine.connect(url, nodes.prefix, StoreLimits.builder().build(), Clock.systemUTC()));
  }

  private HandoffServer node(Watched engine) throws Exception {
    return nodes.start(
        "n1",
        engine,
        b ->
            // The test's HTTP client keeps its connection: the cut of connections that never
            // upgrade must not race its reuse.
            b.handshakeTimeout(Duration.ofMinutes(5))
                .tokens(app.tokens().build())
                .approvals(
                    ApprovalConfig.builder()
                        .newDeviceApproval(true)
                        .pollInterval(Duration.ofSeconds(1))
                        .approvalTtl(Duration.ofMinutes(2))
                        .build()));
  }

  private String signedIn(HttpApi api, String user, String device) {
    HttpApi.Answer a = api.signIn(app.identity(user), device, "My " + device, "ios");
    assertEquals(201, a.status(), a.toString());
    return a.field("access_token");
  }

  /** A new device's sign-in, held for approval: its approval id. */
  private String held(HttpApi api, String user, String device) {
    HttpApi.Answer a = api.signIn(app.identity(user), device, "New " + device, "tv");
    assertEquals(202, a.status(), a.toString());
    return a.field("approval_id");
  }

  private static ServerFrame promptFor(TestDevice d, String approvalId) {
    return d.next(
        f ->
            f.hasApprovalPrompt()
                && f.getApprovalPrompt().getRequest().getApprovalId().equals(approvalId));
  }

  @Test
  void aSignInRequestedBetweenTheResumesReadAndItsWelcomePromptsTheDeviceOnMemory()
      throws Exception {
    requestedBetweenReadAndWelcome(memory());
  }

  @Test
  void aSignInRequestedBetweenTheResumesReadAndItsWelcomePromptsTheDeviceOnRedis()
      throws Exception {
    requestedBetweenReadAndWelcome(redis(RedisProcess.sharedUrl()));
  }

  /**
   * The resume's read finds nothing pending; a new device then asks to sign in, and its signal
   * reaches the phone's session before the Welcome (when it is not shown): the phone is prompted
   * all the same.
   */
  private void requestedBetweenReadAndWelcome(Watched engine) throws Exception {
    HandoffServer node = node(engine);
    HttpApi api = new HttpApi(node.port());
    String token = signedIn(api, "ada", "phone");
    CompletableFuture<ResumedAnswer> read = engine.holdNextResume();
    TestDevice phone = nodes.add(TestDevice.connect(node.port(), token));
    long hello = phone.send(ClientFrame.newBuilder().setHello(Hello.getDefaultInstance()));
    assertEquals(0, read.get(10, TimeUnit.SECONDS).pending(), "nothing pending at the read");

    String id = held(api, "ada", "tv");
    // The hub handed the signal to the phone's session (a task on its event loop) before the
    // resume's answer is let through: the Welcome's task runs after it.
    Conditions.await(
        "the request's signal reached the phone's session",
        () -> engine.prompted.contains(id),
        Duration.ofSeconds(10));
    engine.release();

    phone.next(f -> f.hasWelcome() && f.getRequestId() == hello);
    ServerFrame prompt = promptFor(phone, id);
    assertEquals("tv", prompt.getApprovalPrompt().getRequest().getDeviceId());
  }

  /**
   * The resume's read finds nothing pending; a request is then stored with its signal lost (as
   * while the node's subscription is down), and the node, subscribed again, tells the phone's
   * session before its Welcome that it may have lost signals: the Welcome reads, and prompts.
   */
  @Test
  void aSignInWhoseSignalWasLostBeforeTheWelcomePromptsTheDeviceOnRedis() throws Exception {
    RedisProcess redis = nodes.add(RedisProcess.startInMemory());
    StatefulRedisConnection<String, String> control = nodes.control(redis.url());
    Watched engine = redis(redis.url());
    HandoffServer node = node(engine);
    String token = signedIn(new HttpApi(node.port()), "di", "phone");
    CompletableFuture<ResumedAnswer> read = engine.holdNextResume();
    TestDevice phone = nodes.add(TestDevice.connect(node.port(), token));
    long hello = phone.send(ClientFrame.newBuilder().setHello(Hello.getDefaultInstance()));
    assertEquals(0, read.get(10, TimeUnit.SECONDS).pending(), "nothing pending at the read");

    long now = System.currentTimeMillis();
    ApprovalStore.Request lost =
        new ApprovalStore.Request(
            "lost-signal",
            "new_device",
            "di",
            "tv",
            "TV",
            "tv",
            "127.0.0.1",
            now,
            now + Duration.ofMinutes(2).toMillis(),
            1_000,
            "0".repeat(64),
            ApprovalStore.State.PENDING,
            "",
            0);
    assertEquals(
        ApprovalStore.Created.CREATED,
        engine
            .approvals()
            .create(lost, new ApprovalStore.Bounds(100, 10, 10))
            .get(10, TimeUnit.SECONDS));
    control.sync().clientKill(KillArgs.Builder.typePubsub());
    Conditions.await(
        "the phone's session told that signals may have been lost",
        () -> engine.lossesTold.get() > 0,
        Duration.ofSeconds(20));
    engine.release();

    phone.next(f -> f.hasWelcome() && f.getRequestId() == hello);
    assertEquals(
        "TV", promptFor(phone, "lost-signal").getApprovalPrompt().getRequest().getDeviceName());
  }

  @Test
  void aResumeThatFindsNothingPendingMakesNoSecondReadOnMemory() throws Exception {
    Watched engine = memory();
    HandoffServer node = node(engine);
    HttpApi api = new HttpApi(node.port());
    String token = signedIn(api, "bo", "phone");

    TestDevice phone = nodes.add(TestDevice.connect(node.port(), token));
    phone.hello();
    phone.untilPong(); // The Welcome's task is over: a read it made was sent.
    assertEquals(0, engine.pendingReads.get(), "no read of what is pending");

    // With a request pending, the resume finds it and the Welcome reads and prompts for it.
    String id = held(api, "bo", "tv");
    promptFor(phone, id);
    phone.close();
    TestDevice again = nodes.add(TestDevice.connect(node.port(), token));
    again.hello();
    promptFor(again, id);
    assertEquals(1, engine.pendingReads.get(), "one read, after the Welcome of the second resume");
  }

  @Test
  void aResumeThatFindsNothingPendingSendsRedisNoSecondCommand() throws Exception {
    RedisProcess redis = nodes.add(RedisProcess.startInMemory());
    StatefulRedisConnection<String, String> control = nodes.control(redis.url());
    Watched engine = redis(redis.url());
    HandoffServer node = node(engine);
    HttpApi api = new HttpApi(node.port());
    String token = signedIn(api, "cy", "phone");
    // A resume of another device first: the script is loaded, and the count of ZRANGEBYSCORE calls
    // one resume script makes (Redis counts those a script makes too) is known.
    long before = zrangebyscoreCalls(control);
    engine.resume(probe("cy")).get(10, TimeUnit.SECONDS);
    long byTheScript = zrangebyscoreCalls(control) - before;

    before = zrangebyscoreCalls(control);
    TestDevice phone = nodes.add(TestDevice.connect(node.port(), token));
    phone.hello();
    // A write acked: Redis ran every command the node sent before it from the phone's loop.
    assertTrue(phone.answerTo(phone.write("notes", 1, "f", "v")).hasAck());
    assertEquals(
        byTheScript, zrangebyscoreCalls(control) - before, "the resume script's and no more");
    assertEquals(0, engine.pendingReads.get());

    // With a request pending, the Welcome reads the user's pending set after the script.
    String id = held(api, "cy", "tv");
    promptFor(phone, id);
    phone.close();
    before = zrangebyscoreCalls(control);
    TestDevice again = nodes.add(TestDevice.connect(node.port(), token));
    again.hello();
    promptFor(again, id);
    assertEquals(byTheScript + 1, zrangebyscoreCalls(control) - before);
    assertEquals(1, engine.pendingReads.get());
  }

  /** A resume of a device of {@code user} that no socket has. */
  private static ResumeStore.Request probe(String user) {
    return new ResumeStore.Request(
        user, "probe", "", FollowFilter.all(), List.of(), 99, Duration.ofSeconds(30), 4);
  }

  private static final Pattern ZRANGEBYSCORE =
      Pattern.compile("cmdstat_zrangebyscore:calls=(\\d+),");

  /** How many ZRANGEBYSCORE commands the test's Redis ran, in scripts too. */
  private static long zrangebyscoreCalls(StatefulRedisConnection<String, String> control) {
    Matcher m = ZRANGEBYSCORE.matcher(control.sync().info("commandstats"));
    return m.find() ? Long.parseLong(m.group(1)) : 0;
  }

  /** A resume's answer as the wrapper saw it. */
  record ResumedAnswer(int pending) {}

  /**
   * The real engine, counting the node's reads of pending requests ({@link ApprovalStore#pending}),
   * holding the answer of the next resume when asked, and noting each approval prompt signal, and
   * each possible loss, once the hub took it (the node's sessions then have it as a task on their
   * loops).
   */
  private static final class Watched extends ForwardingEngine {
    final AtomicInteger pendingReads = new AtomicInteger();
    final Set<String> prompted = ConcurrentHashMap.newKeySet();
    final AtomicInteger lossesTold = new AtomicInteger();
    private final ApprovalStore approvals;
    private final Broker broker;
    private volatile CompletableFuture<ResumedAnswer> read;
    private volatile CompletableFuture<Void> letThrough;
    private volatile boolean holdNext;

    Watched(Engine real) {
      super(real);
      ApprovalStore store = real.approvals();
      this.approvals =
          (ApprovalStore)
              Proxy.newProxyInstance(
                  ApprovalStore.class.getClassLoader(),
                  new Class<?>[] {ApprovalStore.class},
                  (proxy, method, args) -> {
                    if (method.getName().equals("pending")) {
                      pendingReads.incrementAndGet();
                    }
                    try {
                      return method.invoke(store, args);
                    } catch (InvocationTargetException e) {
                      throw e.getCause();
                    }
                  });
      this.broker = new Noting(real.broker());
    }

    @Override
    public ApprovalStore approvals() {
      return approvals;
    }

    @Override
    public Broker broker() {
      return broker;
    }

    /** Holds the next resume's answer until {@link #release}; completes once it was read. */
    CompletableFuture<ResumedAnswer> holdNextResume() {
      letThrough = new CompletableFuture<>();
      read = new CompletableFuture<>();
      holdNext = true;
      return read;
    }

    /** Lets the held resume's answer through to the node, from this thread. */
    void release() {
      letThrough.complete(null);
    }

    @Override
    public CompletableFuture<Resumed> resume(Request request) {
      if (!holdNext) {
        return delegate().resume(request);
      }
      holdNext = false;
      CompletableFuture<Void> gate = letThrough;
      CompletableFuture<ResumedAnswer> seen = read;
      return delegate()
          .resume(request)
          .thenCompose(
              r -> {
                seen.complete(new ResumedAnswer(r.pendingApprovals()));
                return gate.thenApply(v -> r);
              });
    }

    /** The real broker, noting the approval prompts it hands to the hub. */
    private final class Noting implements Broker {
      private final Broker real;

      Noting(Broker real) {
        this.real = real;
      }

      @Override
      public Subscription subscribe(String userId, Listener listener) {
        return real.subscribe(
            userId,
            new Listener() {
              @Override
              public void onEvent(DocumentEvent event) {
                listener.onEvent(event);
              }

              @Override
              public void onSignal(UserSignal signal) {
                listener.onSignal(signal);
                if (signal.hasApprovalPrompted()) {
                  prompted.add(signal.getApprovalPrompted().getRequest().getApprovalId());
                }
              }

              @Override
              public CompletableFuture<?> onPossibleLoss() {
                CompletableFuture<?> rereads = listener.onPossibleLoss();
                lossesTold.incrementAndGet();
                return rereads;
              }
            });
      }

      @Override
      public void publish(DocumentEvent event) {
        real.publish(event);
      }

      @Override
      public CompletableFuture<?> signal(String userId, UserSignal signal) {
        return real.signal(userId, signal);
      }

      @Override
      public void useTime(Scheduler time) {
        real.useTime(time);
      }

      @Override
      public void close() {
        real.close();
      }
    }
  }
}
