package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.handoff.server.engine.Engine;
import io.handoff.server.engine.ForwardingEngine;
import io.handoff.server.engine.NodeIdInUseException;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.memory.MemoryEngine;
import io.handoff.server.engine.redis.RedisEngine;
import io.handoff.server.transport.TransportConfig;
import io.netty.channel.EventLoopGroup;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A node that fails to start gives back everything it made by then, at whatever point it failed:
 * before its event loops (its presence keeper refused a timer), right after them (the engine
 * refused to take them), or past them (a TLS key it cannot read): a program that starts {@link
 * HandoffServer} itself and goes on after the failure keeps no thread of it, no loop descriptor,
 * and no claim on its node id.
 */
class FailedStartTest {
  private static final int STARTS = 10;

  @Test
  void aStartRefusedAfterTheEventLoopsWereMadeLeavesNoneOfTheirDescriptorsOpen(@TempDir Path dir)
      throws Exception {
    Path cert = Files.writeString(dir.resolve("cert.pem"), "not a certificate\n");
    Path key = Files.writeString(dir.resolve("key.pem"), "not a key\n");
    ServerConfig config =
        ServerConfig.builder()
            .host("127.0.0.1")
            .port(0)
            .nodeId("failed-start")
            .jwtSecret(TestServer.SECRET)
            .storeLimits(StoreLimits.builder().build())
            .transport(TransportConfig.builder().tls(cert, key).eventLoops(2).build())
            .build();
    long before = loopDescriptors();
    for (int i = 0; i < STARTS; i++) {
      try (MemoryEngine engine = new MemoryEngine(config.storeLimits())) {
        assertThrows(RuntimeException.class, () -> HandoffServer.start(config, engine));
      }
    }
    // Each start made three loops (one accepting, two workers), each with its own epoll or
    // io_uring instance and wake-up descriptors; a start that kept them would leave 30 or more.
    // Loops of earlier tests in this JVM closing meanwhile only lower the count.
    Conditions.await(
        "the failed starts' event loops closed",
        () -> loopDescriptors() - before < STARTS,
        java.time.Duration.ofSeconds(10));
  }

  /**
   * A start refused after the node claimed its id in Redis lets the id go: the engine, which the
   * program keeps, no longer renews its lease, and a node started with a good configuration (here,
   * or another process) can take the id.
   */
  @Test
  void aStartRefusedAfterTheNodeIdWasClaimedLetsTheIdGo(@TempDir Path dir) throws Exception {
    Path cert = Files.writeString(dir.resolve("cert.pem"), "not a certificate\n");
    Path key = Files.writeString(dir.resolve("key.pem"), "not a key\n");
    try (Nodes nodes = new Nodes()) {
      StoreLimits limits = StoreLimits.builder().build();
      RedisEngine engine = RedisEngine.connect(RedisProcess.sharedUrl(), nodes.prefix, limits);
      nodes.add(engine);
      ServerConfig config =
          ServerConfig.builder()
              .host("127.0.0.1")
              .port(0)
              .nodeId("failed-start-redis")
              .jwtSecret(TestServer.SECRET)
              .storeLimits(limits)
              .transport(TransportConfig.builder().tls(cert, key).eventLoops(1).build())
              .build();
      assertThrows(RuntimeException.class, () -> HandoffServer.start(config, engine));
      assertFalse(
          engine.holdsNode("failed-start-redis"),
          "the refused node still holds its id: its lease is renewed for as long as the engine is"
              + " open");
    }
  }

  /**
   * A start whose presence keeper cannot set its first timer fails after the node claimed its id,
   * made its metrics and started its queue budget's thread: it gives them all back.
   */
  @Test
  void aStartRefusedWhenItsPresenceKeeperStartsLeavesNoThreadAndLetsTheIdGo() throws Exception {
    Scheduler refusing =
        new Scheduler() {
          @Override
          public Clock clock() {
            return Clock.systemUTC();
          }

          @Override
          public long nanoTime() {
            return System.nanoTime();
          }

          @Override
          public Future<?> schedule(
              ScheduledExecutorService executor, Runnable task, long delay, TimeUnit unit) {
            throw new RejectedExecutionException("this test's node time sets no timers");
          }
        };
    ServerConfig config = config("failed-start-keeper");
    leavesNothing(config, engine -> HandoffServer.start(config, engine, refusing));
  }

