package io.handoff.server.session;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.DocumentSync;
import io.handoff.server.FrameMutator;
import io.handoff.server.Scheduler;
import io.handoff.server.ServerConfig;
import io.handoff.server.ServerStats;
import io.handoff.server.Writes;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.memory.MemoryEngine;
import io.handoff.server.handoff.HandoffService;
import io.handoff.server.sync.SyncResult;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.websocketx.BinaryWebSocketFrame;
import io.netty.util.ResourceLeakDetector;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/**
 * Mutated frames through the real frame codec and session handler (on Netty's EmbeddedChannel, with
 * the in-memory engine) under the PARANOID leak detector. Every frame is released, nothing escapes
 * the pipeline, everything the server sends parses, every close carries a documented code other
 * than INTERNAL_ERROR, the user's state stays within its limits, and a bystander user's state is
 * untouched, and every frame type was sent both valid and mutated. The seed is fixed, so a failure
 * replays.
 *
 * <p>The default suite runs {@value #DEFAULT_FRAMES} frames (a few seconds); the {@code fuzz} Maven
 * profile ({@code ./mvnw -B -Pfuzz verify -pl server -am}) runs a million, or the number set with
 * {@code -Dhandoff.fuzz.frames=N}.
 */
class FrameFuzzTest {
  static final int DEFAULT_FRAMES = 5_000;
  private static final int FRAMES = Integer.getInteger("handoff.fuzz.frames", DEFAULT_FRAMES);
  private static final long SEED = 0x5EED_F00DL;
  private static final StoreLimits LIMITS =
      StoreLimits.builder()
          .historyLength(16)
          .maxDocumentsPerUser(8)
          .maxFieldsPerDocument(16)
          .maxDocumentBytes(16 * 1024)
          .maxValueBytes(4 * 1024)
          .seqWindow(32)
          .build();

  private final ListAppender<ILoggingEvent> leaks = new ListAppender<>();
  private Logger leakLogger;
  private ResourceLeakDetector.Level previousLevel;
  private MemoryEngine engine;
  private Hub hub;
  private HandoffService handoff;
  private ServerStats stats;
  private ServerConfig config;
  private Sessions sessions;
  private QueueBudget budget;

