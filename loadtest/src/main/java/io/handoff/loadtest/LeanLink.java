// Over 600 lines because the lean connection mirrors, in one place, every decision of the Java
// client that the load tester's counting depends on (resume, re-sent writes, snapshots, acks), so
// the two can be compared side by side.
package io.handoff.loadtest;

import io.handoff.client.ConnectionState;
import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.DocumentSync;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.Hello;
import io.handoff.protocol.v1.Position;
import io.handoff.protocol.v1.Resync;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.protocol.v1.Snapshot;
import io.handoff.protocol.v1.SyncReport;
import io.handoff.protocol.v1.Welcome;
import io.netty.buffer.ByteBuf;
import io.netty.channel.EventLoop;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

/**
 * The lean connection of one {@code fanout} device: the protocol the load tester needs (upgrade,
 * Hello and Welcome, writes one in flight per document, acks, deltas, snapshots, resume after a
 * lost connection on the next URL, with positions and the same sequence numbers for writes sent
 * again) without the Java client's general machinery. Acks and deltas are read in place ({@link
 * LeanWire}), writes are encoded straight into pooled buffers, no future or map entry per write. It
 * mirrors the client's decisions so every check counts the same: a delta older than the replica is
 * ignored, a gap, another epoch or another history (fingerprints) asks for a Resync, an ack that is
 * not the next version does not touch the replica, retryable refusals are sent again with their
 * number after a backoff, reconnect close codes reconnect, others end the device. Those rules and
 * the backoff are restated here, not shared: in the client they are package-private state of its
 * public package (SyncEngine, WriteQueue, Backoff), and ScenarioSmokeTest runs both paths. One file
 * of a little over 600 lines for that reason: it is the whole protocol of one lean device, its
 * state in parallel arrays per document that every frame handler reads.
 *
 * <p>Threading: everything below runs on the device's event loop; {@link #connect}, {@link #write},
 * {@link #drop} and {@link #close} hop onto it; {@link #resent()} may be read from any thread, the
 * replica getters once the event loops stopped.
 */
final class LeanLink implements LeanConnection.Listener {
  private static final long BACKOFF_INITIAL_NANOS = TimeUnit.MILLISECONDS.toNanos(100);
  private static final long BACKOFF_MAX_NANOS = TimeUnit.SECONDS.toNanos(30);
  private static final long UNAVAILABLE_MAX_NANOS = TimeUnit.SECONDS.toNanos(2);
  private static final long RETRY_AFTER_MAX_NANOS = TimeUnit.SECONDS.toNanos(60);
  // As the client's Reconnects.STABLE_CONNECTION_NANOS: how long a connection must have lasted
  // since its Welcome for the reconnect backoff to start over when it ends.
  static final long STABLE_CONNECTION_NANOS = TimeUnit.SECONDS.toNanos(10);

  private final Device device;
  private final EventLoop loop;
  private final List<URI> urls;
  private final InetSocketAddress localAddress;
  private final String token;
  private final String clientName;
  private final Duration connectTimeout;
  private final WelcomeWait welcomeWait;
  private final LongSupplier nanoClock;
  private final byte[] filler;
  private final byte[][] documentNames;
  private final LeanWire.Frame frame = new LeanWire.Frame();
  private final LeanWire.Ack ack = new LeanWire.Ack();
  private final LeanWire.Delta delta = new LeanWire.Delta();
  private final long[] payloadHash = new long[1];
  private volatile long resent;

  // ---- event loop only ----
  // The state last told to the device: as client-java's, a change only, so that the attempts
  // that fail while a device reconnects are not each reported as another lost connection.
  private ConnectionState state;
  // The replica of each document: version, epoch, fingerprint and a hash of the payload field.
  private final long[] version;
  private final long[] epoch;
  private final long[] fingerprint;
  private final long[] content;
  private final boolean[] resyncInFlight;
  // Documents this connection asked a Resync of, or took a snapshot of: the answer may overlap
  // what the live stream already brought, so a stale delta of them is not a fault of the server.
  private final boolean[] repairedOnLink;
  private final WriteLanes lanes;
  // Documents the Welcome said are still to come, with their target version; -1 when not.
  private final long[] catchUpTo;
  // The epoch the Welcome brings each of those documents to; a catch-up counts only at that epoch.
  private final long[] catchUpEpoch;
  private int catchingUp;
  private long nextSeq;
  private int window = 1_000;
  private int inFlight;
  private int endpoint;
  private int attempt;
  private LeanConnection link;
  private CompletableFuture<Void> connected;
  private boolean closedByUser;

