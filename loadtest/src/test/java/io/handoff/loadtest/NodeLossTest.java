package io.handoff.loadtest;

import static io.handoff.loadtest.Run.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.server.HandoffServer;
import io.handoff.server.ServerConfig;
import io.handoff.server.auth.DevTokens;
import io.handoff.server.engine.memory.MemoryEngine;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The only node of a run goes away while the run holds its connections and does not come back: the
 * run must fail and say so, not report the figures of a healthy run.
 */
class NodeLossTest {
  private static final String SECRET = DevTokens.randomSecret();

  @Test
  @Timeout(value = 120, unit = TimeUnit.SECONDS)
  void idleFailsWhenItsOnlyNodeShutsDownWhileTheConnectionsAreHeld() throws Exception {
    ServerConfig config = config("loadtest-node-loss");
    MemoryEngine engine = new MemoryEngine(config.storeLimits());
    HandoffServer node = HandoffServer.start(config, engine);
    // Shuts the node down (SHUTDOWN, a documented reconnect close) at the first line that says
    // the connections are held, a second into the hold; the devices then find nothing to reconnect
    // to for the second that is left of it.
    CompletableFuture<Void> holding = new CompletableFuture<>();
    Thread stopper =
        new Thread(
            () -> {
              holding.join();
              node.close();
            },
            "node-loss-stopper");
    stopper.start();
    Run run;
    try {
      run =
          run(
              line -> {
                if (line.startsWith("held")) {
                  holding.complete(null);
                }
              },
              "idle",
              "--url",
              "ws://127.0.0.1:" + node.port() + "/ws",
              "--users",
              "5",
              "--devices",
              "2",
              "--duration",
              "2s",
              "--jwt-secret",
              SECRET,
              "--json");
    } finally {
      holding.complete(null);
      stopper.join(60_000);
      node.close();
      engine.close();
    }

    assertTrue(
        run.json().get("closes").contains("\"4000\":10"),
        "the node closed every connection: " + run.lastLine());
    assertEquals("0", run.json().get("min_connections_held"), run.lastLine());
    assertEquals(
        Result.EXIT_FAILED,
        run.exit(),
        "a run that ends holding no connection fails: " + run.lastLine());
    assertEquals("false", run.json().get("ok"), run.lastLine());
    assertEquals("0", run.json().get("held_at_end"), run.lastLine());
    assertTrue(
        run.json()
            .get("problems")
            .contains("10 of 10 devices were not connected when the hold ended"),
        run.lastLine());
  }

  @Test
  @Timeout(value = 180, unit = TimeUnit.SECONDS)
  void fanoutPassesWhenItsOnlyNodeRestartsAndEveryDeviceResumes() throws Exception {
    Run run = whileNodeRestarts();
    Map<String, String> json = run.json();
    assertTrue(
        json.get("closes").matches("\\{\"4000\":\\d+\\}"),
        "the only connections lost are the node's SHUTDOWN closes, not the refused attempts to"
            + " reconnect while it was down: "
            + run.lastLine());
    assertEquals("0", json.get("errors"), run.lastLine());
    assertEquals(0, run.exit(), run.lastLine());
  }

  @Test
  @Tag("fault") // The lean twin above runs by default; this one in the fault suite.
  @Timeout(value = 180, unit = TimeUnit.SECONDS)
  void fanoutOnTheJavaClientPassesWhenItsOnlyNodeRestarts() throws Exception {
    Run run = whileNodeRestarts("--full-client");
    assertEquals("0", run.json().get("errors"), run.lastLine());
    assertEquals(0, run.exit(), run.lastLine());
  }

  @Test
  @Timeout(value = 120, unit = TimeUnit.SECONDS)
  void fanoutStopsByItselfAndFailsWhenItsNodeHangsWithItsConnectionsOpen() throws Exception {
    MemoryEngine engine = new MemoryEngine(config().storeLimits());
    HandoffServer node = HandoffServer.start(config(), engine);
    AtomicBoolean runOver = new AtomicBoolean();
    try (Front front = new Front(node.port())) {
      // Frozen once the node has applied 5 of the 30 writes: the rest are never answered.
      Thread freezer =
          new Thread(
              () -> {
                SmokeNode.awaitWritesApplied(node, 5, runOver);
                front.freeze();
              },
              "node-freezer");
      freezer.start();
      Run run;
      try {
        // Whatever the drain timeout, the writes after the freeze are never answered.
        run = run(fanout(front.port(), 30, "500ms"));
      } finally {
        runOver.set(true);
        freezer.join(60_000);
      }
      System.err.println("HUNG " + run.lastLine());
      assertEquals(Result.EXIT_FAILED, run.exit(), run.lastLine());
    } finally {
      node.close();
      engine.close();
    }
  }

