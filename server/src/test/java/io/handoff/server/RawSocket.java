package io.handoff.server;

import io.handoff.protocol.v1.ClientFrame;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.concurrent.ThreadLocalRandom;

/**
 * A WebSocket peer written against RFC 6455 on a plain socket, for tests that need a device that
 * misbehaves at the transport level: one that never reads, never answers pings, or sends frames a
 * well-behaved client library would not.
 */
final class RawSocket implements AutoCloseable {
  final Socket socket;
  private final OutputStream out;
  private final DataInputStream in;

  private RawSocket(Socket socket) throws IOException {
    this.socket = socket;
    this.out = socket.getOutputStream();
    this.in = new DataInputStream(socket.getInputStream());
  }

  /** Connects and upgrades; {@code receiveBuffer} > 0 shrinks the socket's receive buffer. */
  static RawSocket connect(int port, String token, int receiveBuffer) throws IOException {
    Socket s = new Socket();
    if (receiveBuffer > 0) {
      s.setReceiveBufferSize(receiveBuffer);
    }
    s.connect(new InetSocketAddress("127.0.0.1", port), 10_000);
    s.setSoTimeout(10_000);
    RawSocket r = new RawSocket(s);
    byte[] nonce = new byte[16];
    ThreadLocalRandom.current().nextBytes(nonce);
    String req =
        "GET /ws HTTP/1.1\r\n"
            + "Host: 127.0.0.1:"
            + port
            + "\r\n"
            + "Upgrade: websocket\r\n"
            + "Connection: Upgrade\r\n"
            + "Sec-WebSocket-Key: "
            + Base64.getEncoder().encodeToString(nonce)
            + "\r\n"
            + "Sec-WebSocket-Version: 13\r\n"
            + "Authorization: Bearer "
            + token
            + "\r\n\r\n";
    r.out.write(req.getBytes(StandardCharsets.US_ASCII));
    r.out.flush();
    String head = r.readHead();
    String status = head.substring(0, head.indexOf('\r'));
    if (!status.startsWith("HTTP/1.1 101")) {
      throw new IOException("upgrade refused: " + status);
    }
    String accept = acceptFor(Base64.getEncoder().encodeToString(nonce));
    if (!head.toLowerCase(java.util.Locale.ROOT)
        .contains(
            "\r\nsec-websocket-accept: " + accept.toLowerCase(java.util.Locale.ROOT) + "\r\n")) {
      throw new IOException(
          "upgrade without the RFC 6455 Sec-WebSocket-Accept " + accept + ": " + head);
    }
    return r;
  }

  /**
   * Opens a plain TCP connection, for a test that writes its own HTTP request ({@link #writeRaw}).
   */
  static RawSocket open(int port) throws IOException {
    Socket s = new Socket();
    s.connect(new InetSocketAddress("127.0.0.1", port), 10_000);
    s.setSoTimeout(10_000);
    return new RawSocket(s);
  }