  /** A link reading time from {@code nanoClock} ({@code System::nanoTime}, or a test's). */
  LeanLink(
      Device device,
      EventLoop loop,
      List<URI> urls,
      InetSocketAddress localAddress,
      String token,
      String clientName,
      Duration connectTimeout,
      int payloadBytes,
      int documents,
      LongSupplier nanoClock) {
    this.device = device;
    this.nanoClock = nanoClock;
    this.loop = loop;
    this.urls = List.copyOf(urls);
    this.localAddress = localAddress;
    this.token = token;
    this.clientName = clientName;
    this.connectTimeout = connectTimeout;
    this.welcomeWait = new WelcomeWait(connectTimeout);
    this.filler = Payload.encode(0, 0, payloadBytes);
    this.documentNames = new byte[documents][];
    for (int i = 0; i < documents; i++) {
      documentNames[i] = Device.documentName(i).getBytes(StandardCharsets.US_ASCII);
    }
    version = new long[documents];
    epoch = new long[documents];
    fingerprint = new long[documents];
    content = new long[documents];
    resyncInFlight = new boolean[documents];
    repairedOnLink = new boolean[documents];
    lanes = new WriteLanes(documents);
    catchUpTo = new long[documents];
    catchUpEpoch = new long[documents];
    java.util.Arrays.fill(catchUpTo, -1);
  }

  // ---------------------------------------------------------------------------------------------
  // Any thread

  /** Connects (once); completes at the first Welcome, fails if the device closes for good first. */
  CompletableFuture<Void> connect() {
    CompletableFuture<Void> result = new CompletableFuture<>();
    loop.execute(
        () -> {
          if (connected == null) {
            connected = new CompletableFuture<>();
            state(ConnectionState.CONNECTING, 0, null);
            attempt();
          }
          connected.whenComplete(
              (ok, e) -> {
                if (e == null) {
                  result.complete(null);
                } else {
                  result.completeExceptionally(e);
                }
              });
        });
    return result;
  }

  /** Submits a write of the payload for {@code intendedNanos} to document {@code doc}. */
  void write(int doc, long intendedNanos) {
    if (loop.inEventLoop()) {
      submit(doc, intendedNanos);
    } else {
      loop.execute(() -> submit(doc, intendedNanos));
    }
  }

  /** The event loop this device lives on. */
  EventLoop loop() {
    return loop;
  }

  /** Cuts the connection without a close frame, as a network failure would. */
  void drop() {
    loop.execute(
        () -> {
          if (link != null) {
            link.abort();
          }
        });
  }

  /** Closes for good (a close frame, then TCP); returns when the channel closed or 10 s passed. */
  void close() {
    CompletableFuture<Void> done = new CompletableFuture<>();
    try {
      loop.execute(
          () -> {
            closedByUser = true;
            LeanConnection l = link;
            link = null;
            if (connected != null && !connected.isDone()) {
              connected.completeExceptionally(new IllegalStateException("closed"));
            }
            if (l == null || l.channel == null || !l.channel.isOpen()) {
              done.complete(null);
              return;
            }
            // The connection sends its close frame (1000) before TCP's close.
            l.channel.close().addListener(f -> done.complete(null));
          });
      done.get(10, TimeUnit.SECONDS);
    } catch (Exception e) {
      // The loop is gone, or the close took too long: the group's shutdown closes what is left.
    }
  }

  /** How many reconnect delays in a row the backoff has grown by; read on the event loop. */
  int backoffAttempt() {
    return attempt;
  }

  /** Writes sent again with their original number. */
  long resent() {
    return resent;
  }

