package io.handoff.loadtest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.handoff.client.HandoffClient;
import io.netty.buffer.ByteBuf;
import io.netty.channel.EventLoopGroup;
import java.io.File;
import java.io.OutputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A lean connection whose server name's lookup hangs ends within its connect timeout (Netty's
 * counts from the TCP connect only), as a could-not-connect the link retries, rather than waiting
 * for the lookup. The lookup is the JDK's, made to hang for real as in the client's {@code
 * HungLookupSocketTest}: a child JVM reads its hosts file ({@code jdk.net.hosts.file}) from a named
 * pipe no one writes to until the end.
 */
class LeanHungLookupTest {
  private static final String HOST = "hangs.handoff.test";

  @Test
  @Timeout(120)
  void anAttemptWhoseLookupHangsEndsWithinTheConnectTimeout(@TempDir Path dir) throws Exception {
    assumeTrue(new File("/usr/bin/mkfifo").canExecute(), "needs mkfifo");
    Path hosts = dir.resolve("hosts");
    Process mkfifo = new ProcessBuilder("mkfifo", hosts.toString()).inheritIO().start();
    assertEquals(0, mkfifo.waitFor(), "mkfifo");
    Path log = dir.resolve("child.log");
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    Process child =
        new ProcessBuilder(
                java,
                "-XX:TieredStopAtLevel=1",
                "-XX:+UseSerialGC",
                "-Xmx256m",
                "-Djdk.net.hosts.file=" + hosts,
                "-cp",
                System.getProperty("java.class.path"),
                Child.class.getName())
            .redirectErrorStream(true)
            .redirectOutput(log.toFile())
            .start();
    try {
      boolean ended = child.waitFor(100, TimeUnit.SECONDS);
      String output = Files.readString(log);
      System.out.print(output);
      assertTrue(ended, "the child did not end:\n" + output);
      assertEquals(0, child.exitValue(), output);
    } finally {
      child.destroyForcibly();
    }
  }

  /** The JVM under test, its hosts file a pipe. Exits 0 when all went well. */
  static final class Child {
    public static void main(String[] args) {
      int exit = 1;
      try {
        run();
        exit = 0;
      } catch (Throwable t) {
        t.printStackTrace(System.out);
      }
      System.out.flush();
      // The lookup still waits on the pipe: halt() ends the JVM all the same.
      Runtime.getRuntime().halt(exit);
    }

    private static void run() throws Exception {
      EventLoopGroup group = HandoffClient.newEventLoopGroup(1);
      CompletableFuture<LeanConnection> closed = new CompletableFuture<>();
      LeanConnection.Listener listener =
          new LeanConnection.Listener() {
            @Override
            public byte[] hello(LeanConnection c) {
              return null;
            }

            @Override
            public void opened(LeanConnection c, boolean helloRead) {
              closed.completeExceptionally(new AssertionError("opened"));
            }

            @Override
            public void frame(LeanConnection c, ByteBuf b, int from, int to, long nanos) {}

            @Override
            public void closed(LeanConnection c) {
              closed.complete(c);
            }
          };
      var loop = group.next();
      loop.execute(
          () ->
              LeanConnection.open(
                  URI.create("ws://" + HOST + ":1/ws"),
                  "t",
                  loop,
                  null,
                  Duration.ofSeconds(1),
                  listener));
      LeanConnection c = closed.get(30, TimeUnit.SECONDS);
      System.out.println("closed: " + c.closeCode + " " + c.closeReason);
      assertEquals(Device.ABNORMAL_CLOSURE, c.closeCode);
      assertTrue(c.closeReason.contains("within 1000 ms"), c.closeReason);
      assertTrue(lookingUp(), "the lookup no longer hangs: it, not the connection, ended it");
      // Lets the lookup go.
      try (OutputStream out =
          Files.newOutputStream(Path.of(System.getProperty("jdk.net.hosts.file")))) {
        out.write("127.0.0.1 localhost\n".getBytes(StandardCharsets.US_ASCII));
      }
    }

    /** Whether a thread is inside a lookup of the JDK's hosts file. */
    private static boolean lookingUp() {
      for (StackTraceElement[] stack : Thread.getAllStackTraces().values()) {
        for (StackTraceElement s : stack) {
          if (s.getClassName().equals("java.net.InetAddress$HostsFileNameService")) {
            return true;
          }
        }
      }
      return false;
    }
  }
}
