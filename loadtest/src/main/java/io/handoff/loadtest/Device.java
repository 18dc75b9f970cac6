// Over 600 lines because one simulated device's checks (order, gaps, duplicates, resume, latency)
// all read and write the same per-document trackers on its event loop; split, they would share them
// across classes for no gain.
package io.handoff.loadtest;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import io.handoff.client.ConnectionState;
import io.handoff.client.Document;
import io.handoff.client.DocumentChange;
import io.handoff.client.HandoffClient;
import io.handoff.client.HandoffException;
import io.handoff.client.HandoffListener;
import io.handoff.client.OfferListener;
import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.FieldOp;
import io.handoff.protocol.v1.Offer;
import io.handoff.protocol.v1.OfferOutcome;

/**
 * One simulated device: its client, its documents, and the bookkeeping of everything it receives.
 *
 * <p>Threading: the listener methods, the trackers and the resume fields run on the client's event
 * loop only; {@link #write} may be called from any thread (the write scheduler calls it on that
 * loop); {@link #isUp()} and {@link #trackers} ({@link VersionTracker#high()}) may be read from any
 * thread.
 *
 * <p>One file of a little over 600 lines on purpose: every count a device contributes (deliveries,
 * order, duplicates, pushes out of turn, resumes, offers, errors) reads and writes the same per-
 * document trackers, and both connection paths (the Java client's listener and {@link LeanLink})
 * report through these methods, so one class keeps the counting rules side by side.
 */
final class Device implements HandoffListener, OfferListener {
  /** Close code the client reports when the connection ended without a close frame. */
  static final int ABNORMAL_CLOSURE = 1006;

  /** Names of the documents every user has: {@code doc0} to {@code doc<K-1>}. */
  static String documentName(int index) {
    return "doc" + index;
  }

  /** The device id of slot {@code slot} of a user. */
  static String deviceIdOf(int slot) {
    return "d" + slot;
  }

  /** This device's index in the fleet. */
  final int index;

  /** Its user's index. */
  final int user;

  /** Its index among its user's devices; also the tail of its device id ({@code d<slot>}). */
  final int slot;

  /** The device id in its token. */
  final String deviceId;

  /** What this device received of each document. */
  final VersionTracker[] trackers;

  private final DocLog[] logs;
  private final Stats stats;
  private final boolean dropsExpected;
  // One of the two: the Java client, or the lean connection of the fanout scenario.
  private HandoffClient client;
  private LeanLink lean;
  // The Java client's event loop (a lean connection knows its own).
  private io.netty.channel.EventLoop loop;
  private Document[] documents;
  private volatile boolean up;
  private volatile boolean closing;
  // Whether a Welcome ever arrived: losses before the first one are retried connection attempts.
  private volatile boolean welcomed;
  // Why the first connection attempt failed, before any Welcome; null if it did not.
  private volatile String firstFailure;
  private volatile long lastDownNanos = Long.MIN_VALUE;
  // When the current connection had its Welcome (System.nanoTime); meaningful while up.
  private volatile long upSinceNanos = Long.MIN_VALUE;
  private volatile long lastSyncedNanos = Long.MIN_VALUE;
  // Whether the device was connected and caught up when the run stopped writing and draining.
  private volatile boolean upAtEnd;
  // Set before connecting by the handoff scenario; null otherwise.
  private volatile HandoffRun handoff;

  // ---- event loop only ----
  private boolean resuming;
  private long resumeStartNanos;
  private final long[] resumeTargets;

  /**
   * @param logs the user's documents, shared by all its devices
   * @param dropsExpected whether losing the connection without a close code is part of the run
   */
  Device(
      int index,
      int user,
      int slot,
      int devicesPerUser,
      DocLog[] logs,
      Stats stats,
      boolean dropsExpected) {
    this.index = index;
    this.user = user;
    this.slot = slot;
    this.deviceId = deviceIdOf(slot);
    this.logs = logs;
    this.stats = stats;
    this.dropsExpected = dropsExpected;
    this.trackers = new VersionTracker[logs.length];
    for (int i = 0; i < logs.length; i++) {
      trackers[i] = new VersionTracker();
    }
    this.resumeTargets = new long[logs.length];
  }