  /** The replica's version of {@code doc}; read after the event loops stopped. */
  long version(int doc) {
    return version[doc];
  }

  /** A hash of the replica's payload field of {@code doc}; read after the event loops stopped. */
  long content(int doc) {
    return content[doc];
  }

  // ---------------------------------------------------------------------------------------------
  // Event loop: connections

  private void attempt() {
    if (closedByUser || link != null) {
      return;
    }
    link = LeanConnection.open(urls.get(endpoint), token, loop, localAddress, connectTimeout, this);
  }

  @Override
  public byte[] hello(LeanConnection l) {
    return hello().toByteArray();
  }

  @Override
  public void opened(LeanConnection l, boolean helloRead) {
    if (link != l) {
      l.channel.close();
      return;
    }
    if (!helloRead) {
      send(l, hello());
      l.channel.flush();
    }
    welcomeWait.start(l, device, urls.get(endpoint));
  }

  /** The Hello: where each document stands. */
  private ClientFrame hello() {
    Hello.Builder hello = Hello.newBuilder().setClient(clientName);
    for (int d = 0; d < version.length; d++) {
      if (version[d] > 0) {
        hello.addPositions(position(d));
      }
    }
    return ClientFrame.newBuilder().setHello(hello).build();
  }

  @Override
  public void closed(LeanConnection l) {
    WelcomeWait.over(l);
    if (link != l) {
      return;
    }
    link = null;
    inFlight = 0;
    lanes.allUnsent();
    java.util.Arrays.fill(resyncInFlight, false);
    java.util.Arrays.fill(repairedOnLink, false);
    java.util.Arrays.fill(catchUpTo, -1);
    catchingUp = 0;
    if (closedByUser) {
      return;
    }
    int code = l.closeCode == 0 ? Device.ABNORMAL_CLOSURE : l.closeCode;
    String reason = l.closeReason;
    // As the client: the node's Disconnect decides over a close without a Handoff code after it.
    if (!CloseCode.isHandoffCode(code) && l.disconnectCode != 0) {
      code = l.disconnectCode;
      reason = l.disconnectReason;
    }
    if (CloseCode.isReconnect(code)) {
      if (l.welcomed && nanoClock.getAsLong() - l.welcomedAtNanos >= STABLE_CONNECTION_NANOS) {
        // As the client: the backoff starts over only after a connection that lasted, so a node
        // that welcomes and then closes every connection at once is not called back at once.
        attempt = 0;
      }
      state(ConnectionState.RECONNECTING, code, reason);
      endpoint = (endpoint + 1) % urls.size();
      // As the client: after a 4005 or an upgrade refused with 503 the short backoff, and after a
      // 429 or 503 with Retry-After not before it (a node's per-address upgrade limit says it).
      int status = l.refusedStatus;
      boolean storeDown = code == CloseCode.UNAVAILABLE.code() || status == 503;
      long delay = backoff(attempt, storeDown ? UNAVAILABLE_MAX_NANOS : BACKOFF_MAX_NANOS);
      if ((status == 429 || status == 503) && l.retryAfterMillis >= 0) {
        delay = Math.max(delay, retryAfter(TimeUnit.MILLISECONDS.toNanos(l.retryAfterMillis)));
      }
      if (attempt < 30) {
        attempt++;
      }
      loop.schedule(this::attempt, delay, TimeUnit.NANOSECONDS);
    } else {
      state(ConnectionState.CLOSED, code, reason);
      for (int d = 0; d < version.length; d++) {
        while (lanes.hasHead(d)) {
          failHead(d, "connection closed for good with code " + code + ": " + reason);
        }
      }
      connected.completeExceptionally(
          new IllegalStateException(
              "connection closed for good with code " + code + " (" + reason + ")"));
    }
  }

  /** Tells the device of a change of state (not of the same state again). Event loop. */
  private void state(ConnectionState next, int code, String reason) {
    if (state == next) {
      return;
    }
    state = next;
    device.onStateChanged(next, code, reason);
  }

