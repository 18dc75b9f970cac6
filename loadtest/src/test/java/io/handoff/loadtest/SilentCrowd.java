package io.handoff.loadtest;

import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.FieldOp;
import io.handoff.protocol.v1.FollowSpec;
import io.handoff.protocol.v1.Hello;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.protocol.v1.Write;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Fed devices and their feeders. Each fed device upgrades and says Hello (following all of its
 * user's documents, so the fed document too); each has a feeder, another device of the same user
 * that follows nothing and writes one value of {@code feedBytes} a second to the user's document
 * {@code feed}, which the node fans out to the fed device. Feeders read every frame the node sends
 * them and count acks and errors. Like the Java client, a feeder keeps one write in flight (a
 * second passes without a write while the previous one is unanswered) and re-sends a write that
 * failed retryably (OUTCOME_UNKNOWN: its fate is unknown) under the same client_seq; a write
 * refused for good is counted and given up. {@link #finish} says whether every write was accepted.
 *
 * <p>Fed devices either never read ({@link Mode#SILENT}: a small receive buffer and nothing read,
 * as a phone in a dead zone) or read everything ({@link Mode#READING}: the same devices with the
 * same feed, which keep up; the calm run's twin, so that the only difference between two runs is
 * that the devices stop reading). Every fed device sends a WebSocket ping once a second, so it
 * stays connected as long as the server lets it; when the server has closed it, the write fails and
 * it connects again at once, as an app would.
 *
 * <p>One thread drives them all with a selector (non-blocking reads of the feeders and reading
 * devices; connecting and upgrading block, with a timeout). {@link #finish} stops the feed, waits
 * (bounded) for the last acks and deliveries and stops the thread; {@link #close()} closes every
 * socket.
 */
final class SilentCrowd implements AutoCloseable {
  /** What the fed devices do with what they receive. */
  enum Mode {
    SILENT,
    READING
  }

  /** What the crowd saw, from {@link #finish}. */
  record Report(
      long writes,
      long acks,
      long refused,
      long skipped,
      Map<String, Long> errors,
      List<String> firstErrors,
      long feederCloses,
      Map<String, Long> closes,
      long reconnects,
      long deltas,
      long snapshots,
      long behind,
      boolean settled) {
    /** Every write acked in the end (some perhaps re-sent), none refused, no feeder closed. */
    boolean everyWriteAccepted() {
      return writes > 0 && acks == writes && refused == 0 && feederCloses == 0;
    }

    @Override
    public String toString() {
      return String.format(
          "feeders wrote %,d, acked %,d, refused %d, seconds skipped waiting for an ack %,d,"
              + " error answers %s %s, feeders closed %d; connections lost %s; fed devices"
              + " reconnected %,d times, received %,d deltas and %,d snapshots, %d behind their"
              + " feed at the end%s",
          writes,
          acks,
          refused,
          skipped,
          errors,
          firstErrors,
          feederCloses,
          closes,
          reconnects,
          deltas,
          snapshots,
          behind,
          settled ? "" : " (did not settle in time)");
    }
  }

  private static final int SILENT_RECEIVE_BUFFER = 4096;
  private static final int MAX_SERVER_FRAME = 4 << 20;
  private static final String DOCUMENT = "feed";

  private final int port;
  private final Mode mode;
  private final Conn[] devices;
  private final Conn[] feeders;
  private final byte[] value;
  private final Selector selector;
  private final Thread driver;
  private final AtomicLong reconnects = new AtomicLong();
  private volatile boolean finishing;
  private volatile long finishDeadline;
  private volatile boolean stopped;
  private volatile long rounds;

  // ---- driver thread only (read by others after it ended) ----
  private long seq;
  private long writes;
  private long acks;
  private long refused;
  private long skipped;
  private final Map<String, Long> errors = new TreeMap<>();
  private final List<String> firstErrors = new ArrayList<>();
  private final Map<String, Long> closes = new TreeMap<>();
  private long feederCloses;
  private long deltas;
  private long snapshots;
  private boolean settled;

  /**
   * Connects one fed device per token in {@code fed} and one feeder per token in {@code feeders}
   * (of the same users, in the same order); throws if any cannot. The feed starts at once.
   */
  SilentCrowd(int port, List<String> fed, List<String> feeders, int feedBytes, Mode mode)
      throws IOException {
    this.port = port;
    this.mode = mode;
    this.value = new byte[feedBytes];
    this.selector = Selector.open();
    this.devices = new Conn[fed.size()];
    this.feeders = new Conn[feeders.size()];
    Hello followAll = Hello.getDefaultInstance();
    Hello followNothing = Hello.newBuilder().setFollow(FollowSpec.getDefaultInstance()).build();
    for (int i = 0; i < devices.length; i++) {
      devices[i] =
          new Conn(fed.get(i), followAll, mode == Mode.READING, mode == Mode.SILENT, false);
      devices[i].open();
    }
    for (int i = 0; i < this.feeders.length; i++) {
      this.feeders[i] = new Conn(feeders.get(i), followNothing, true, false, true);
      this.feeders[i].open();
    }
    driver = new Thread(this::drive, "silent-crowd");
    driver.setDaemon(true);
    driver.start();
  }

  /** Rounds of writes the feeders sent, so far. Any thread. */
  long rounds() {
    return rounds;
  }

  /** Connections the server closed and the crowd opened again, so far. Any thread. */
  long reconnects() {
    return reconnects.get();
  }

  /**
   * Stops the feed, waits up to {@code bound} for the acks of every write (and, for reading
   * devices, for every version acked to reach its device), stops the driver and says what it saw.
   */
  Report finish(Duration bound) throws InterruptedException {
    finishDeadline = System.nanoTime() + bound.toNanos();
    finishing = true;
    driver.join(bound.toMillis() + 30_000);
    stopped = true;
    driver.join(30_000);
    long behind = 0;
    for (int i = 0; i < devices.length; i++) {
      if (mode == Mode.READING && devices[i].version < feeders[i].ackedVersion) {
        behind++;
      }
    }
    return new Report(
        writes,
        acks,
        refused,
        skipped,
        Map.copyOf(errors),
        List.copyOf(firstErrors),
        feederCloses,
        Map.copyOf(closes),
        reconnects.get(),
        deltas,
        snapshots,
        behind,
        settled);
  }

  private void drive() {
    long next = System.nanoTime();
    try {
      while (!stopped) {
        long now = System.nanoTime();
        if (finishing && (done() || now > finishDeadline)) {
          settled = done();
          return;
        }
        if (now >= next) {
          next += TimeUnit.SECONDS.toNanos(1);
          tick();
        }
        long waitMillis = Math.max(1, TimeUnit.NANOSECONDS.toMillis(next - System.nanoTime()));
        selector.select(pendingOutput() ? Math.min(waitMillis, 10) : Math.min(waitMillis, 100));
        for (SelectionKey k : selector.selectedKeys()) {
          ((Conn) k.attachment()).readable();
        }
        selector.selectedKeys().clear();
        flushAll();
      }
    } catch (IOException e) {
      throw new java.io.UncheckedIOException("the crowd's selector failed", e);
    }
  }

  /** Every write answered for good, and every reading device at its feeder's last version. */
  private boolean done() {
    for (Conn f : feeders) {
      if (f.pending != null && f.channel != null) {
        return false;
      }
    }
    if (mode == Mode.READING) {
      for (int i = 0; i < devices.length; i++) {
        if (devices[i].version < feeders[i].ackedVersion) {
          return false;
        }
      }
    }
    return true;
  }

  /**
   * Once a second: per feeder, a re-send of its failed write, or a new write unless one is in
   * flight or the crowd is finishing; one ping per fed device.
   */
  private void tick() {
    if (!finishing) {
      seq++;
      rounds = seq;
    }
    byte[] fresh = null;
    for (Conn f : feeders) {
      if (f.channel == null) {
        continue;
      }
      if (f.pending != null && f.retry) {
        f.retry = false;
        f.enqueue(f.pending);
      } else if (f.pending != null) {
        skipped += finishing ? 0 : 1;
      } else if (!finishing) {
        if (fresh == null) {
          fresh = frame(0x2, feed(seq));
        }
        f.pending = fresh;
        f.pendingSeq = seq;
        f.enqueue(fresh);
        writes++;
      }
    }
    byte[] ping = frame(0x9, new byte[0]);
    for (Conn d : devices) {
      if (d.channel != null) {
        d.enqueue(ping);
      }
    }
    flushAll();
    for (Conn d : devices) {
      if (d.channel == null && !finishing) {
        try {
          d.open();
          reconnects.incrementAndGet();
        } catch (IOException notNow) {
          // The node is gone or refuses; the test's own checks say so. Try again next second.
        }
      }
    }
  }

  private boolean pendingOutput() {
    for (Conn f : feeders) {
      if (!f.out.isEmpty()) {
        return true;
      }
    }
    return false;
  }

  private void flushAll() {
    for (Conn f : feeders) {
      f.flush();
    }
    for (Conn d : devices) {
      d.flush();
    }
  }

  private byte[] feed(long n) {
    return ClientFrame.newBuilder()
        .setWrite(
            Write.newBuilder()
                .setDocument(DOCUMENT)
                .setClientSeq(n)
                .addOps(FieldOp.newBuilder().setField("v").setSet(ByteString.copyFrom(value))))
        .build()
        .toByteArray();
  }

  private void onFrame(Conn c, ServerFrame f) {
    if (c.feeds) {
      if (f.hasAck() && f.getAck().getClientSeq() == c.pendingSeq && c.pending != null) {
        acks++;
        c.pending = null;
        c.ackedVersion = Math.max(c.ackedVersion, f.getAck().getVersion());
      } else if (f.hasError()) {
        String code = f.getError().getCode().name();
        if (!errors.containsKey(code)) {
          firstErrors.add(code + ": " + f.getError().getMessage());
        }
        errors.merge(code, 1L, Long::sum);
        if (f.getError().getClientSeq() == c.pendingSeq && c.pending != null) {
          if (f.getError().getRetryable() || code.equals("OUTCOME_UNKNOWN")) {
            c.retry = true; // Re-sent next second under the same client_seq.
          } else {
            refused++;
            c.pending = null;
          }
        }
      }
    } else if (f.hasDelta() && f.getDelta().getDocument().equals(DOCUMENT)) {
      deltas++;
      c.version = f.getDelta().getVersion();
    } else if (f.hasSnapshot() && f.getSnapshot().getDocument().equals(DOCUMENT)) {
      snapshots++;
      c.version = f.getSnapshot().getVersion();
    }
  }

  /** One connection: a fed device (silent or reading) or a feeder. Driver thread only. */
  private final class Conn {
    final String token;
    final Hello hello;
    final boolean reads;
    final boolean silent;
    final boolean feeds;
    final ArrayDeque<ByteBuffer> out = new ArrayDeque<>();
    ByteBuffer in;
    SocketChannel channel;
    long ackedVersion;
    long version;
    // A feeder's write in flight (its masked frame, re-sent as it is) and its client_seq.
    byte[] pending;
    long pendingSeq;
    boolean retry;

    Conn(String token, Hello hello, boolean reads, boolean silent, boolean feeds) {
      this.token = token;
      this.hello = hello;
      this.reads = reads;
      this.silent = silent;
      this.feeds = feeds;
    }

    /** Connects, upgrades and says Hello; blocking, bounded by timeouts. */
    void open() throws IOException {
      SocketChannel ch = SocketChannel.open();
      try {
        if (silent) {
          ch.setOption(StandardSocketOptions.SO_RCVBUF, SILENT_RECEIVE_BUFFER);
        }
        ch.socket().connect(new InetSocketAddress("127.0.0.1", port), 10_000);
        ch.socket().setSoTimeout((int) Duration.ofSeconds(10).toMillis());
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
        OutputStream os = ch.socket().getOutputStream();
        os.write(req.getBytes(StandardCharsets.US_ASCII));
        String status = readHead(ch.socket().getInputStream());
        if (!status.startsWith("HTTP/1.1 101")) {
          throw new IOException("upgrade refused: " + status);
        }
        os.write(frame(0x2, ClientFrame.newBuilder().setHello(hello).build().toByteArray()));
        ch.configureBlocking(false);
        if (reads) {
          in = ByteBuffer.allocate(64 * 1024);
          ch.register(selector, SelectionKey.OP_READ, this);
        }
        out.clear();
        channel = ch;
      } catch (IOException | RuntimeException e) {
        ch.close();
        throw e;
      }
    }

    void enqueue(byte[] frame) {
      out.add(ByteBuffer.wrap(frame));
    }

    void flush() {
      if (channel == null) {
        return;
      }
      try {
        while (!out.isEmpty()) {
          ByteBuffer b = out.peek();
          channel.write(b);
          if (b.hasRemaining()) {
            return; // The socket is full; the driver tries again shortly.
          }
          out.poll();
        }
      } catch (IOException closedByServer) {
        lost("write failed (" + closedByServer.getMessage() + ")");
      }
    }

    void readable() {
      try {
        if (channel == null) {
          return;
        }
        if (channel.read(in) < 0) {
          lost("end of stream");
          return;
        }
        in.flip();
        while (parseOne()) {
          // One frame at a time.
        }
        in.compact();
      } catch (IOException e) {
        lost(e.getMessage());
      }
    }

    /** Parses one server frame (never masked) if it is all there. */
    private boolean parseOne() throws IOException {
      if (in.remaining() < 2) {
        return false;
      }
      int at = in.position();
      int b0 = in.get(at) & 0xff;
      int b1 = in.get(at + 1) & 0x7f;
      int header = 2;
      long len = b1;
      if (b1 == 126) {
        header = 4;
        if (in.remaining() < header) {
          return false;
        }
        len = ((in.get(at + 2) & 0xff) << 8) | (in.get(at + 3) & 0xff);
      } else if (b1 == 127) {
        header = 10;
        if (in.remaining() < header) {
          return false;
        }
        len = in.getLong(at + 2);
      }
      if (len > MAX_SERVER_FRAME) {
        throw new IOException("a server frame of " + len + " bytes");
      }
      if (in.remaining() < header + len) {
        if (in.capacity() < header + len) {
          ByteBuffer bigger = ByteBuffer.allocate((int) (header + len));
          bigger.put(in);
          bigger.flip();
          in = bigger;
        }
        return false;
      }
      byte[] payload = new byte[(int) len];
      in.position(at + header);
      in.get(payload);
      switch (b0 & 0x0f) {
        case 0x2 -> {
          try {
            onFrame(this, ServerFrame.parseFrom(payload));
          } catch (InvalidProtocolBufferException e) {
            throw new IOException("an unreadable server frame", e);
          }
        }
        case 0x8 ->
            throw new IOException(
                "close "
                    + (payload.length >= 2
                        ? ((payload[0] & 0xff) << 8 | (payload[1] & 0xff))
                        : "without a code"));
        case 0x9 -> enqueue(frame(0xA, payload));
        default -> {
          // Pongs to the device's own pings.
        }
      }
      return true;
    }

    /** The server closed this connection: a fed device reconnects next second. */
    void lost(String why) {
      if (channel == null) {
        return;
      }
      closes.merge((feeds ? "feeder " : silent ? "silent " : "reading ") + why, 1L, Long::sum);
      try {
        channel.close();
      } catch (IOException ignored) {
        // Already gone.
      }
      channel = null;
      out.clear();
      if (in != null) {
        in.clear();
      }
      if (feeds) {
        feederCloses++;
      }
    }
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
  private static byte[] frame(int opcode, byte[] payload) {
    ByteArrayOutputStream f = new ByteArrayOutputStream(payload.length + 14);
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
    f.write(mask, 0, 4);
    for (int i = 0; i < len; i++) {
      f.write(payload[i] ^ mask[i & 3]);
    }
    return f.toByteArray();
  }

  @Override
  public void close() throws IOException, InterruptedException {
    stopped = true;
    driver.join(30_000);
    for (Conn c : devices) {
      if (c.channel != null) {
        c.channel.close();
      }
    }
    for (Conn c : feeders) {
      if (c.channel != null) {
        c.channel.close();
      }
    }
    selector.close();
  }
}
