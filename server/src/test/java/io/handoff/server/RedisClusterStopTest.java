package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import redis.embedded.core.ExecutableProvider;

/**
 * A test Cluster stops its own nodes only: the port of a node that is gone, or never started, may
 * be another process's by then (another test run's Redis), and that Redis is not to be shut down.
 */
class RedisClusterStopTest {
  @TempDir Path tmp;

  /** A start failing on a port another process's Redis took stops the nodes it started only. */
  @Test
  void aFailedStartLeavesTheRedisThatTookItsPort() throws Exception {
    List<Integer> ports = RedisClusterProcess.freePorts(3);
    try (Other other = Other.start(tmp, ports.get(2))) {
      assertThrows(RuntimeException.class, () -> RedisClusterProcess.startPrivateOn(ports));

      assertTrue(other.answers(), "the other process's Redis was shut down");
    }
  }

  /** A Redis of another process (daemonized: no child of this JVM) on {@code port}. */
  private record Other(RedisClient client, Path pidFile) implements AutoCloseable {
    static Other start(Path dir, int port) throws Exception {
      Path pidFile = dir.resolve("other-" + port + ".pid");
      Process launcher =
          new ProcessBuilder(
                  ExecutableProvider.newJarResourceProvider().get().getAbsolutePath(),
                  "--port",
                  Integer.toString(port),
                  "--bind",
                  "127.0.0.1",
                  "--dir",
                  dir.toString(),
                  "--save",
                  "",
                  "--daemonize",
                  "yes",
                  "--pidfile",
                  pidFile.toString(),
                  "--logfile",
                  dir.resolve("other-" + port + ".log").toString())
              .redirectErrorStream(true)
              .start();
      assertTrue(launcher.waitFor(10, TimeUnit.SECONDS) && launcher.exitValue() == 0);
      Other other = new Other(RedisClient.create("redis://127.0.0.1:" + port), pidFile);
      Conditions.await("the other Redis answers", other::answers, Duration.ofSeconds(10));
      return other;
    }

    boolean answers() {
      try (StatefulRedisConnection<String, String> c = client.connect()) {
        return "PONG".equals(c.sync().ping());
      } catch (RuntimeException e) {
        return false;
      }
    }

    @Override
    public void close() throws Exception {
      client.shutdown();
      if (Files.exists(pidFile)) {
        long pid = Long.parseLong(Files.readString(pidFile).trim());
        ProcessHandle p = ProcessHandle.of(pid).orElse(null);
        if (p != null) {
          p.destroyForcibly();
          p.onExit().get(10, TimeUnit.SECONDS);
        }
      }
    }
  }
}
