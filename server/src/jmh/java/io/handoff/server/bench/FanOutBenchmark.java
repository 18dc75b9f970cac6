package io.handoff.server.bench;

import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.Hello;
import io.handoff.protocol.v1.Write;
import io.handoff.server.Scheduler;
import io.handoff.server.ServerConfig;
import io.handoff.server.ServerStats;
import io.handoff.server.auth.AccessTokenVerifier;
import io.handoff.server.auth.AccessTokens;
import io.handoff.server.auth.Hs256TokenVerifier;
import io.handoff.server.auth.Principal;
import io.handoff.server.auth.SigningKeys;
import io.handoff.server.devices.DeviceSessions;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.memory.MemoryEngine;
import io.handoff.server.handoff.HandoffService;
import io.handoff.server.session.Hub;
import io.handoff.server.session.QueueBudget;
import io.handoff.server.session.Sessions;
import io.handoff.server.transport.ConnectionHandler;
import io.handoff.server.transport.FrameCodec;
import io.handoff.server.transport.HttpRequestHandler;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.EmptyHttpHeaders;
import io.netty.handler.codec.http.websocketx.BinaryWebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocketServerProtocolHandler;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.ResourceLeakDetector;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * One write through the whole node, without sockets: decoded from a WebSocket frame, validated,
 * applied by the memory store, fanned out by the hub to the user's {@code devices} connections (on
 * Netty's EmbeddedChannel, whose loop is the calling thread: the same-loop path), and written by
 * each as a framed delta or, for the writer, its ack. The score is per write; divide by {@code
 * devices} for the cost per delivery.
 *
 * <p>With {@code users} above one, each user has its own {@code devices} connections and the writes
 * go round the users (the load tester's shape: many users, one document each), so what a write
 * leaves behind in the store (history, idempotency records, field values) is spread over as many
 * long-lived structures as in a real node, and the collector pays for it as it would there.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
public class FanOutBenchmark {
  @Param({"1", "3", "8"})
  public int devices;

  @Param({"256"})
  public int payload;

  @Param({"1"})
  public int users;

  private MemoryEngine engine;
  private HandoffService handoff;
  private QueueBudget budget;
  // Each user's connections; the first of each writes.
  private final List<EmbeddedChannel[]> channels = new ArrayList<>();
  private Write.Builder write;
  private long[] seqs;
  private int next;

  @Setup(Level.Trial)
  public void setUp() {
    if (System.getProperty("io.netty.leakDetection.level") == null) {
      // As the server's Main has it (LeakDetection): Netty's default tracking is a cost of its own.
      ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.DISABLED);
    }
    StoreLimits limits = StoreLimits.builder().build();
    engine = new MemoryEngine(limits);
    ServerStats stats = new ServerStats();
    ServerConfig config =
        ServerConfig.builder()
            .port(0)
            .jwtSecret("bench-secret-bench-secret-bench-secret")
            .storeLimits(limits)
            .writeRate(0, 1)
            // Devices that only receive would be closed as idle after two intervals of a long run.
            .heartbeatInterval(Duration.ofHours(1))
            .build();
    handoff = new HandoffService(config, engine, stats, Scheduler.system());
    handoff.start();
    AccessTokens access =
        new AccessTokens(
            SigningKeys.ephemeral(),
            config.tokens().issuer(),
            config.tokens().accessTokenTtl(),
            config.clockSkew(),
            Clock.systemUTC());
    DeviceSessions deviceSessions =
        new DeviceSessions(
            config.tokens(), null, access, engine, "bench", 64, stats, Clock.systemUTC());
    // Large enough never to act: the benchmark is about delivery, not the budget.
    budget = new QueueBudget(1L << 40, "bench");
    Sessions sessions =
        new Sessions(
            config,
            stats,
            Scheduler.system(),
            new Hub(engine.broker()),
            engine.store(),
            engine,
            handoff,
            deviceSessions,
            new AccessTokenVerifier(
                access,
                new Hs256TokenVerifier(config.jwtSecret(), config.clockSkew(), Clock.systemUTC())),
            budget);
    for (int u = 0; u < users; u++) {
      EmbeddedChannel[] user = new EmbeddedChannel[devices];
      for (int i = 0; i < devices; i++) {
        EmbeddedChannel ch = new EmbeddedChannel();
        ch.attr(HttpRequestHandler.PRINCIPAL)
            .set(
                new Principal(
                    users == 1 ? "user" : "user-" + u,
                    "device-" + i,
                    System.currentTimeMillis() + 86_400_000));
        ch.pipeline()
            .addLast("codec", FrameCodec.INSTANCE)
            .addLast(
                "connection",
                new ConnectionHandler(config, stats, Scheduler.system(), sessions.get()));
        ch.pipeline()
            .fireUserEventTriggered(
                new WebSocketServerProtocolHandler.HandshakeComplete(
                    "/ws", EmptyHttpHeaders.INSTANCE, null));
        send(ch, ClientFrame.newBuilder().setRequestId(1).setHello(Hello.getDefaultInstance()));
        user[i] = ch;
      }
      channels.add(user);
      drain(user);
    }
    seqs = new long[users];
    write = Write.newBuilder().setDocument("player").addOps(Frames.op(payload));
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    for (EmbeddedChannel[] user : channels) {
      for (EmbeddedChannel ch : user) {
        ch.finishAndReleaseAll();
      }
    }
    handoff.stop();
    budget.close();
    engine.close();
  }

  /**
   * One write by the first device of the next user: its ack, and a delta to every other device of
   * that user.
   */
  @Benchmark
  public int writeFannedOut() {
    int u = next;
    next = u + 1 == users ? 0 : u + 1;
    long seq = ++seqs[u];
    EmbeddedChannel[] user = channels.get(u);
    send(user[0], ClientFrame.newBuilder().setRequestId(seq).setWrite(write.setClientSeq(seq)));
    return drain(user);
  }

  private static void send(EmbeddedChannel ch, ClientFrame.Builder frame) {
    ch.writeInbound(new BinaryWebSocketFrame(Unpooled.wrappedBuffer(frame.build().toByteArray())));
  }

  /** Runs every connection's pending tasks and releases what it wrote; returns the frame count. */
  private static int drain(EmbeddedChannel[] user) {
    int frames = 0;
    for (EmbeddedChannel ch : user) {
      ch.runPendingTasks();
      Object out;
      while ((out = ch.readOutbound()) != null) {
        ReferenceCountUtil.release(out);
        frames++;
      }
    }
    return frames;
  }
}