  /** Attaches the client, which lives on {@code loop}; called once, before it connects. */
  void attach(HandoffClient client, io.netty.channel.EventLoop loop) {
    this.client = client;
    this.loop = loop;
    this.documents = new Document[logs.length];
    for (int i = 0; i < logs.length; i++) {
      documents[i] = client.document(documentName(i));
    }
  }

  HandoffClient client() {
    return client;
  }

  /** Routes this device's prompts and withdrawals to {@code run}; called before connecting. */
  void handoff(HandoffRun run) {
    this.handoff = run;
  }

  @Override
  public void onPrompt(Offer offer) {
    HandoffRun run = handoff;
    if (run != null) {
      run.onPrompt(this, offer, System.nanoTime());
    } else if (!closing) {
      stats.clientErrors.increment();
      stats.sample("device " + index + " got a prompt in a scenario without offers");
    }
  }

  @Override
  public void onPromptRepeated(Offer offer) {
    HandoffRun run = handoff;
    if (run != null) {
      run.onPromptRepeated(this, offer);
    } else if (!closing) {
      stats.clientErrors.increment();
      stats.sample("device " + index + " got a prompt twice in a scenario without offers");
    }
  }

  @Override
  public void onWithdrawnUnheld(String offerId, OfferOutcome outcome, String byDevice) {
    HandoffRun run = handoff;
    if (run != null) {
      run.onWithdrawnUnheld(this, offerId, outcome, byDevice);
    }
  }

  @Override
  public void onWithdrawn(String offerId, OfferOutcome outcome, String byDevice) {
    HandoffRun run = handoff;
    if (run != null) {
      run.onWithdrawn(this, offerId, outcome, byDevice);
    }
  }

  /** Why this device's first connection attempt failed, if it failed before any Welcome. */
  String firstFailure() {
    return firstFailure;
  }

  /** Whether the client is connected (a Welcome arrived on the current connection). */
  boolean isUp() {
    return up;
  }

  /**
   * When the current connection had its Welcome ({@link System#nanoTime()}), as this device heard
   * of it (after the client noted it); meaningful while {@link #isUp()}.
   */
  long upSinceNanos() {
    return upSinceNanos;
  }

  /** When the connection was last lost after a Welcome ({@link System#nanoTime()}). */
  long lastDownNanos() {
    return lastDownNanos;
  }

  /** When a connection last caught up ({@link HandoffListener#onSynced()}), or MIN_VALUE. */
  long lastSyncedNanos() {
    return lastSyncedNanos;
  }

  /** From now on a CLOSED state is the load tester's doing, not an error. */
  void closing() {
    closing = true;
  }

  /**
   * Notes, at the end of the drain, whether the device is connected and caught up on its current
   * connection: only such a device can be expected to hold every acked write.
   */
  void markEnd() {
    upAtEnd = up && lastSyncedNanos >= lastDownNanos;
  }

  /** Whether the device was connected and caught up at the end of the drain. */
  boolean upAtEnd() {
    return upAtEnd;
  }

  /** Attaches the lean connection instead of a client; called once, before it connects. */
  void attach(LeanLink lean) {
    this.lean = lean;
  }

  /** Starts connecting; completes at the first Welcome. Any thread. */
  java.util.concurrent.CompletableFuture<Void> connect() {
    return lean != null ? lean.connect() : client.connect();
  }

  /** The event loop the device lives on. */
  io.netty.channel.EventLoop loop() {
    return lean != null ? lean.loop() : loop;
  }

  /** Writes this device sent again with their original number. Any thread. */
  long writesResent() {
    return lean != null ? lean.resent() : client.writesResent();
  }

  /** Cuts the connection without a close frame. Any thread. */
  void dropConnection() {
    if (lean != null) {
      lean.drop();
    } else {
      client.dropConnection();
    }
  }

  /** Closes the connection for good. Any thread. */
  void close() {
    if (lean != null) {
      lean.close();
    } else {
      client.close();
    }
  }

