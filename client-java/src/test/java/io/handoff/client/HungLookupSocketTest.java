package io.handoff.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.File;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A client whose server name takes long to resolve does not stall the other clients on its event
 * loop. The lookup is the JDK's own, made to hang for real: the JVM under test (a child, as the JDK
 * reads its name service setting once) resolves names from a hosts file ({@code
 * jdk.net.hosts.file}) that is swapped for a named pipe, and opening a pipe no one writes to blocks
 * until the test writes the host's line into it. While one client's lookup hangs, another client on
 * the same one-thread event loop must connect to a real server on 127.0.0.1; then the line is
 * written, the lookup returns, and the first client connects too. And the attempt whose lookup
 * hangs ends within the client's connect timeout (which Netty's counts from the TCP connect only)
 * and is retried with backoff, rather than waiting for the lookup.
 */
class HungLookupSocketTest {
  private static final String HOST = "hangs.handoff.test";
  private static final long WAIT = TestServer.WAIT_SECONDS;

  @Test
  @Timeout(120)
  void aHungLookupDoesNotStallTheOtherConnectionsOfItsEventLoop(@TempDir Path dir)
      throws Exception {
    runChild(dir, "other-connects");
  }

  @Test
  @Timeout(120)
  void anAttemptWhoseLookupHangsEndsWithinTheConnectTimeoutAndIsRetried(@TempDir Path dir)
      throws Exception {
    runChild(dir, "gives-up");
  }

  /** Runs {@link Child} in a JVM of its own with {@code scenario}; checks that it exits 0. */
  private static void runChild(Path dir, String scenario) throws Exception {
    assumeTrue(new File("/usr/bin/mkfifo").canExecute(), "needs mkfifo");
    Path hosts = dir.resolve("hosts");
    Files.writeString(hosts, "127.0.0.1 localhost\n");
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
                Child.class.getName(),
                dir.toString(),
                scenario)
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

  /**
   * The JVM under test; arguments: the directory of its hosts file, the scenario. Exits 0 when all
   * went well.
   */
  static final class Child {
    public static void main(String[] args) {
      Path hosts = Path.of(args[0], "hosts");
      int exit = 1;
      try {
        if (args[1].equals("gives-up")) {
          givesUp(hosts);
        } else {
          run(hosts);
        }
        exit = 0;
      } catch (Throwable t) {
        // The lookup may still wait on the pipe: halt() below ends the JVM all the same.
        t.printStackTrace(System.out);
        // Every thread, to show which one holds the lookup.
        for (Map.Entry<Thread, StackTraceElement[]> e : Thread.getAllStackTraces().entrySet()) {
          System.out.println(e.getKey().getName());
          for (StackTraceElement s : e.getValue()) {
            System.out.println("    " + s);
          }
        }
      }
      System.out.flush();
      Runtime.getRuntime().halt(exit);
    }

    private static void run(Path hosts) throws Exception {
      Hung hung = Hung.start(hosts);
      HandoffClient far = client(hung.group(), hung.farUrl());
      CompletableFuture<Void> farConnected = far.connect();
      awaitLookup();

      // Meanwhile another client of the same event loop connects.
      HandoffClient other = client(hung.group(), hung.server().url().toString());
      welcomed(hung.server(), other.connect());

      // The lookup returns: the client it held connects.
      release(hosts);
      welcomed(hung.server(), farConnected);
    }

