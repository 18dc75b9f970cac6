package io.handoff.server;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import redis.embedded.RedisServer;

/**
 * A real Redis server process for tests, from the binary that embedded-redis ships on Maven
 * Central. {@link #sharedUrl()} honours {@code REDIS_URL}; tests keep apart by key prefix. A
 * private instance persists with an append-only file, so it can be restarted without losing acked
 * writes.
 */
public final class RedisProcess implements AutoCloseable {
  private static RedisProcess shared;

  private final int port;
  private final Path dir;
  private final String replicaOf; // "host port" of the master, or null
  private RedisServer server;

  private RedisProcess(int port, Path dir, String replicaOf) {
    this.port = port;
    this.dir = dir;
    this.replicaOf = replicaOf;
  }

  /** The Redis every test may share: {@code REDIS_URL}, or one process for this JVM. */
  public static synchronized String sharedUrl() {
    String env = System.getenv("REDIS_URL");
    if (env != null && !env.isBlank()) {
      return env;
    }
    if (shared == null) {
      shared = start();
      Runtime.getRuntime().addShutdownHook(new Thread(shared::close));
    }
    return shared.url();
  }

  /** A private Redis on a free port, persisting to a fresh directory. */
  public static RedisProcess start() {
    try {
      RedisProcess p =
          new RedisProcess(freePort(), Files.createTempDirectory("handoff-redis"), null);
      p.startServer();
      return p;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** A private Redis replicating {@code master} ({@code replicaof}), persisting likewise. */
  public static RedisProcess startReplicaOf(RedisProcess master) {
    try {
      RedisProcess p =
          new RedisProcess(
              freePort(),
              Files.createTempDirectory("handoff-redis-replica"),
              "127.0.0.1 " + master.port);
      p.startServer();
      return p;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private void startServer() throws IOException {
    var builder =
        RedisServer.newRedisServer()
            .port(port)
            .setting("bind 127.0.0.1")
            .setting("dir " + dir)
            .setting("appendonly yes")
            .setting("appendfsync always")
            .setting("save \"\"");
    if (replicaOf != null) {
      builder.setting("replicaof " + replicaOf);
    }
    server = builder.build();
    server.start();
  }

  public String url() {
    return "redis://127.0.0.1:" + port;
  }

  /** Stops the process (its state is on disk) and starts it again on the same port. */
  public void restart() {
    try {
      server.stop();
      startServer();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  public void stop() {
    try {
      server.stop();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  public void startAgain() {
    try {
      startServer();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  @Override
  public void close() {
    try {
      if (server != null && server.isActive()) {
        server.stop();
      }
    } catch (IOException ignored) {
      // Best effort at shutdown.
    }
  }
}