  /** The version of document {@code doc} this device's replica holds; after the close. */
  long replicaVersion(int doc) {
    return lean != null ? lean.version(doc) : client.document(documentName(doc)).version();
  }

  /**
   * What this device's replica of {@code doc} holds, comparable with {@link Object#equals} to the
   * other devices' of the same kind: the fields, or for a lean device a hash of its one field.
   */
  Object replicaContent(int doc) {
    return lean != null ? lean.content(doc) : client.document(documentName(doc)).fields();
  }

  /**
   * Submits one write to document {@code doc} whose payload carries {@code intendedNanos} and is
   * {@code payloadBytes} long ({@link Payload}). Any thread.
   */
  void write(int doc, long intendedNanos, int payloadBytes) {
    if (lean != null) {
      lean.write(doc, intendedNanos);
      return;
    }
    documents[doc]
        .set(
            Payload.FIELD,
            UnsafeByteOperations.unsafeWrap(Payload.encode(intendedNanos, index, payloadBytes)))
        .whenComplete(
            (version, error) -> {
              if (error == null) {
                acked(doc, version, 0);
              } else if (!closing) {
                stats.writeErrors.increment();
                stats.sample("write failed on device " + index + ": " + error.getMessage());
              }
            });
  }

  /** A write of this device to {@code doc} was acked as {@code version}. Event loop. */
  void acked(int doc, long version, long seq) {
    stats.acked.increment();
    if (!logs[doc].acked(version, slot)) {
      stats.sample(
          "user " + user + " " + documentName(doc) + ": two writes acked as version " + version);
    }
  }

  /** A write of this device to {@code doc} failed for good. Event loop. */
  void writeFailed(int doc, String why) {
    if (!closing) {
      stats.writeErrors.increment();
      stats.sample("write failed on device " + index + " (" + documentName(doc) + "): " + why);
    }
  }

  /** Whether the load tester is closing this device. */
  boolean isClosing() {
    return closing;
  }

  /** The ack of this device's own write brought its replica of {@code doc} to {@code version}. */
  void ownWrite(int doc, long version, long seq) {
    trackers[doc].onVersion(version);
    observe(doc, version, slot, seq, deviceId);
  }

  /**
   * A delta brought the replica of {@code doc} to {@code version}: written by slot {@code
   * originSlot} (-1 if its device id is not one of this run's) as its write {@code originSeq}.
   */
  void delta(
      int doc,
      long version,
      int originSlot,
      long originSeq,
      boolean own,
      long receivedNanos,
      long intendedNanos) {
    onDelta(
        doc,
        trackers[doc],
        version,
        originSlot,
        originSeq,
        own,
        null,
        receivedNanos,
        intendedNanos);
  }

  /**
   * A delta of another device arrived at or below the replica's version on a connection that had
   * caught up and never repaired {@code doc}: the same version again (delivered twice) or a version
   * arriving behind a later one. The replica ignores it; the run counts it. Event loop.
   */
  void staleDelta(int doc, long version) {
    if (trackers[doc].isSeen(version)) {
      stats.duplicated.increment();
      stats.sample("device " + index + ": " + documentName(doc) + " v" + version + " twice");
    } else {
      stats.outOfOrder.increment();
      stats.sample(
          "device " + index + ": " + documentName(doc) + " v" + version + " behind a later one");
    }
  }

  /**
   * A delta of another device arrived past the next version of {@code doc} on a connection that had
   * caught up: its predecessor had not arrived (lost, or coming late). The replica asks for a
   * Resync; the run counts it as out of order. Event loop.
   */
  void gap(int doc, long version) {
    stats.outOfOrder.increment();
    stats.sample(
        "device "
            + index
            + ": "
            + documentName(doc)
            + " v"
            + version
            + " arrived before v"
            + (trackers[doc].high() + 1)
            + " on a live connection");
  }

  /** A snapshot brought the replica of {@code doc} to {@code version}. */
  void snapshot(int doc, long version) {
    stats.snapshots.increment();
    trackers[doc].onSnapshot(version);
  }

  /** The server reported a document GONE. */
  void gone(String document) {
    stats.gone.increment();
    stats.sample("device " + index + ": " + document + " reported GONE");
  }