  private void welcome(LeanConnection l, Welcome w) {
    WelcomeWait.over(l);
    l.welcomed = true;
    l.welcomedAtNanos = nanoClock.getAsLong();
    l.durableAcks = w.getDurableAckReplicas() > 0;
    nextSeq = Math.max(nextSeq, w.getLastClientSeq());
    window = w.getMaxInFlightWrites() > 0 ? Math.min(1_000, w.getMaxInFlightWrites()) : 1_000;
    state(ConnectionState.CONNECTED, 0, null);
    connected.complete(null);
    for (DocumentSync sync : w.getSync().getDocumentsList()) {
      int d = LeanWire.documentIndex(sync.getDocument());
      DocumentSync.Mode mode = sync.getMode();
      if (d >= 0
          && (mode == DocumentSync.Mode.DELTAS || mode == DocumentSync.Mode.SNAPSHOT)
          && (epoch[d] != sync.getEpoch() || version[d] < sync.getToVersion())) {
        if (catchUpTo[d] < 0) {
          catchingUp++;
        }
        catchUpTo[d] = sync.getToVersion();
        catchUpEpoch[d] = sync.getEpoch();
      }
    }
    syncReport(l, w.getSync());
    pump(l);
    checkSynced(l);
  }

  private void caughtUp(LeanConnection l, int d) {
    if (catchUpTo[d] >= 0 && version[d] >= catchUpTo[d] && epoch[d] == catchUpEpoch[d]) {
      catchUpTo[d] = -1;
      catchingUp--;
      checkSynced(l);
    }
  }

  private void checkSynced(LeanConnection l) {
    if (!l.synced && l.welcomed && catchingUp == 0 && link == l) {
      l.synced = true;
      device.onSynced();
    }
  }

