package io.handoff.server;

import static io.handoff.server.HttpHeads.header;
import static io.handoff.server.HttpHeads.without;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BinaryOperator;
import java.util.function.UnaryOperator;

/**
 * A TCP proxy on 127.0.0.1 in front of the node, one connection at a time: it reads each upgrade
 * request and keeps it as the client sent it; it answers it itself if {@code refusal} gives a
 * response head for it (and closes), or else connects to the node (once the test lets it, for a
 * connection it {@link #holdNextUpstream}s), forwards it rewritten, reads the node's response head,
 * keeps it as the node sent it, and forwards it as {@code respond} makes it of the request and the
 * response (once the test lets it go, while it {@link #hold}s them); then it relays the bytes each
 * way, keeping the payload of the first frame the client sent.
 */
final class UpgradeProxy implements AutoCloseable {
  final BlockingQueue<String> requests = new LinkedBlockingQueue<>();
  final BlockingQueue<String> responses = new LinkedBlockingQueue<>();
  // The payload of each connection's first frame from the client, unmasked.
  final BlockingQueue<byte[]> firstFrames = new LinkedBlockingQueue<>();
  private volatile CountDownLatch held = new CountDownLatch(0);
  private final AtomicReference<CountDownLatch> nextUpstream = new AtomicReference<>();
  private final List<CountDownLatch> upstreamHolds = new CopyOnWriteArrayList<>();
  private final ServerSocket listener;
  private final int target;
  private final UnaryOperator<String> rewrite;
  private final BinaryOperator<String> respond;
  private final UnaryOperator<String> refusal;
  private final List<Socket> sockets = new CopyOnWriteArrayList<>();

  UpgradeProxy(int target, UnaryOperator<String> rewrite, BinaryOperator<String> respond)
      throws IOException {
    this(target, rewrite, respond, request -> null);
  }

  UpgradeProxy(
      int target,
      UnaryOperator<String> rewrite,
      BinaryOperator<String> respond,
      UnaryOperator<String> refusal)
      throws IOException {
    this.target = target;
    this.rewrite = rewrite;
    this.respond = respond;
    this.refusal = refusal;
    this.listener = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    Thread t = new Thread(this::accept, "proxy-accept");
    t.setDaemon(true);
    t.start();
  }

  /** The node's response as it is. */
  static String asIs(String request, String response) {
    return response;
  }

  /**
   * The node's 101 made to select {@code handoff.hello} when the client offered it, as a proxy that
   * took the subprotocol for itself.
   */
  static String takeSubprotocol(String request, String response) {
    if (response.startsWith("HTTP/1.1 101") && header(request, "sec-websocket-protocol") != null) {
      return response.substring(0, response.length() - 2)
          + "Sec-WebSocket-Protocol: handoff.hello\r\n\r\n";
    }
    return response;
  }

  /** The node's response without {@code Sec-WebSocket-Protocol}, as a proxy that drops it. */
  static String dropSubprotocol(String request, String response) {
    return without(response, "sec-websocket-protocol");
  }

  String url() {
    return "ws://127.0.0.1:" + listener.getLocalPort() + "/ws";
  }

  /** Holds the node's responses from now until the latch returned is counted down. */
  CountDownLatch hold() {
    held = new CountDownLatch(1);
    return held;
  }

  /**
   * Holds the next connection's way to the node, as a proxy that connects upstream only once it
   * read the request, and is slow to: the node sees neither the connection nor its request until
   * the latch returned is counted down.
   */
  CountDownLatch holdNextUpstream() {
    CountDownLatch latch = new CountDownLatch(1);
    nextUpstream.set(latch);
    upstreamHolds.add(latch);
    return latch;
  }

  private void accept() {
    try {
      while (true) {
        Socket client = listener.accept();
        sockets.add(client);
        CountDownLatch upstream = nextUpstream.getAndSet(null);
        Thread t = new Thread(() -> serve(client, upstream), "proxy-connection");
        t.setDaemon(true);
        t.start();
      }
    } catch (IOException e) {
      // Closed.
    }
  }