  /** A frame named a document this run never writes. */
  void unknownDocument() {
    stats.clientErrors.increment();
    stats.sample("device " + index + " got a change to a document the run does not write");
  }

  /** A delta held operations other than one set of {@link Payload#FIELD}. */
  void foreignOps(int doc, long version) {
    stats.clientErrors.increment();
    stats.sample(
        "device "
            + index
            + ": "
            + documentName(doc)
            + " v"
            + version
            + " holds operations the run never made");
  }

  /** The server sent an error not tied to a write waiting here, or its Welcome never came. */
  void serverError(String message) {
    if (!closing) {
      stats.clientErrors.increment();
      stats.sample("device " + index + ": " + message);
    }
  }

  @Override
  public void onDeltaOutOfTurn(String document, long held, long received) {
    int doc = documentIndex(document);
    if (doc < 0 || doc >= trackers.length) {
      return;
    }
    if (received <= held) {
      staleDelta(doc, received);
    } else {
      gap(doc, received);
    }
  }

  @Override
  public void onChange(DocumentChange change) {
    int doc = documentIndex(change.document());
    if (doc < 0 || doc >= trackers.length) {
      stats.clientErrors.increment();
      stats.sample("device " + index + " got a change to unknown document " + change.document());
      return;
    }
    switch (change.kind()) {
      case DELTA -> {
        String origin = change.originDevice();
        onDelta(
            doc,
            trackers[doc],
            change.version(),
            slotOf(origin),
            change.originSeq(),
            deviceId.equals(origin),
            origin,
            change.receivedNanos(),
            intendedNanos(change));
      }
      case OWN_WRITE -> ownWrite(doc, change.version(), change.originSeq());
      case SNAPSHOT -> snapshot(doc, change.version());
      case GONE -> gone(change.document());
    }
  }

  private void onDelta(
      int doc,
      VersionTracker tracker,
      long version,
      int originSlot,
      long originSeq,
      boolean own,
      String origin,
      long receivedNanos,
      long intendedNanos) {
    VersionTracker.Arrival arrival = tracker.onVersion(version);
    if (arrival != VersionTracker.Arrival.DUPLICATE) {
      observe(doc, version, originSlot, originSeq, origin);
    }
    if (own) {
      // Our own write, pushed back during a resume: it keeps the replica whole, but it is not a
      // delivery to another device.
      return;
    }
    switch (arrival) {
      case DUPLICATE -> {
        stats.duplicated.increment();
        stats.sample("device " + index + ": " + documentName(doc) + " v" + version + " twice");
      }
      case OUT_OF_ORDER -> {
        stats.received.increment();
        stats.outOfOrder.increment();
        timed(receivedNanos, intendedNanos);
      }
      case IN_ORDER -> {
        stats.received.increment();
        timed(receivedNanos, intendedNanos);
      }
    }
  }

  /**
   * Tells the document's log who wrote a version; counts a write the server applied twice. {@code
   * origin} is the writer's device id, or null to name it by its slot (only an error names it).
   */
  private void observe(int doc, long version, int originSlot, long originSeq, String origin) {
    DocLog.Seen seen = logs[doc].observe(version, originSlot, originSeq);
    if (seen == DocLog.Seen.APPLIED_TWICE) {
      stats.duplicated.increment();
      stats.sample(
          "user "
              + user
              + " "
              + documentName(doc)
              + ": write #"
              + originSeq
              + " of "
              + (origin != null
                  ? origin
                  : originSlot < 0 ? "an unknown device" : deviceIdOf(originSlot))
              + " applied again as version "
              + version);
    } else if (seen == DocLog.Seen.VERSION_REUSED) {
      stats.sample(
          "user "
              + user
              + " "
              + documentName(doc)
              + ": version "
              + version
              + " arrived as two different writes");
    }
  }

  private void timed(long received, long intended) {
    if (received >= stats.measureFromNanos && received < stats.measureToNanos) {
      stats.receivedInWindow.increment();
    }
    if (intended >= stats.measureFromNanos) {
      stats.latency.recordValue(Math.max(0, received - intended) / 1_000);
    }
  }

