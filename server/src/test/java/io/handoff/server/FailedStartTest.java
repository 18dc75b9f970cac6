package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.memory.MemoryEngine;
import io.handoff.server.engine.redis.RedisEngine;
import io.handoff.server.transport.TransportConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A node that fails to start after it made its event loops (a TLS key it cannot read, an identity
 * key set it cannot load) gives them back: a program that starts {@link HandoffServer} itself and
 * goes on after the failure keeps no loops, and no file descriptors of theirs.
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