  @BeforeEach
  void setUp() {
    previousLevel = ResourceLeakDetector.getLevel();
    ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.PARANOID);
    leakLogger = (Logger) LoggerFactory.getLogger(ResourceLeakDetector.class);
    leaks.start();
    leakLogger.addAppender(leaks);
    engine = new MemoryEngine(LIMITS);
    stats = new ServerStats();
    config =
        ServerConfig.builder()
            .port(0)
            .jwtSecret("fuzz-secret-fuzz-secret-fuzz-secret")
            .storeLimits(LIMITS)
            .maxInFlightWrites(LIMITS.seqWindow())
            .build();
    handoff = new HandoffService(config, engine, stats, Scheduler.system());
    hub = new Hub(engine.broker());
    handoff.start();
    budget = new QueueBudget(config.queueBudgetBytes(), "fuzz");
    sessions =
        EmbeddedConnections.sessions(config, stats, engine, engine, hub, handoff, budget, "fuzz");
  }

  @AfterEach
  void tearDown() {
    leakLogger.detachAppender(leaks);
    ResourceLeakDetector.setLevel(previousLevel);
    handoff.stop();
    budget.close();
    engine.close();
  }

  @Test
  void mutatedFramesOfEveryTypeCrashNothingLeakNothingAndTouchNoOtherUser() throws Exception {
    byte[] bystanderBefore = bystanderState();
    List<ClientFrame> seeds = FrameMutator.seeds();
    SplittableRandom random = new SplittableRandom(SEED);
    long[] seq = {0};
    int mutated = 0;
    int sessions = 0;
    int closes = 0;
    Set<ClientFrame.BodyCase> sentValid = EnumSet.noneOf(ClientFrame.BodyCase.class);
    Set<ClientFrame.BodyCase> sentMutated = EnumSet.noneOf(ClientFrame.BodyCase.class);
    while (mutated < FRAMES) {
      Session s = new Session("fuzz-user", "device-" + (sessions++ % 64));
      if (random.nextInt(8) != 0) {
        s.send(seeds.get(0).toByteArray()); // Mostly start LIVE, so mutations reach deeper states.
      }
      while (mutated < FRAMES && !s.closed()) {
        ClientFrame seed = seeds.get(random.nextInt(seeds.size()));
        byte[] base = FrameMutator.fresh(seed, seq);
        if (random.nextInt(3) == 0) {
          sentValid.add(seed.getBodyCase());
          s.send(base); // A valid frame now and then keeps sessions alive and stateful.
        } else {
          sentMutated.add(seed.getBodyCase());
          s.send(
              FrameMutator.mutate(
                  base, FrameMutator.fresh(seeds.get(random.nextInt(seeds.size())), seq), random));
          mutated++;
        }
      }
      if (s.closed()) {
        closes++;
        assertNotEquals(
            CloseCode.INTERNAL_ERROR.code(),
            s.closeCode,
            "a mutated frame reached an unexpected error: " + s.closeReason);
        assertTrue(CloseCode.of(s.closeCode) != null, "close code " + s.closeCode + " is ours");
      }
      s.finish();
    }
    Set<ClientFrame.BodyCase> every = EnumSet.allOf(ClientFrame.BodyCase.class);
    every.remove(ClientFrame.BodyCase.BODY_NOT_SET);
    assertEquals(every, sentValid, "every frame type sent valid (add a seed to FrameMutator)");
    assertEquals(every, sentMutated, "every frame type sent mutated");
    assertTrue(
        closes > FRAMES / 1000, "mutations reached the close paths, not just the happy path");
    assertTrue(stats.writesApplied.sum() > FRAMES / 100, "mutated sessions reached the store");
    assertTrue(stats.writesRefused.sum() > FRAMES / 100, "and its refusals, with typed errors");

    assertEquals(bystanderBefore.length, bystanderState().length);
    assertEquals(ByteString.copyFrom(bystanderBefore), ByteString.copyFrom(bystanderState()));
    assertTrue(
        engine.store().documents("fuzz-user").get(5, TimeUnit.SECONDS).size()
            <= LIMITS.maxDocumentsPerUser(),
        "the fuzzed user's state stayed within its limits");
    assertEquals(0, hub.sessions(), "every fuzzed session left the hub");

    // Unreleased buffers are reported when the detector next polls its queue after a GC.
    System.gc();
    for (int i = 0; i < 1000; i++) {
      Unpooled.directBuffer(16).release();
    }
    // The detector is JVM-wide: a Redis client buffer that an earlier test's engine left to the
    // garbage collector can be reported inside this window. This test runs on the memory engine, so
    // no buffer the Redis client created is one of its own.
    assertEquals(
        List.of(),
        leaks.list.stream()
            .map(ILoggingEvent::getFormattedMessage)
            .filter(m -> !m.contains("io.lettuce.core."))
            .toList());
  }

  /** A bystander user with one document; its snapshot bytes before and after must match. */
  private byte[] bystanderState() throws Exception {
    if (engine.store().documents("bystander").get(5, TimeUnit.SECONDS).isEmpty()) {
      engine
          .store()
          .write("bystander", "tv", Writes.set("player", 1, "position", "42s"))
          .get(5, TimeUnit.SECONDS);
    }
    SyncResult r = engine.store().read("bystander", "player", 0, 0).get(5, TimeUnit.SECONDS);
    assertEquals(DocumentSync.Mode.SNAPSHOT, r.mode());
    // By content: the store hands out copies of the values, whose toString names their identity.
    StringBuilder state = new StringBuilder().append(r.toVersion());
    new java.util.TreeMap<>(r.fields())
        .forEach(
            (field, value) ->
                state
                    .append('/')
                    .append(field)
                    .append('=')
                    .append(ByteBufUtil.hexDump(value.toByteArray())));
    return state.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8);
  }

  /** One fuzzed connection: codec and session handler on an EmbeddedChannel, after the upgrade. */
  private final class Session {
    final EmbeddedChannel ch;
    int closeCode = -1;
    String closeReason = "";

    Session(String user, String device) {
      ch = EmbeddedConnections.upgraded(user, device, config, stats, sessions);
    }

    void send(byte[] bytes) throws InvalidProtocolBufferException {
      // A fresh heap buffer even when empty (Unpooled's shared empty buffer is never released).
      BinaryWebSocketFrame frame =
          new BinaryWebSocketFrame(
              Unpooled.buffer(bytes.length, bytes.length + 1).writeBytes(bytes));
      ch.writeInbound(frame);
      ch.runPendingTasks();
      ch.checkException();
      assertEquals(
          0,
          frame.refCnt(),
          () ->
              "every inbound frame is released: "
                  + ByteBufUtil.hexDump(bytes)
                  + " open "
                  + ch.isOpen());
      drainOutbound();
    }

    boolean closed() {
      return closeCode >= 0 || !ch.isActive();
    }

    private void drainOutbound() throws InvalidProtocolBufferException {
      EmbeddedConnections.read(
          ch,
          f -> {
            if (f.hasDisconnect()) {
              closeReason = f.getDisconnect().getReason();
            }
          },
          code -> closeCode = code);
    }

    void finish() throws InvalidProtocolBufferException {
      ch.close();
      ch.runPendingTasks();
      drainOutbound();
      ch.finishAndReleaseAll();
    }
  }
}
