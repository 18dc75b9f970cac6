package io.handoff.loadtest;

import io.handoff.protocol.v1.ServerFrame;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A TCP proxy in front of a real node that passes everything through, except that on the
 * connections of one device id it changes the stream of {@code Delta} frames the server sends (or
 * of other frames it is told to pick): a server that misbehaves on the wire, which is what the load
 * tester's loss, duplicate and order counts exist to catch. Real sockets; the WebSocket frames from
 * the server (unmasked) are read whole and forwarded whole.
 */
final class DeltaFaultProxy implements AutoCloseable {
  /** What to do with the deltas sent to the target device. */
  enum Fault {
    /** Send every delta twice. */
    DUPLICATE,
    /** Swap the {@code nth} delta with the one after it. */
    SWAP,
    /** Never send the {@code nth} delta (the connection stays up). */
    DROP,
    /** After each one, send the frame the proxy's {@code follow} makes of it as well. */
    FOLLOW
  }

  private final ServerSocket listener;
  private final int serverPort;
  private final String targetDevice;
  private final Fault fault;
  private final int nth;
  private final java.util.function.Predicate<ServerFrame> targeted;
  private final java.util.function.UnaryOperator<ServerFrame> follow;
  private final AtomicInteger deltasToTarget = new AtomicInteger();
  private final AtomicInteger faultsApplied = new AtomicInteger();
  private final List<Socket> sockets = new CopyOnWriteArrayList<>();
  private volatile boolean closed;

  DeltaFaultProxy(int serverPort, String targetDevice, Fault fault, int nth) throws IOException {
    this(serverPort, targetDevice, fault, nth, ServerFrame::hasDelta);
  }

  /** As above, for the frames {@code targeted} picks instead of the deltas. */
  DeltaFaultProxy(
      int serverPort,
      String targetDevice,
      Fault fault,
      int nth,
      java.util.function.Predicate<ServerFrame> targeted)
      throws IOException {
    this(serverPort, targetDevice, fault, nth, targeted, f -> f);
  }

  /** As above; {@code follow} makes the frame {@link Fault#FOLLOW} sends after each picked one. */
  DeltaFaultProxy(
      int serverPort,
      String targetDevice,
      Fault fault,
      int nth,
      java.util.function.Predicate<ServerFrame> targeted,
      java.util.function.UnaryOperator<ServerFrame> follow)
      throws IOException {
    this.targeted = targeted;
    this.follow = follow;
    this.listener = new ServerSocket(0, 512, InetAddress.getLoopbackAddress());
    this.serverPort = serverPort;
    this.targetDevice = targetDevice;
    this.fault = fault;
    this.nth = nth;
    Thread t = new Thread(this::accept, "fault-proxy-accept");
    t.setDaemon(true);
    t.start();
  }

  String url() {
    return "ws://127.0.0.1:" + listener.getLocalPort() + "/ws";
  }

  /** How many times the fault was applied so far. */
  int faultsApplied() {
    return faultsApplied.get();
  }

  private void accept() {
    while (!closed) {
      try {
        Socket client = listener.accept();
        client.setTcpNoDelay(true);
        Socket server = new Socket(InetAddress.getLoopbackAddress(), serverPort);
        server.setTcpNoDelay(true);
        sockets.add(client);
        sockets.add(server);
        // The upgrade request: read it whole to learn whose connection this is.
        byte[] request = readHead(client.getInputStream());
        String head = new String(request, StandardCharsets.ISO_8859_1);
        boolean target = targetDevice.equals(deviceOf(head));
        server.getOutputStream().write(request);
        server.getOutputStream().flush();
        start(() -> copy(client, server));
        start(() -> serverToClient(server, client, target));
      } catch (IOException e) {
        if (!closed) {
          e.printStackTrace();
        }
      }
    }
  }

  private static void start(Runnable r) {
    Thread t = new Thread(r, "fault-proxy-pipe");
    t.setDaemon(true);
    t.start();
  }

  private void copy(Socket from, Socket to) {
    byte[] buf = new byte[16384];
    try {
      InputStream in = from.getInputStream();
      OutputStream out = to.getOutputStream();
      int n;
      while ((n = in.read(buf)) >= 0) {
        out.write(buf, 0, n);
        out.flush();
      }
    } catch (IOException e) {
      // Closed.
    }
    closeQuietly(from);
    closeQuietly(to);
  }