  private static long intendedNanos(DocumentChange change) {
    for (FieldOp op : change.ops()) {
      if (op.hasSet() && op.getField().equals(Payload.FIELD)) {
        ByteString value = op.getSet();
        return Payload.intendedNanos(value);
      }
    }
    return -1;
  }

  @Override
  public void onStateChanged(ConnectionState state, int closeCode, String reason) {
    long now = System.nanoTime();
    switch (state) {
      case CONNECTED -> {
        welcomed = true;
        if (!up) {
          upSinceNanos = now; // Before up: whoever reads up then reads this connection's.
          up = true;
          stats.connected.incrementAndGet();
        }
      }
      case RECONNECTING -> {
        wentDown();
        if (!welcomed) {
          if (firstFailure == null) {
            firstFailure = closeCode + " " + reason;
          }
          // The first connection attempt failed (refused, cut during the handshake): the client
          // retries by itself, and the connect phase counts the device if it gets in.
          stats.connectRetries.increment();
          return;
        }
        stats.disconnects.increment();
        stats.closed(closeCode);
        lastDownNanos = now;
        if (!isDocumented(closeCode) && !(dropsExpected && closeCode == ABNORMAL_CLOSURE)) {
          stats.unexpectedDisconnects.increment();
          stats.sample("device " + index + " lost its connection: " + closeCode + " " + reason);
        }
        if (!resuming) {
          resuming = true;
          resumeStartNanos = now;
          for (int i = 0; i < logs.length; i++) {
            resumeTargets[i] = logs[i].maxAcked();
          }
        }
      }
      case CLOSED -> {
        wentDown();
        if (!welcomed && firstFailure == null) {
          firstFailure = closeCode + " " + reason;
        }
        if (!closing) {
          stats.terminalCloses.increment();
          stats.sample("device " + index + " closed for good: " + closeCode + " " + reason);
        }
      }
      case CONNECTING -> {}
    }
  }

  @Override
  public void onError(HandoffException error) {
    if (closing) {
      return;
    }
    stats.clientErrors.increment();
    stats.sample("device " + index + ": " + error.getMessage());
  }

  private void wentDown() {
    if (up) {
      up = false;
      stats.connected.decrementAndGet();
    }
  }

  /**
   * The connection caught up with its Welcome's sync report: resumed. It must hold every version
   * that was acked when the previous connection broke; one that does not is an error.
   */
  @Override
  public void onSynced() {
    long now = System.nanoTime();
    lastSyncedNanos = now;
    if (!resuming) {
      return;
    }
    resuming = false;
    for (int i = 0; i < trackers.length; i++) {
      if (trackers[i].high() < resumeTargets[i]) {
        stats.clientErrors.increment();
        stats.sample(
            "device "
                + index
                + " caught up at "
                + documentName(i)
                + " v"
                + trackers[i].high()
                + ", but v"
                + resumeTargets[i]
                + " was acked before its connection broke");
      }
    }
    stats.resumes.increment();
    stats.resume.recordValue(Math.max(0, now - resumeStartNanos) / 1_000);
  }

  /**
   * Whether the server closed with one of its documented "reconnect" codes (shutdown, slow
   * consumer, idle timeout, token expiry, internal error, store unavailable): the protocol working
   * as documented, not an error of the run.
   */
  static boolean isDocumented(int closeCode) {
    CloseCode code = CloseCode.of(closeCode);
    return code != null && code.reconnect();
  }

  private static int documentIndex(String name) {
    if (name.length() < 4 || !name.startsWith("doc")) {
      return -1;
    }
    try {
      return Integer.parseInt(name, 3, name.length(), 10);
    } catch (NumberFormatException e) {
      return -1;
    }
  }

  private static int slotOf(String deviceId) {
    if (deviceId == null || deviceId.length() < 2 || deviceId.charAt(0) != 'd') {
      return -1;
    }
    try {
      return Integer.parseInt(deviceId, 1, deviceId.length(), 10);
    } catch (NumberFormatException e) {
      return -1;
    }
  }

  @Override
  public String toString() {
    return "Device{" + index + " user " + user + " " + deviceId + (up ? " up" : " down") + "}";
  }
}
