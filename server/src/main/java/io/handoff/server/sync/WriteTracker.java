package io.handoff.server.sync;

import io.handoff.server.engine.StoreLimits;
import io.handoff.server.session.Connection;
import java.time.Duration;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

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
 *
 * <p>Every write is answered within the deadline: one the store has not answered when it passes is
 * failed as OUTCOME_UNKNOWN (so one lost answer cannot hold every later write of its document), and
 * one the store applied but the stream has not brought by then is handed to {@code unacked}, which
 * reads the document again (that read acks it).
 */
final class WriteTracker {
  private static final Logger log = LoggerFactory.getLogger(WriteTracker.class);

  private final Connection connection;
  private final boolean durable;
  private final Duration deadline;
  private final Consumer<InFlight> unacked;
  private final LinkedHashMap<Long, InFlight> inFlight = new LinkedHashMap<>();
  // The last write of each document handed to the store and not yet answered; at most one entry
  // per write in flight.
  private final HashMap<String, CompletableFuture<WriteOutcome>> tails = new HashMap<>();

  /**
   * The deadline is {@link StoreLimits#writeAnswerDeadline()}; {@code unacked} is called (event
   * loop) with a write the store applied that is still not acked that long after it was handed to
   * the store.
   */
  WriteTracker(Connection connection, StoreLimits limits, Consumer<InFlight> unacked) {
    this.connection = connection;
    this.durable = limits.durableAcks() > 0;
    this.deadline = limits.writeAnswerDeadline();
    this.unacked = unacked;
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
    InFlight p = new InFlight(seq, document, requestId);
    inFlight.put(seq, p);
    return p;
  }

  /**
   * Hands write {@code p} to the store through {@code write} once the store has answered this
   * connection's previous write of the same document; if that one failed, {@code p} fails with
   * {@link PredecessorNotAppliedException} untried. The answer comes within the deadline (else
   * {@link OutcomeUnknownException}). Call {@link #answered} when it is in.
   */
  CompletableFuture<WriteOutcome> send(
      InFlight p, Supplier<CompletableFuture<WriteOutcome>> write) {
    CompletableFuture<WriteOutcome> before = tails.get(p.document);
    CompletableFuture<WriteOutcome> f;
    if (before == null) {
      f = bounded(p, write);
    } else {
      f =
          before
              .handle((o, err) -> err)
              .thenCompose(
                  err ->
                      err == null
                          ? bounded(p, write)
                          : CompletableFuture.failedFuture(
                              new PredecessorNotAppliedException(p.document)));
    }
    p.sent = f;
    tails.put(p.document, f);
    return f;
  }

  /**
   * The store's answer to {@code p}, or OUTCOME_UNKNOWN once the deadline passed without one. Any
   * thread (the store's, when the predecessor's answer hands it on).
   */
  private CompletableFuture<WriteOutcome> bounded(
      InFlight p, Supplier<CompletableFuture<WriteOutcome>> write) {
    CompletableFuture<WriteOutcome> answer = new CompletableFuture<>();
    p.timer =
        connection.schedule(
            () -> deadlinePassed(p, answer), deadline.toMillis(), TimeUnit.MILLISECONDS);
    CompletableFuture<WriteOutcome> f;
    try {
      f = write.get();
    } catch (RuntimeException e) {
      f = CompletableFuture.failedFuture(e);
    }
    f.whenComplete(
        (o, err) -> {
          if (err == null) {
            answer.complete(o);
          } else {
            answer.completeExceptionally(err);
          }
        });
    return answer;
  }

  /** Event loop: {@code p}'s deadline passed. */
  private void deadlinePassed(InFlight p, CompletableFuture<WriteOutcome> answer) {
    if (answer.completeExceptionally(OutcomeUnknownException.noAnswer(deadline))) {
      log.warn(
          "no answer from the store to write {} of {}/{} within {} ms: answered OUTCOME_UNKNOWN",
          p.seq,
          connection.userId(),
          connection.deviceId(),
          deadline.toMillis());
    } else if (waiting(p.seq, p) && p.version > 0) {
      unacked.accept(p);
    }
  }

  /** The store answered {@code p}: later writes of its document no longer wait for it. */
  void answered(InFlight p) {
    tails.remove(p.document, p.sent);
    if (!waiting(p.seq, p)) {
      p.stopTimer();
    }
  }

  /** True while {@code p} is the unanswered write {@code seq} (not yet acked from the stream). */
  boolean waiting(long seq, InFlight p) {
    return inFlight.get(seq) == p;
  }

  /** Stops tracking {@code seq}: the write was refused or failed and is answered with an error. */
  void forget(long seq) {
    settle(inFlight.remove(seq));
  }

  /** {@code p} is answered to the device; its timer is no longer needed once the store answered. */
  private static void settle(InFlight p) {
    if (p != null && p.sent != null && p.sent.isDone()) {
      p.stopTimer();
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
    inFlight.remove(e.originSeq());
    settle(p);
    ack(p, e.originSeq(), e.epoch(), e.version(), e.fingerprint(), false);
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
    inFlight.remove(seq);
    settle(p);
    ack(p, seq, p.epoch, p.version, p.fingerprint, false);
  }

  /** The store had applied write {@code seq} before: acks it as a duplicate. */
  void duplicate(long seq, InFlight p, long epoch, long version, long fingerprint) {
    inFlight.remove(seq);
    settle(p);
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
        settle(p);
        ack(p, en.getKey(), p.epoch, p.version, p.fingerprint, false);
      }
    }
  }

  void clear() {
    inFlight.values().forEach(InFlight::stopTimer);
    inFlight.clear();
    tails.clear();
  }

  /** The one place an Ack is sent: encoded once, straight to bytes (see {@link AckFrame}). */
  private void ack(
      InFlight p, long seq, long epoch, long version, long fingerprint, boolean duplicate) {
    connection.replyEncoded(
        AckFrame.encode(p.requestId, p.document, seq, epoch, version, fingerprint, duplicate));
  }

  /** A write sent to the store and not yet acked. */
  static final class InFlight {
    final long seq;
    final String document;
    final long requestId;
    // Where the store applied it; 0 until its answer.
    long epoch;
    long version;
    long fingerprint;
    CompletableFuture<WriteOutcome> sent;
    // The deadline of its answer, set when it is handed to the store (possibly off the loop).
    volatile Future<?> timer;

    InFlight(long seq, String document, long requestId) {
      this.seq = seq;
      this.document = document;
      this.requestId = requestId;
    }

    void stopTimer() {
      Future<?> t = timer;
      if (t != null) {
        t.cancel(false);
      }
    }
  }
}