  /**
   * A start whose engine refuses to take its event loops fails after the loops were made and the
   * presence keeper and queue budget started: it gives back the loops' descriptors and every
   * thread.
   */
  @Test
  void aStartRefusedWhenTheEngineTakesItsEventLoopsLeavesNoThreadNorDescriptor() throws Exception {
    ServerConfig config = config("failed-start-loops");
    leavesNothing(
        config,
        engine ->
            HandoffServer.start(
                config,
                new ForwardingEngine(engine) {
                  @Override
                  public LoopBinding bindLoops(EventLoopGroup loops, String transport) {
                    throw new IllegalStateException("this test's engine takes no event loops");
                  }

                  @Override
                  public LoopBinding ownThreads() {
                    throw new IllegalStateException("this test's engine takes no event loops");
                  }
                }));
  }

  /** A good configuration of a node of id {@code nodeId}, with two worker loops. */
  private static ServerConfig config(String nodeId) {
    return ServerConfig.builder()
        .host("127.0.0.1")
        .port(0)
        .nodeId(nodeId)
        .jwtSecret(TestServer.SECRET)
        .storeLimits(StoreLimits.builder().build())
        .transport(TransportConfig.builder().eventLoops(2).build())
        .build();
  }

  /** A start of a node on {@code engine} that is expected to fail. */
  private interface Start {
    HandoffServer start(Engine engine) throws Exception;
  }

  /**
   * {@link #STARTS} starts of {@code config}'s node, each on an engine that counts the node ids
   * claimed and let go, fail; each lets its id go, and once they all failed no thread of the node
   * (its presence keeper, its queue budget) is left, nor more event-loop threads or descriptors
   * than before, but for loops of earlier tests closing meanwhile (fewer, not more).
   */
  private static void leavesNothing(ServerConfig config, Start start) throws Exception {
    String nodeId = config.nodeId();
    long descriptors = loopDescriptors();
    long loopThreads = threads(name -> name.startsWith("multiThreadIoEventLoopGroup"));
    for (int i = 0; i < STARTS; i++) {
      try (MemoryEngine memory = new MemoryEngine(config.storeLimits())) {
        AtomicInteger held = new AtomicInteger();
        Engine engine =
            new ForwardingEngine(memory) {
              @Override
              public Runnable claimNode(String id, Consumer<NodeIdInUseException> taken) {
                held.incrementAndGet();
                return held::decrementAndGet;
              }
            };
        assertThrows(Exception.class, () -> start.start(engine));
        assertEquals(0, held.get(), "the failed start still holds its node id");
      }
    }
    // Each start made a presence keeper's and a queue budget's thread, named after the node, and,
    // past its loops, three loops with their descriptors (one accepting, two workers).
    Predicate<String> loop = name -> name.startsWith("multiThreadIoEventLoopGroup");
    try {
      Conditions.await(
          "the failed starts' threads and descriptors closed",
          () ->
              threads(name -> name.endsWith("-" + nodeId)) == 0
                  && threads(loop) - loopThreads < STARTS
                  && loopDescriptors() - descriptors < STARTS,
          java.time.Duration.ofSeconds(10));
    } catch (AssertionError e) {
      throw new AssertionError(
          e.getMessage()
              + ": "
              + threads(name -> name.endsWith("-" + nodeId))
              + " threads named after the node, "
              + (threads(loop) - loopThreads)
              + " more event-loop threads and "
              + (loopDescriptors() - descriptors)
              + " more loop descriptors than before",
          e);
    }
  }

  /** Live threads of this process whose name {@code matches}. */
  private static long threads(Predicate<String> matches) {
    return Thread.getAllStackTraces().keySet().stream()
        .filter(t -> t.isAlive() && matches.test(t.getName()))
        .count();
  }

  /** This process's open anonymous-inode descriptors: epoll, eventfd, timerfd, io_uring. */
  private static long loopDescriptors() {
    long n = 0;
    try (var fds = Files.list(Path.of("/proc/self/fd"))) {
      for (Path fd : (Iterable<Path>) fds::iterator) {
        try {
          if (Files.readSymbolicLink(fd).toString().startsWith("anon_inode:")) {
            n++;
          }
        } catch (IOException e) {
          // Closed meanwhile (the listing's own descriptor among them).
        }
      }
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    return n;
  }
}