  private void serve(Socket client, CountDownLatch upstream) {
    try {
      InputStream fromClient = client.getInputStream();
      String request = readHead(fromClient);
      requests.add(request);
      String refused = refusal.apply(request);
      if (refused != null) {
        OutputStream toClient = client.getOutputStream();
        toClient.write(refused.getBytes(StandardCharsets.ISO_8859_1));
        toClient.flush();
        responses.add(refused);
        return;
      }
      if (upstream != null) {
        upstream.await();
      }
      relay(client, fromClient, request);
    } catch (IOException | InterruptedException e) {
      // One side closed.
    } finally {
      try {
        client.close();
      } catch (IOException e) {
        // Closed already.
      }
    }
  }

  private void relay(Socket client, InputStream fromClient, String request)
      throws IOException, InterruptedException {
    try (Socket node = new Socket(InetAddress.getLoopbackAddress(), target)) {
      sockets.add(node);
      OutputStream toNode = node.getOutputStream();
      toNode.write(rewrite.apply(request).getBytes(StandardCharsets.ISO_8859_1));
      toNode.flush();
      InputStream fromNode = node.getInputStream();
      String response = readHead(fromNode);
      String forwarded = respond.apply(request, response);
      held.await();
      OutputStream toClient = client.getOutputStream();
      toClient.write(forwarded.getBytes(StandardCharsets.ISO_8859_1));
      toClient.flush();
      responses.add(response);
      Thread up =
          new Thread(
              () -> {
                firstFrame(fromClient, toNode);
                pump(fromClient, toNode);
              },
              "proxy-up");
      up.setDaemon(true);
      up.start();
      pump(fromNode, toClient);
      up.join();
    }
  }

  private static String readHead(InputStream in) throws IOException {
    ByteArrayOutputStream head = new ByteArrayOutputStream();
    while (!head.toString(StandardCharsets.ISO_8859_1).endsWith("\r\n\r\n")) {
      int c = in.read();
      if (c < 0) {
        throw new IOException("closed before the head ended");
      }
      head.write(c);
    }
    return head.toString(StandardCharsets.ISO_8859_1);
  }

  /** Relays the client's first frame, and keeps its payload unmasked. */
  private void firstFrame(InputStream in, OutputStream out) {
    try {
      DataInputStream data = new DataInputStream(in);
      ByteArrayOutputStream raw = new ByteArrayOutputStream();
      int b0 = data.readUnsignedByte();
      int b1 = data.readUnsignedByte();
      raw.write(b0);
      raw.write(b1);
      long length = b1 & 0x7f;
      if (length == 126) {
        length = data.readUnsignedShort();
        raw.write((int) (length >> 8));
        raw.write((int) length);
      } else if (length == 127) {
        length = data.readLong();
        for (int i = 7; i >= 0; i--) {
          raw.write((int) (length >> (8 * i)));
        }
      }
      byte[] mask = new byte[(b1 & 0x80) != 0 ? 4 : 0];
      data.readFully(mask);
      raw.write(mask);
      byte[] payload = new byte[(int) length];
      data.readFully(payload);
      raw.write(payload);
      out.write(raw.toByteArray());
      out.flush();
      for (int i = 0; i < payload.length && mask.length > 0; i++) {
        payload[i] ^= mask[i % 4];
      }
      firstFrames.add(payload);
    } catch (IOException e) {
      // One side closed.
    }
  }

  private static void pump(InputStream in, OutputStream out) {
    byte[] buf = new byte[8192];
    try {
      for (int n; (n = in.read(buf)) >= 0; ) {
        out.write(buf, 0, n);
        out.flush();
      }
      out.close();
    } catch (IOException e) {
      // One side closed.
    }
  }

  @Override
  public void close() throws IOException {
    listener.close();
    upstreamHolds.forEach(CountDownLatch::countDown);
    for (Socket s : sockets) {
      s.close();
    }
  }
}