  private void syncReport(LeanConnection l, SyncReport report) {
    for (DocumentSync sync : report.getDocumentsList()) {
      int d = LeanWire.documentIndex(sync.getDocument());
      if (d >= 0) {
        resyncInFlight[d] = false;
      }
      if (sync.getMode() == DocumentSync.Mode.GONE) {
        device.gone(sync.getDocument());
        if (d >= 0) {
          version[d] = 0;
          epoch[d] = 0;
          fingerprint[d] = 0;
          content[d] = 0;
          if (catchUpTo[d] >= 0) {
            catchUpTo[d] = -1;
            catchingUp--;
            checkSynced(l);
          }
        }
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Event loop: frames

  @Override
  public void frame(LeanConnection l, ByteBuf b, int from, int to, long now) {
    if (link != l) {
      return;
    }
    LeanWire.Frame f = frame.read(b, from, to);
    switch (f.body) {
      case LeanWire.ACK -> ack(l, ack.read(b, f.start, f.end));
      case LeanWire.DELTA -> delta(l, b, delta.read(b, f.start, f.end), now);
      case LeanWire.WELCOME -> welcome(l, parse(b, from, to).getWelcome());
      case LeanWire.SNAPSHOT -> snapshot(l, parse(b, from, to).getSnapshot());
      case LeanWire.SYNC_REPORT -> syncReport(l, parse(b, from, to).getSyncReport());
      case LeanWire.ERROR -> error(l, parse(b, from, to).getError());
      case LeanWire.DISCONNECT -> {
        ServerFrame s = parse(b, from, to);
        l.disconnectCode = s.getDisconnect().getCode();
        l.disconnectReason = s.getDisconnect().getReason();
      }
      case LeanWire.OFFER_PROMPT -> device.onPrompt(parse(b, from, to).getOfferPrompt().getOffer());
      default -> {} // Presence, token notices and the like: nothing a write run checks.
    }
  }

  private void ack(LeanConnection l, LeanWire.Ack a) {
    int d = a.document;
    if (!lanes.isHead(d, a.seq)) {
      return; // Not a write waiting here: the client ignores it too.
    }
    boolean contiguous = a.version == version[d] + 1 && (version[d] == 0 || epoch[d] == a.epoch);
    if (contiguous) {
      version[d] = a.version;
      epoch[d] = a.epoch;
      fingerprint[d] = a.fingerprint;
      content[d] = lanes.hash(d);
      device.ownWrite(d, a.version, a.seq);
      caughtUp(l, d);
    }
    settled(l, d, a.version);
  }

  private void delta(LeanConnection l, ByteBuf b, LeanWire.Delta x, long now) {
    int d = x.document;
    if (d < 0 || d >= version.length) {
      device.unknownDocument();
      return;
    }
    long v = version[d];
    if (v > 0 && x.epoch != epoch[d]) {
      resync(l, d);
      return;
    }
    if (v > 0 && fingerprint[d] != 0) {
      long theirs = x.version == v ? x.fingerprint : x.version == v + 1 ? x.previousFingerprint : 0;
      if (theirs != 0 && theirs != fingerprint[d]) {
        resync(l, d);
        return;
      }
    }
    boolean own = x.originSlot == device.slot;
    // On a connection that has caught up and never had to repair this document, the stream must
    // bring each version once and in order: a delta at or below the replica arrived twice (or
    // behind a later one), a delta past the next version arrived while its predecessor had not.
    // The replica repairs both (ignored; Resync), but the server got it wrong: count it first.
    boolean checked = l.synced && !repairedOnLink[d] && !resyncInFlight[d];
    if (x.version <= v) {
      if (checked && !own) {
        device.staleDelta(d, x.version);
      }
      return;
    }
    if (x.version != v + 1) {
      if (checked && !own) {
        device.gap(d, x.version);
      }
      resync(l, d);
      return;
    }
    if (x.foreignOps > 0 || x.ops != 1) {
      device.foreignOps(d, x.version);
    }
    version[d] = x.version;
    epoch[d] = x.epoch;
    fingerprint[d] = x.fingerprint;
    long intended = -1;
    if (x.valueStart >= 0) {
      content[d] = LeanWire.contentHash(b, x.valueStart, x.valueLength);
      if (x.valueLength >= Payload.HEADER_BYTES) {
        intended = b.getLong(x.valueStart);
      }
    } else {
      content[d] = 0;
    }
    device.delta(d, x.version, x.originSlot, x.originSeq, own, now, intended);
    caughtUp(l, d);
    if (own && !l.durableAcks && lanes.isHead(d, x.originSeq)) {
      settled(l, d, x.version);
    }
  }

  private void snapshot(LeanConnection l, Snapshot s) {
    int d = LeanWire.documentIndex(s.getDocument());
    if (d < 0) {
      device.unknownDocument();
      return;
    }
    version[d] = s.getVersion();
    epoch[d] = s.getEpoch();
    fingerprint[d] = s.getFingerprint();
    Map<String, com.google.protobuf.ByteString> fields = s.getFieldsMap();
    com.google.protobuf.ByteString p = fields.get(Payload.FIELD);
    content[d] = p == null ? 0 : LeanWire.contentHash(p.toByteArray());
    resyncInFlight[d] = false;
    repairedOnLink[d] = true;
    device.snapshot(d, s.getVersion());
    caughtUp(l, d);
  }

  private void error(LeanConnection l, io.handoff.protocol.v1.Error e) {
    long seq = e.getClientSeq();
    int d = LeanWire.documentIndex(e.getDocument());
    if (!lanes.isHead(d, seq) || !lanes.sent(d)) {
      device.serverError(e.getCode() + ": " + e.getMessage());
      return;
    }
    ErrorCode code = e.getCode();
    boolean unavailable = code == ErrorCode.UNAVAILABLE || code == ErrorCode.OUTCOME_UNKNOWN;
    boolean retryable =
        code != ErrorCode.STALE_SEQUENCE
            && code != ErrorCode.INTERNAL
            && (e.getRetryable()
                || code == ErrorCode.RATE_LIMITED
                || code == ErrorCode.TOO_MANY_IN_FLIGHT);
    if (unavailable || retryable) {
      lanes.unsent(d);
      inFlight--;
      long delay =
          backoff(lanes.retried(d), unavailable ? UNAVAILABLE_MAX_NANOS : BACKOFF_MAX_NANOS);
      loop.schedule(
          () -> {
            if (link == l && lanes.isHead(d, seq) && !lanes.sent(d)) {
              pump(l);
            }
          },
          delay,
          TimeUnit.NANOSECONDS);
      return;
    }
    failHead(d, "write refused: " + code + ": " + e.getMessage());
    pump(l);
  }

  private void resync(LeanConnection l, int d) {
    if (resyncInFlight[d]) {
      return;
    }
    resyncInFlight[d] = true;
    repairedOnLink[d] = true;
    send(
        l,
        ClientFrame.newBuilder().setResync(Resync.newBuilder().addPositions(position(d))).build());
    l.channel.flush();
  }

  private Position position(int d) {
    return Position.newBuilder()
        .setDocument(Device.documentName(d))
        .setEpoch(epoch[d])
        .setVersion(version[d])
        .setFingerprint(fingerprint[d])
        .build();
  }

  // ---------------------------------------------------------------------------------------------
  // Event loop: writes

  private void submit(int d, long intendedNanos) {
    if (closedByUser) {
      return;
    }
    if (!lanes.add(d, intendedNanos)) {
      device.writeFailed(
          d, WriteLanes.MAX_QUEUED + " writes already wait for their acks; not sent");
      return;
    }
    LeanConnection l = link;
    if (l != null && l.welcomed) {
      pump(l);
    }
  }

  /** Sends every head not on the wire, numbered writes first (as the client does), one flush. */
  private void pump(LeanConnection l) {
    boolean wrote = false;
    for (int pass = 0; pass < 2; pass++) {
      for (int d = 0; d < version.length && inFlight < window; d++) {
        if (!lanes.ready(d) || (pass == 0) == (lanes.seq(d) == 0)) {
          continue;
        }
        if (lanes.seq(d) == 0) {
          lanes.number(d, ++nextSeq);
        } else {
          resent++;
        }
        ByteBuf frame =
            LeanWire.encodeWrite(
                l.channel.alloc(),
                documentNames[d],
                lanes.seq(d),
                lanes.intended(d),
                device.index,
                filler,
                ThreadLocalRandom.current().nextInt(),
                payloadHash);
        lanes.sent(d, payloadHash[0]);
        inFlight++;
        // A whole masked WebSocket frame: Netty's frame encoder lets it through as it is.
        l.channel.write(frame, l.channel.voidPromise());
        wrote = true;
      }
    }
    if (wrote) {
      l.channel.flush();
    }
  }

  /** The head write of {@code d} was applied as {@code v}: counts it, moves the lane on. */
  private void settled(LeanConnection l, int d, long v) {
    if (lanes.sent(d)) {
      inFlight--;
    }
    long seq = lanes.seq(d);
    lanes.next(d);
    device.acked(d, v, seq);
    pump(l);
  }

  private void failHead(int d, String why) {
    if (lanes.sent(d)) {
      inFlight--;
    }
    lanes.next(d);
    if (!device.isClosing()) {
      device.writeFailed(d, why);
    }
  }

  // ---------------------------------------------------------------------------------------------

  private static long backoff(int attempt, long capNanos) {
    long ceiling = Math.min(capNanos, BACKOFF_INITIAL_NANOS << Math.min(attempt, 20));
    return (long) (ThreadLocalRandom.current().nextDouble() * ceiling);
  }

  /**
   * The wait after a refusal that asked for {@code retryAfterNanos}, as the client's {@code
   * Backoff.retryAfterNanos}: that long, at most a minute, plus a random extra of up to half of it.
   */
  private static long retryAfter(long retryAfterNanos) {
    long wait = Math.min(Math.max(0, retryAfterNanos), RETRY_AFTER_MAX_NANOS);
    return wait + (long) (ThreadLocalRandom.current().nextDouble() * (wait / 2));
  }

  private static ServerFrame parse(ByteBuf b, int from, int to) {
    try {
      return ServerFrame.parseFrom(b.nioBuffer(from, to - from));
    } catch (com.google.protobuf.InvalidProtocolBufferException e) {
      throw new LeanWire.Malformed("undecodable frame: " + e.getMessage());
    }
  }

  private static void send(LeanConnection l, ClientFrame f) {
    // Framed and masked by the connection (ClientWire).
    l.channel.write(f, l.channel.voidPromise());
  }
}
