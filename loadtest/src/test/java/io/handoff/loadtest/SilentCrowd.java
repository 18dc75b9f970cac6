package io.handoff.loadtest;

import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.Hello;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Devices that never read: each upgrades, says Hello (following all of its user's documents) and
 * from then on reads nothing, with a small receive buffer, as a phone in a dead zone does. Once a
 * second each sends a WebSocket ping (so it stays connected as long as the server lets it); when
 * the server has closed it, the write fails and the device connects again at once, as an app would.
 * One thread drives them all; {@link #close()} stops it and closes every socket.
 */
final class SilentCrowd implements AutoCloseable {
  private static final int RECEIVE_BUFFER = 4096;

  private final int port;
  private final List<String> tokens;
  private final Socket[] sockets;
  private final AtomicLong reconnects = new AtomicLong();
  private final Thread driver;
  private volatile boolean stopped;

  /** Connects one silent device per token now; throws if any cannot. */
  SilentCrowd(int port, List<String> tokens) throws IOException {
    this.port = port;
    this.tokens = List.copyOf(tokens);
    this.sockets = new Socket[tokens.size()];
    for (int i = 0; i < sockets.length; i++) {
      sockets[i] = connect(this.tokens.get(i));
    }
    driver = new Thread(this::drive, "silent-crowd");
    driver.setDaemon(true);
    driver.start();
  }

  /** Connections the server closed and the crowd opened again. */
  long reconnects() {
    return reconnects.get();
  }

  private void drive() {
    long next = System.nanoTime();
    while (!stopped) {
      next += TimeUnit.SECONDS.toNanos(1);
      for (int i = 0; i < sockets.length && !stopped; i++) {
        try {
          sendFrame(sockets[i].getOutputStream(), 0x9, new byte[0]);
        } catch (IOException closed) {
          closeQuietly(sockets[i]);
          try {
            sockets[i] = connect(tokens.get(i));
            reconnects.incrementAndGet();
          } catch (IOException refused) {
            // The node is gone or refuses; the test's own checks say so. Try again next second.
          }
        }
      }
      long wait = next - System.nanoTime();
      if (wait > 0) {
        // A bounded pause of the driver thread between rounds of pings; not a test's wait.
        java.util.concurrent.locks.LockSupport.parkNanos(wait);
      }
    }
  }

  private Socket connect(String token) throws IOException {
    Socket s = new Socket();
    s.setReceiveBufferSize(RECEIVE_BUFFER);
    s.connect(new InetSocketAddress("127.0.0.1", port), 10_000);
    s.setSoTimeout((int) Duration.ofSeconds(10).toMillis());
    byte[] nonce = new byte[16];
    ThreadLocalRandom.current().nextBytes(nonce);
    String req =
        "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:"
            + port
            + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "
            + Base64.getEncoder().encodeToString(nonce)
            + "\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer "
            + token
            + "\r\n\r\n";
    OutputStream out = s.getOutputStream();
    out.write(req.getBytes(StandardCharsets.US_ASCII));
    out.flush();
    String status = readHead(s.getInputStream());
    if (!status.startsWith("HTTP/1.1 101")) {
      s.close();
      throw new IOException("upgrade refused: " + status);
    }
    sendFrame(
        out,
        0x2,
        ClientFrame.newBuilder().setHello(Hello.getDefaultInstance()).build().toByteArray());
    return s;
  }

  private static String readHead(InputStream in) throws IOException {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    int matched = 0;
    while (matched < 4) {
      int c = in.read();
      if (c < 0) {
        throw new IOException("EOF in the HTTP response");
      }
      b.write(c);
      matched = (c == '\r' || c == '\n') ? matched + 1 : 0;
    }
    String head = b.toString(StandardCharsets.US_ASCII);
    return head.substring(0, head.indexOf('\r'));
  }

  /** One final, masked frame (payloads under 64 KiB). */
  private static void sendFrame(OutputStream out, int opcode, byte[] payload) throws IOException {
    ByteArrayOutputStream f = new ByteArrayOutputStream();
    f.write(0x80 | opcode);
    int len = payload.length;
    if (len < 126) {
      f.write(0x80 | len);
    } else {
      f.write(0x80 | 126);
      f.write(len >>> 8);
      f.write(len);
    }
    byte[] mask = new byte[4];
    ThreadLocalRandom.current().nextBytes(mask);
    f.write(mask);
    for (int i = 0; i < len; i++) {
      f.write(payload[i] ^ mask[i & 3]);
    }
    out.write(f.toByteArray());
    out.flush();
  }

  private static void closeQuietly(Socket s) {
    try {
      s.close();
    } catch (IOException ignored) {
      // Already gone.
    }
  }

  @Override
  public void close() throws InterruptedException {
    stopped = true;
    driver.join(30_000);
    List<Socket> all = new ArrayList<>(List.of(sockets));
    for (Socket s : all) {
      if (s != null) {
        closeQuietly(s);
      }
    }
  }
}