    /**
     * A client of a name whose lookup hangs, its connect timeout short, gives the attempt up while
     * the lookup still hangs and retries; once the lookup returns, it connects.
     */
    private static void givesUp(Path hosts) throws Exception {
      Hung hung = Hung.start(hosts);
      BlockingQueue<String> states = new LinkedBlockingQueue<>();
      HandoffClient far =
          HandoffClient.builder()
              .url(java.net.URI.create(hung.farUrl()))
              .token("t")
              .eventLoopGroup(hung.group())
              .connectTimeout(Duration.ofSeconds(1))
              .reconnectBackoff(Duration.ofMillis(100), Duration.ofMillis(500))
              .listener(
                  new HandoffListener() {
                    @Override
                    public void onStateChanged(ConnectionState state, int code, String reason) {
                      states.add(state + " " + code + " " + reason);
                    }
                  })
              .build();
      CompletableFuture<Void> farConnected = far.connect();
      awaitLookup();

      // The attempt ends within its connect timeout, the lookup still hanging, and is retried.
      String reconnecting = null;
      for (String s = states.poll(WAIT, TimeUnit.SECONDS);
          s != null;
          s = states.poll(WAIT, TimeUnit.SECONDS)) {
        System.out.println("state: " + s);
        if (s.startsWith(ConnectionState.RECONNECTING.name())) {
          reconnecting = s;
          break;
        }
      }
      assertNotNull(reconnecting, "the attempt whose lookup hangs did not end");
      assertTrue(reconnecting.contains(" 1006 ") && reconnecting.contains(HOST), reconnecting);
      assertNotNull(lookingUp(), "the lookup no longer hangs: it, not the client, ended it");
      assertEquals(ConnectionState.RECONNECTING, far.state());

      // The lookup returns: a later attempt connects.
      release(hosts);
      welcomed(hung.server(), farConnected);
    }

    /**
     * A server, and a one-thread event loop with one client connected to it first (classes loaded,
     * logging set up, with the hosts file readable); from then on a lookup hangs ({@link #hang}).
     */
    private record Hung(TestServer server, io.netty.channel.EventLoopGroup group) {
      static Hung start(Path hosts) throws Exception {
        TestServer server = new TestServer("t");
        io.netty.channel.EventLoopGroup group = HandoffClient.newEventLoopGroup(1);
        HandoffClient near = client(group, server.url().toString());
        welcomed(server, near.connect());
        hang(hosts);
        return new Hung(server, group);
      }

      /** The server's address by the name whose lookup hangs. */
      String farUrl() {
        return "ws://" + HOST + ":" + server.url().getPort() + "/ws";
      }
    }

    private static HandoffClient client(io.netty.channel.EventLoopGroup group, String url) {
      return HandoffClient.builder()
          .url(java.net.URI.create(url))
          .token("t")
          .eventLoopGroup(group)
          .connectTimeout(Duration.ofSeconds(60))
          .build();
    }

    /** The hosts file becomes a pipe: from here a lookup blocks until a line is written to it. */
    private static void hang(Path hosts) throws Exception {
      Path fifo = hosts.resolveSibling("fifo");
      Process mkfifo = new ProcessBuilder("mkfifo", fifo.toString()).inheritIO().start();
      assertEquals(0, mkfifo.waitFor(), "mkfifo");
      Files.move(fifo, hosts, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    /** Waits for a thread to hang looking {@link #HOST} up. */
    private static void awaitLookup() {
      AtomicReference<Thread> resolving = new AtomicReference<>();
      Conditions.await(
          "a thread looking " + HOST + " up",
          () -> {
            resolving.set(lookingUp());
            return resolving.get() != null;
          },
          Duration.ofSeconds(WAIT));
      System.out.println("the lookup hangs on " + resolving.get().getName());
    }

    private static void welcomed(TestServer server, CompletableFuture<Void> connected)
        throws Exception {
      TestServer.Connection c = server.accept();
      assertTrue(c.next().hasHello());
      c.send(Frames.welcome(0));
      connected.get(WAIT, TimeUnit.SECONDS);
    }

    /** The thread inside a lookup of the JDK's hosts file, or null. */
    private static Thread lookingUp() {
      for (Map.Entry<Thread, StackTraceElement[]> e : Thread.getAllStackTraces().entrySet()) {
        for (StackTraceElement s : e.getValue()) {
          if (s.getClassName().equals("java.net.InetAddress$HostsFileNameService")) {
            return e.getKey();
          }
        }
      }
      return null;
    }

    /**
     * Writes the host's line into the pipe, which ends the lookup waiting on it (opening it for
     * writing pairs with that lookup's open), then puts a file back in its place.
     */
    private static void release(Path hosts) throws IOException {
      try (OutputStream out = Files.newOutputStream(hosts)) {
        out.write(("127.0.0.1 " + HOST + "\n").getBytes(StandardCharsets.US_ASCII));
      }
      Path file = hosts.resolveSibling("hosts.file");
      Files.writeString(file, "127.0.0.1 localhost\n127.0.0.1 " + HOST + "\n");
      Files.move(file, hosts, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }
  }
}
