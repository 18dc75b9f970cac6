package io.handoff.server.sync;

import io.handoff.protocol.v1.Ack;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.server.session.Connection;
import java.util.Collections;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.function.Supplier;

/**
 * One connection's writes sent to the store and not yet acked, and the one place that acks them
 * ({@link #ack}). A write is acked exactly once: where the stream reaches its version (so the
 * writer gets its Ack in the place the other devices get the Delta), when a snapshot covers it, or
 * straight from the store's answer when the stream will not bring it (a duplicate, or a document
 * this device does not follow). Event loop only.
 *
 * <p>With durable acks the store answers only once replicas hold the write, and the stream usually
 * reaches the write first: then the writer gets its write as a Delta like every other device, and
 * its Ack when the store answers.
 *
 * <p>Order: writes of one document from this connection go to the store one at a time, in the order
 * they arrived ({@link #send}); a write whose predecessor failed (not applied, or of unknown fate)
 * is not tried, so that it can never land before it.
 */
final class WriteTracker {
  private final Connection connection;
  private final boolean durable;
  // Both maps exist only while writes are in flight (an empty, immutable one otherwise): an idle
  // connection, or one whose writes are all answered, holds none.
  private Map<Long, InFlight> inFlight = Collections.emptyMap();
  // The last write of each document handed to the store and not yet answered; at most one entry
  // per write in flight.
  private Map<String, CompletableFuture<WriteOutcome>> tails = Collections.emptyMap();

  WriteTracker(Connection connection, boolean durable) {
    this.connection = connection;
    this.durable = durable;
  }

  boolean has(long seq) {
    return inFlight.containsKey(seq);
  }

  int size() {
    return inFlight.size();
  }

  boolean isEmpty() {
    return inFlight.isEmpty();
  }

  /** Tracks write {@code seq} of {@code document}, sent by request {@code requestId}. */
  InFlight start(long seq, String document, long requestId) {
    InFlight p = new InFlight(document, requestId);
    if (inFlight.isEmpty()) {
      inFlight = new LinkedHashMap<>();
    }
    inFlight.put(seq, p);
    return p;
  }

  /**
   * Hands write {@code p} to the store through {@code write} once the store has answered this
   * connection's previous write of the same document; if that one failed, {@code p} fails with
   * {@link PredecessorNotAppliedException} untried. Call {@link #answered} when its answer is in.
   */
  CompletableFuture<WriteOutcome> send(
      InFlight p, Supplier<CompletableFuture<WriteOutcome>> write) {
    CompletableFuture<WriteOutcome> before = tails.get(p.document);
    CompletableFuture<WriteOutcome> f;
    if (before == null) {
      f = write.get();
    } else {
      f =
          before
              .handle((o, err) -> err)
              .thenCompose(
                  err ->
                      err == null
                          ? write.get()
                          : CompletableFuture.failedFuture(
                              new PredecessorNotAppliedException(p.document)));
    }
    p.sent = f;
    if (tails.isEmpty()) {
      tails = new HashMap<>();
    }
    tails.put(p.document, f);
    return f;
  }

  /** The store answered {@code p}: later writes of its document no longer wait for it. */
  void answered(InFlight p) {
    if (!tails.isEmpty() && tails.remove(p.document, p.sent) && tails.isEmpty()) {
      tails = Collections.emptyMap();
    }
  }

  /** True while {@code p} is the unanswered write {@code seq} (not yet acked from the stream). */
  boolean waiting(long seq, InFlight p) {
    return inFlight.get(seq) == p;
  }

  /** Stops tracking {@code seq}: the write was refused or failed and is answered with an error. */
  void forget(long seq) {
    remove(seq);
  }

  private void remove(long seq) {
    if (!inFlight.isEmpty() && inFlight.remove(seq) != null && inFlight.isEmpty()) {
      inFlight = Collections.emptyMap();
    }
  }

  /**
   * The stream reached event {@code e}: if it is one of this device's writes in flight, acks it in
   * the delta's place and returns true.
   */
  boolean reached(DocumentEvent e) {
    if (!e.originDevice().equals(connection.deviceId())) {
      return false;
    }
    InFlight p = inFlight.get(e.originSeq());
    if (p == null || (durable && p.version == 0)) {
      return false; // Durable: not confirmed yet; the writer gets the Delta, the Ack comes later.
    }
    remove(e.originSeq());
    ack(p, e.originSeq(), e.epoch(), e.version(), e.delta().getFingerprint(), false);
    return true;
  }

  /** The store applied {@code p} at {@code epoch}/{@code version}; its ack waits for the stream. */
  void applied(InFlight p, long epoch, long version, long fingerprint) {
    p.epoch = epoch;
    p.version = version;
    p.fingerprint = fingerprint;
  }

  /** Acks an applied write now, because the stream will not bring it to this device. */
  void ackNow(long seq, InFlight p) {
    remove(seq);
    ack(p, seq, p.epoch, p.version, p.fingerprint, false);
  }

  /** The store had applied write {@code seq} before: acks it as a duplicate. */
  void duplicate(long seq, InFlight p, long epoch, long version, long fingerprint) {
    remove(seq);
    ack(p, seq, epoch, version, fingerprint, true);
  }

  /**
   * Acks the applied writes of {@code doc} that a snapshot at {@code epoch}/{@code version} covers.
   */
  void covered(String doc, long epoch, long version) {
    Iterator<Map.Entry<Long, InFlight>> it = inFlight.entrySet().iterator();
    while (it.hasNext()) {
      Map.Entry<Long, InFlight> en = it.next();
      InFlight p = en.getValue();
      if (p.version > 0 && p.document.equals(doc) && p.epoch == epoch && p.version <= version) {
        it.remove();
        ack(p, en.getKey(), p.epoch, p.version, p.fingerprint, false);
      }
    }
    if (inFlight.isEmpty()) {
      inFlight = Collections.emptyMap();
    }
  }

  void clear() {
    inFlight = Collections.emptyMap();
    tails = Collections.emptyMap();
  }

  /** The one place an Ack is sent. */
  private void ack(
      InFlight p, long seq, long epoch, long version, long fingerprint, boolean duplicate) {
    connection.reply(
        ServerFrame.newBuilder()
            .setRequestId(p.requestId)
            .setAck(
                Ack.newBuilder()
                    .setDocument(p.document)
                    .setClientSeq(seq)
                    .setEpoch(epoch)
                    .setVersion(version)
                    .setFingerprint(fingerprint)
                    .setDuplicate(duplicate))
            .build());
  }

  /** A write sent to the store and not yet acked. */
  static final class InFlight {
    final String document;
    final long requestId;
    // Where the store applied it; 0 until its answer.
    long epoch;
    long version;
    long fingerprint;
    CompletableFuture<WriteOutcome> sent;

    InFlight(String document, long requestId) {
      this.document = document;
      this.requestId = requestId;
    }
  }
}
