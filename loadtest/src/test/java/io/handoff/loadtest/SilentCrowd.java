package io.handoff.loadtest;

import com.google.protobuf.ByteString;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.FieldOp;
import io.handoff.protocol.v1.FollowSpec;
import io.handoff.protocol.v1.Hello;
import io.handoff.protocol.v1.Write;
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
 *
 * <p>Each silent device has a feeder: another device of the same user that follows nothing, reads
 * (and drops) its acks, and writes one value of {@code feedBytes} a second to the user's document,
 * which the node fans out to the silent device. One thread drives them all; {@link #close()} stops
 * it and closes every socket.
 */
final class SilentCrowd implements AutoCloseable {
  private static final int RECEIVE_BUFFER = 4096;

  private final int port;
  private final List<String> tokens;
  private final Socket[] sockets;
  private final Socket[] feeders;
  private final byte[] value;
  private long seq;
  private final AtomicLong reconnects = new AtomicLong();
  private final Thread driver;
  private volatile boolean stopped;

  /**
   * Connects one silent device per token in {@code silent}, and one feeder per token in {@code
   * feeders} (of the same users, in the same order); throws if any cannot.
   */
  SilentCrowd(int port, List<String> silent, List<String> feeders, int feedBytes)
      throws IOException {
    this.port = port;
    this.tokens = List.copyOf(silent);
    this.sockets = new Socket[silent.size()];
    this.feeders = new Socket[feeders.size()];
    this.value = new byte[feedBytes];
    for (int i = 0; i < sockets.length; i++) {
      sockets[i] = connect(this.tokens.get(i), Hello.getDefaultInstance());
    }
    Hello followNothing = Hello.newBuilder().setFollow(FollowSpec.getDefaultInstance()).build();
    for (int i = 0; i < this.feeders.length; i++) {
      this.feeders[i] = connect(feeders.get(i), followNothing);
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
      seq++;
      for (Socket f : feeders) {
        try {
          f.getInputStream().skip(f.getInputStream().available());
          sendFrame(f.getOutputStream(), 0x2, feed(seq));
        } catch (IOException e) {
          throw new java.io.UncheckedIOException("a feeder lost its connection", e);
        }
      }
      for (int i = 0; i < sockets.length && !stopped; i++) {
        try {
          sendFrame(sockets[i].getOutputStream(), 0x9, new byte[0]);
        } catch (IOException closed) {
          closeQuietly(sockets[i]);
          try {
            sockets[i] = connect(tokens.get(i), Hello.getDefaultInstance());
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

  private byte[] feed(long n) {
    return ClientFrame.newBuilder()
        .setWrite(
            Write.newBuilder()
                .setDocument("feed")
                .setClientSeq(n)
                .addOps(FieldOp.newBuilder().setField("v").setSet(ByteString.copyFrom(value))))
        .build()
        .toByteArray();
  }

  private Socket connect(String token, Hello hello) throws IOException {
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
    sendFrame(out, 0x2, ClientFrame.newBuilder().setHello(hello).build().toByteArray());
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

  /** One final, masked frame. */
  private static void sendFrame(OutputStream out, int opcode, byte[] payload) throws IOException {
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
    all.addAll(List.of(feeders));
    for (Socket s : all) {
      if (s != null) {
        closeQuietly(s);
      }
    }
  }
}
