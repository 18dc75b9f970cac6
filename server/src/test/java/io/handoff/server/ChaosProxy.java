package io.handoff.server;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A TCP proxy on 127.0.0.1 between clients and a server, for tests that need the network to fail at
 * a chosen moment: it can swallow everything the server sends (so acks are lost) and cut every
 * connection at once.
 */
final class ChaosProxy implements AutoCloseable {
  private final ServerSocket listener;
  private volatile int target;
  private final List<Socket> sockets = new CopyOnWriteArrayList<>();
  private final List<AtomicBoolean> connections = new CopyOnWriteArrayList<>();
  // Per connection: what its client sends is dropped (cutUpstreamOfOpenConnections).
  private final List<AtomicBoolean> upstreams = new CopyOnWriteArrayList<>();
  private volatile boolean blackholeDownstream;
  private volatile byte[] lossMarker;
  private volatile boolean closed;
  private volatile boolean refusing;
  // While holding: bytes from clients are kept, in order, instead of forwarded (holdUpstream).
  private final Object holdLock = new Object();
  private boolean holding; // guarded by holdLock
  private final java.util.Map<OutputStream, java.io.ByteArrayOutputStream> held =
      new java.util.LinkedHashMap<>(); // guarded by holdLock

  ChaosProxy(int targetPort) throws IOException {
    this.target = targetPort;
    this.listener = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    Thread t = new Thread(this::acceptLoop, "chaos-proxy-accept");
    t.setDaemon(true);
    t.start();
  }

  int port() {
    return listener.getLocalPort();
  }

  String url() {
    return "ws://127.0.0.1:" + port() + "/ws";
  }

  /** New connections go to {@code port} from now on (a load balancer moving off a dead node). */
  void retarget(int port) {
    target = port;
  }

  /** From now on, bytes from the server are read and dropped instead of forwarded. */
  void blackholeDownstream(boolean on) {
    blackholeDownstream = on;
  }

  /**
   * From now on, a connection whose client sends bytes holding {@code marker} (within one read) has
   * those bytes forwarded, and then everything its server sends swallowed: the request is served,
   * its answer and every later one lost, until the connection is cut ({@link #cutAll}). Null stops
   * arming connections.
   */
  void loseAnswersAfter(byte[] marker) {
    lossMarker = marker;
  }

  /**
   * Every connection open now goes silent both ways, as a peer that vanished without a FIN or a
   * reset (a dropped NAT entry, a machine that lost power): bytes from either side are read and
   * dropped, and neither side hears the other's close. New connections are proxied as before.
   */
  void freezeOpenConnections() {
    for (AtomicBoolean frozen : connections) {
      frozen.set(true);
    }
  }

  /**
   * Every connection open now stops carrying what its client sends (read and dropped), while what
   * its server sends still reaches the client: a half-open link, as behind a NAT or proxy that lost
   * the client's direction. Neither side is told. New connections are proxied as before.
   */
  void cutUpstreamOfOpenConnections() {
    for (AtomicBoolean cut : upstreams) {
      cut.set(true);
    }
  }

  /**
   * While on, a new connection is reset as soon as it is accepted, before it reaches the server:
   * with {@link #freezeOpenConnections}, the server is out of reach as behind a partition.
   */
  void refuseNew(boolean on) {
    refusing = on;
  }

  /**
   * While on, what clients send is kept instead of forwarded, as a link that delays it (the server
   * sees nothing, the connection stays open); turned off, everything kept is forwarded in the order
   * it came, then the rest as before.
   */
  void holdUpstream(boolean on) throws IOException {
    synchronized (holdLock) {
      holding = on;
      if (!on) {
        for (java.util.Map.Entry<OutputStream, java.io.ByteArrayOutputStream> e : held.entrySet()) {
          e.getKey().write(e.getValue().toByteArray());
          e.getKey().flush();
        }
        held.clear();
      }
    }
  }

  /** Whether bytes kept by {@link #holdUpstream} hold {@code marker} (within one connection's). */
  boolean holds(byte[] marker) {
    synchronized (holdLock) {
      for (java.io.ByteArrayOutputStream b : held.values()) {
        byte[] bytes = b.toByteArray();
        if (contains(bytes, bytes.length, marker)) {
          return true;
        }
      }
      return false;
    }
  }

  /** Resets every proxied connection. New connections are accepted as before. */
  void cutAll() {
    for (Socket s : sockets) {
      try {
        s.setSoLinger(true, 0);
        s.close();
      } catch (IOException ignored) {
        // Already closed.
      }
    }
    sockets.clear();
  }

  private void acceptLoop() {
    while (!closed) {
      try {
        Socket client = listener.accept();
        if (refusing) {
          client.setSoLinger(true, 0);
          client.close();
          continue;
        }
        Socket server = new Socket();
        // A proxy that forwards each read at once: without this, Nagle's algorithm holds small
        // frames behind the peer's delayed ACK and every round trip through the proxy costs ~40 ms.
        client.setTcpNoDelay(true);
        server.setTcpNoDelay(true);
        try {
          server.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), target), 5000);
        } catch (IOException e) {
          client.close();
          continue;
        }
        sockets.add(client);
        sockets.add(server);
        AtomicBoolean losing = new AtomicBoolean();
        AtomicBoolean frozen = new AtomicBoolean();
        AtomicBoolean upstreamCut = new AtomicBoolean();
        connections.add(frozen);
        upstreams.add(upstreamCut);
        pump(client, server, false, losing, frozen, upstreamCut);
        pump(server, client, true, losing, frozen, upstreamCut);
      } catch (IOException e) {
        if (!closed) {
          continue;
        }
        return;
      }
    }
  }

  private void pump(
      Socket from,
      Socket to,
      boolean downstream,
      AtomicBoolean losing,
      AtomicBoolean frozen,
      AtomicBoolean upstreamCut) {
    Thread t =
        new Thread(
            () -> {
              byte[] buf = new byte[16 * 1024];
              // The streams are not closed here: closing one closes its socket, which a frozen
              // connection keeps open (finally below).
              try {
                InputStream in = from.getInputStream();
                OutputStream out = to.getOutputStream();
                int n;
                while ((n = in.read(buf)) >= 0) {
                  if (frozen.get()
                      || (downstream && (blackholeDownstream || losing.get()))
                      || (!downstream && upstreamCut.get())) {
                    continue;
                  }
                  byte[] marker = lossMarker;
                  if (!downstream && marker != null && contains(buf, n, marker)) {
                    losing.set(true);
                  }
                  if (!downstream) {
                    synchronized (holdLock) {
                      if (holding) {
                        held.computeIfAbsent(out, o -> new java.io.ByteArrayOutputStream())
                            .write(buf, 0, n);
                        continue;
                      }
                      out.write(buf, 0, n);
                      out.flush();
                    }
                    continue;
                  }
                  out.write(buf, 0, n);
                  out.flush();
                }
              } catch (IOException ignored) {
                // The other side closed; close both.
              } finally {
                try {
                  from.close();
                  if (!frozen.get()) {
                    to.close();
                  }
                } catch (IOException ignored) {
                  // Best effort.
                }
              }
            },
            "chaos-proxy-pump");
    t.setDaemon(true);
    t.start();
  }

  private static boolean contains(byte[] buf, int n, byte[] marker) {
    outer:
    for (int i = 0; i + marker.length <= n; i++) {
      for (int j = 0; j < marker.length; j++) {
        if (buf[i + j] != marker[j]) {
          continue outer;
        }
      }
      return true;
    }
    return false;
  }

  @Override
  public void close() throws IOException {
    closed = true;
    listener.close();
    cutAll();
  }
}