  /** The Sec-WebSocket-Accept of RFC 6455 section 4.2.2 for {@code key}. */
  static String acceptFor(String key) {
    try {
      java.security.MessageDigest sha1 = java.security.MessageDigest.getInstance("SHA-1");
      byte[] digest =
          sha1.digest(
              (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").getBytes(StandardCharsets.US_ASCII));
      return Base64.getEncoder().encodeToString(digest);
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Writes {@code bytes} as they are. */
  /** How long a read waits before it fails (10 s unless set). */
  void setReadTimeout(java.time.Duration timeout) throws IOException {
    socket.setSoTimeout((int) timeout.toMillis());
  }

  void writeRaw(byte[] bytes) throws IOException {
    out.write(bytes);
    out.flush();
  }

  /** Reads the next binary message as a ServerFrame, skipping control frames. */
  io.handoff.protocol.v1.ServerFrame readFrame() throws IOException {
    while (true) {
      int b0 = in.readUnsignedByte();
      long len = readLength();
      byte[] payload = new byte[(int) len];
      in.readFully(payload);
      if ((b0 & 0x0f) == 0x2) {
        return io.handoff.protocol.v1.ServerFrame.parseFrom(payload);
      }
      if ((b0 & 0x0f) == 0x8) {
        throw new IOException("closed by the server");
      }
    }
  }

  /** Reads frames up to and with the server's next WebSocket ping; returns the ping's payload. */
  byte[] readUntilPing() throws IOException {
    while (true) {
      int b0 = in.readUnsignedByte();
      byte[] payload = new byte[(int) readLength()];
      in.readFully(payload);
      if ((b0 & 0x0f) == 0x9) {
        return payload;
      }
      if ((b0 & 0x0f) == 0x8) {
        throw new IOException("closed by the server");
      }
    }
  }

  /** Reads an HTTP response's status line and headers, up to and with the blank line. */
  String readHead() throws IOException {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    int matched = 0;
    while (matched < 4) {
      int c = in.read();
      if (c < 0) {
        throw new IOException("EOF in HTTP response");
      }
      b.write(c);
      matched = (c == '\r' || c == '\n') ? matched + 1 : 0;
    }
    return b.toString(StandardCharsets.US_ASCII);
  }

  void send(ClientFrame frame) throws IOException {
    sendFrame(0x2, frame.toByteArray());
  }

  /** Sends one final, masked frame with the given opcode. */
  void sendFrame(int opcode, byte[] payload) throws IOException {
    out.write(frame(opcode, payload));
    out.flush();
  }

  /** A final, masked binary frame of {@code payload}, for a test that writes several at once. */
  static byte[] frame(byte[] payload) {
    return frame(0x2, payload);
  }

  private static byte[] frame(int opcode, byte[] payload) {
    ByteArrayOutputStream f = new ByteArrayOutputStream();
    f.write(0x80 | opcode);
    int len = payload.length;
    if (len < 126) {
      f.write(0x80 | len);
    } else if (len < 65536) {
      f.write(0x80 | 126);
      f.write(len >>> 8);
      f.write(len);
    } else {
      f.write(0x80 | 127);
      for (int i = 7; i >= 0; i--) {
        f.write((int) ((long) len >>> (8 * i)));
      }
    }
    byte[] mask = new byte[4];
    ThreadLocalRandom.current().nextBytes(mask);
    f.writeBytes(mask);
    for (int i = 0; i < len; i++) {
      f.write(payload[i] ^ mask[i & 3]);
    }
    return f.toByteArray();
  }

  /** Sends only the header of a masked binary frame that claims {@code declaredLength} bytes. */
  void sendFrameHeader(long declaredLength) throws IOException {
    ByteArrayOutputStream f = new ByteArrayOutputStream();
    f.write(0x82);
    f.write(0x80 | 127);
    for (int i = 7; i >= 0; i--) {
      f.write((int) (declaredLength >>> (8 * i)));
    }
    f.write(new byte[] {1, 2, 3, 4});
    out.write(f.toByteArray());
    out.flush();
  }

  /**
   * Reads frames until a close frame and returns its status code; -1 when the connection ends
   * without one (EOF, reset, or EOF inside a frame).
   */
  int readUntilClose() throws IOException {
    try {
      return readUntilCloseOrThrow();
    } catch (java.io.EOFException | java.net.SocketException e) {
      return -1;
    } catch (IOException e) {
      if (String.valueOf(e.getMessage()).contains("EOF")) {
        return -1;
      }
      throw e;
    }
  }

  private int readUntilCloseOrThrow() throws IOException {
    while (true) {
      int b0 = in.read();
      if (b0 < 0) {
        return -1;
      }
      long len = readLength();
      int opcode = b0 & 0x0f;
      if (opcode == 0x8) {
        return len >= 2 ? in.readUnsignedShort() : 1005;
      }
      skipFully(in, len);
    }
  }

  /**
   * Reads frames up to and with a close frame, then everything after it until the server ends the
   * connection, and returns those bytes (RFC 6455 5.5.1: an endpoint sends no data frame after its
   * close frame, so there should be none).
   */
  byte[] readPastClose() throws IOException {
    while (true) {
      int b0 = in.readUnsignedByte();
      long len = readLength();
      skipFully(in, len);
      if ((b0 & 0x0f) == 0x8) {
        return in.readAllBytes();
      }
    }
  }

  /** Reads a server frame's second byte and extended length: the payload's length. */
  private long readLength() throws IOException {
    long len = in.readUnsignedByte() & 0x7f;
    if (len == 126) {
      len = in.readUnsignedShort();
    } else if (len == 127) {
      len = in.readLong();
    }
    return len;
  }

  private static void skipFully(InputStream in, long n) throws IOException {
    while (n > 0) {
      long k = in.skip(n);
      if (k <= 0) {
        if (in.read() < 0) {
          throw new IOException("EOF inside a frame");
        }
        k = 1;
      }
      n -= k;
    }
  }

  @Override
  public void close() throws IOException {
    socket.close();
  }

  /**
   * The status line and JSON body a node on {@code port} answers {@code request} with, on a
   * connection of its own: for the refusals before a 101.
   */
  static String refusal(int port, byte[] request) throws IOException {
    try (RawSocket s = open(port)) {
      s.writeRaw(request);
      String head = s.readHead();
      int at = head.toLowerCase(java.util.Locale.ROOT).indexOf("content-length: ");
      int length = Integer.parseInt(head.substring(at + 16, head.indexOf('\r', at)).strip());
      byte[] body = s.socket.getInputStream().readNBytes(length);
      return head.substring(0, head.indexOf('\r')) + " " + new String(body, StandardCharsets.UTF_8);
    }
  }
}