  /**
   * A fanout run through a front (a TCP relay, as a load balancer) whose only node shuts down
   * (SHUTDOWN) once it has applied 10 of the run's 60 writes; the front then refuses the devices'
   * attempts to reconnect (a TCP reset) until it has refused a few, and then relays to a new node
   * on the same store.
   */
  private static Run whileNodeRestarts(String... more) throws Exception {
    MemoryEngine engine = new MemoryEngine(config().storeLimits());
    HandoffServer first = HandoffServer.start(config(), engine);
    AtomicReference<HandoffServer> second = new AtomicReference<>();
    AtomicBoolean runOver = new AtomicBoolean();
    try (Front front = new Front(first.port())) {
      Thread restarter =
          new Thread(
              () -> {
                SmokeNode.awaitWritesApplied(first, 10, runOver);
                front.refuse();
                first.close();
                front.awaitRefused(3);
                try {
                  second.set(HandoffServer.start(config(), engine));
                } catch (InterruptedException e) {
                  Thread.currentThread().interrupt();
                  return;
                }
                front.relayTo(second.get().port());
              },
              "node-restarter");
      restarter.start();
      // The run waits in its drain for the devices that have not resumed by the end of the
      // writes.
      List<String> args = new ArrayList<>(List.of(fanout(front.port(), 60, "60s")));
      args.addAll(List.of(more));
      try {
        Run run = run(args.toArray(String[]::new));
        restarter.join(60_000);
        assertTrue(front.refused() >= 3, "attempts refused while the node was down");
        assertTrue(second.get() != null, "the node came back");
        return run;
      } finally {
        runOver.set(true);
        front.relayTo(first.port());
        restarter.join(60_000);
      }
    } finally {
      first.close();
      if (second.get() != null) {
        second.get().close();
      }
      engine.close();
    }
  }

  /** A one-second fanout run of 3 users with 3 devices each through {@code port}. */
  private static String[] fanout(int port, int rate, String drainTimeout) {
    return new String[] {
      "fanout",
      "--url",
      "ws://127.0.0.1:" + port + "/ws",
      "--users",
      "3",
      "--devices",
      "3",
      "--rate",
      String.valueOf(rate),
      "--duration",
      "1s",
      "--drain-timeout",
      drainTimeout,
      "--jwt-secret",
      SECRET,
      "--json"
    };
  }

  private static ServerConfig config() {
    return config("loadtest-node-restart");
  }

  private static ServerConfig config(String nodeId) {
    return ServerConfig.builder()
        .host("127.0.0.1")
        .port(0)
        .nodeId(nodeId)
        .jwtSecret(SECRET)
        .heartbeatInterval(Duration.ofSeconds(10))
        .build();
  }

  /**
   * A TCP relay on a port of its own in front of a node: relays each new connection to the node's
   * port, or, while refusing, resets it at once.
   */
  private static final class Front implements AutoCloseable {
    private final ServerSocket listener =
        new ServerSocket(0, 128, InetAddress.getLoopbackAddress());
    private final List<Socket> sockets = new CopyOnWriteArrayList<>();
    private final AtomicInteger refused = new AtomicInteger();
    // The node's port, or 0 while refusing.
    private volatile int target;
    // While set, nothing more is relayed either way: a node that hangs with its connections open.
    private volatile boolean frozen;

    Front(int nodePort) throws IOException {
      target = nodePort;
      daemon(this::accept);
    }

    int port() {
      return listener.getLocalPort();
    }

    void freeze() {
      frozen = true;
    }

    void refuse() {
      target = 0;
    }

    void relayTo(int nodePort) {
      target = nodePort;
    }

    int refused() {
      return refused.get();
    }

    synchronized void awaitRefused(int n) {
      while (refused.get() < n) {
        try {
          wait();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return;
        }
      }
    }

    private void accept() {
      while (!listener.isClosed()) {
        try {
          Socket client = listener.accept();
          int to = target;
          if (to == 0) {
            client.setSoLinger(true, 0);
            client.close();
            synchronized (this) {
              refused.incrementAndGet();
              notifyAll();
            }
            continue;
          }
          Socket node = new Socket(InetAddress.getLoopbackAddress(), to);
          sockets.add(client);
          sockets.add(node);
          daemon(() -> pipe(client, node, this));
          daemon(() -> pipe(node, client, this));
        } catch (IOException e) {
          // Closed, or the node is gone: the device retries.
        }
      }
    }

    private static void pipe(Socket from, Socket to, Front front) {
      byte[] buf = new byte[16384];
      try (from;
          to) {
        InputStream in = from.getInputStream();
        OutputStream out = to.getOutputStream();
        int n;
        while ((n = in.read(buf)) >= 0) {
          if (front.frozen) {
            continue;
          }
          out.write(buf, 0, n);
          out.flush();
        }
      } catch (IOException e) {
        // Closed.
      }
    }

    private static void daemon(Runnable r) {
      Thread t = new Thread(r, "front");
      t.setDaemon(true);
      t.start();
    }

    @Override
    public void close() throws IOException {
      listener.close();
      for (Socket s : sockets) {
        s.close();
      }
    }
  }
}