  private void serverToClient(Socket server, Socket client, boolean target) {
    try {
      InputStream in = server.getInputStream();
      OutputStream out = client.getOutputStream();
      out.write(readHead(in));
      out.flush();
      byte[] held = null;
      while (true) {
        byte[] frame = readFrame(in);
        if (frame == null) {
          break;
        }
        if (!target || !isTargeted(frame)) {
          out.write(frame);
          out.flush();
          continue;
        }
        int k = deltasToTarget.incrementAndGet();
        List<byte[]> send = new ArrayList<>();
        switch (fault) {
          case DUPLICATE -> {
            send.add(frame);
            send.add(frame);
            faultsApplied.incrementAndGet();
          }
          case DROP -> {
            if (k == nth) {
              faultsApplied.incrementAndGet();
            } else {
              send.add(frame);
            }
          }
          case FOLLOW -> {
            send.add(frame);
            send.add(binaryFrame(follow.apply(parse(frame)).toByteArray()));
            faultsApplied.incrementAndGet();
          }
          case SWAP -> {
            if (k == nth) {
              held = frame;
            } else if (held != null) {
              send.add(frame);
              send.add(held);
              held = null;
              faultsApplied.incrementAndGet();
            } else {
              send.add(frame);
            }
          }
        }
        for (byte[] f : send) {
          out.write(f);
        }
        out.flush();
      }
    } catch (IOException e) {
      // Closed.
    }
    closeQuietly(server);
    closeQuietly(client);
  }

  /**
   * Whether a whole unfragmented binary WebSocket frame holds a ServerFrame of the fault's kind.
   */
  private boolean isTargeted(byte[] frame) {
    if ((frame[0] & 0x0f) != 2 || (frame[0] & 0x80) == 0) {
      return false;
    }
    int len = frame[1] & 0x7f;
    int header = len == 126 ? 4 : len == 127 ? 10 : 2;
    try {
      ServerFrame f =
          ServerFrame.parseFrom(java.nio.ByteBuffer.wrap(frame, header, frame.length - header));
      return targeted.test(f);
    } catch (IOException e) {
      return false;
    }
  }

  /** The ServerFrame in a whole unfragmented binary WebSocket frame. */
  private static ServerFrame parse(byte[] frame) throws IOException {
    int len = frame[1] & 0x7f;
    int header = len == 126 ? 4 : len == 127 ? 10 : 2;
    return ServerFrame.parseFrom(java.nio.ByteBuffer.wrap(frame, header, frame.length - header));
  }

  /** A whole unmasked binary WebSocket frame holding {@code payload}, as a server sends it. */
  private static byte[] binaryFrame(byte[] payload) {
    ByteArrayOutputStream f = new ByteArrayOutputStream();
    f.write(0x82);
    if (payload.length < 126) {
      f.write(payload.length);
    } else {
      f.write(126);
      f.write(payload.length >> 8);
      f.write(payload.length & 0xff);
    }
    f.writeBytes(payload);
    return f.toByteArray();
  }

  /** One whole WebSocket frame as sent by the server (unmasked), or null at the end. */
  private static byte[] readFrame(InputStream in) throws IOException {
    int b0 = in.read();
    if (b0 < 0) {
      return null;
    }
    int b1 = readByte(in);
    ByteArrayOutputStream f = new ByteArrayOutputStream();
    f.write(b0);
    f.write(b1);
    long len = b1 & 0x7f;
    if (len == 126) {
      int a = readByte(in);
      int b = readByte(in);
      f.write(a);
      f.write(b);
      len = (a << 8) | b;
    } else if (len == 127) {
      len = 0;
      for (int i = 0; i < 8; i++) {
        int x = readByte(in);
        f.write(x);
        len = (len << 8) | x;
      }
    }
    if ((b1 & 0x80) != 0) {
      for (int i = 0; i < 4; i++) {
        f.write(readByte(in));
      }
    }
    byte[] payload = in.readNBytes((int) len);
    if (payload.length < len) {
      throw new IOException("end of stream inside a frame");
    }
    f.write(payload);
    return f.toByteArray();
  }

  private static int readByte(InputStream in) throws IOException {
    int b = in.read();
    if (b < 0) {
      throw new IOException("end of stream inside a frame");
    }
    return b;
  }

  /** An HTTP head, up to and including the empty line. */
  private static byte[] readHead(InputStream in) throws IOException {
    ByteArrayOutputStream head = new ByteArrayOutputStream();
    int state = 0;
    while (state < 4) {
      int b = readByte(in);
      head.write(b);
      state =
          (b == '\r' && (state == 0 || state == 2)) || (b == '\n' && (state == 1 || state == 3))
              ? state + 1
              : b == '\r' ? 1 : 0;
    }
    return head.toByteArray();
  }

  /** The {@code did} claim of the bearer token in an upgrade request, or null. */
  private static String deviceOf(String head) {
    for (String line : head.split("\r\n")) {
      if (line.toLowerCase(java.util.Locale.ROOT).startsWith("authorization: bearer ")) {
        String[] parts = line.substring("authorization: bearer ".length()).trim().split("\\.");
        String claims = new String(Base64.getUrlDecoder().decode(parts[1]), StandardCharsets.UTF_8);
        java.util.regex.Matcher m =
            java.util.regex.Pattern.compile("\"did\"\\s*:\\s*\"([^\"]*)\"").matcher(claims);
        return m.find() ? m.group(1) : null;
      }
    }
    return null;
  }

  private static void closeQuietly(Socket s) {
    try {
      s.close();
    } catch (IOException e) {
      // Already.
    }
  }

  @Override
  public void close() throws IOException {
    closed = true;
    listener.close();
    for (Socket s : sockets) {
      closeQuietly(s);
    }
  }
}
