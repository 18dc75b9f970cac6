package io.handoff.server.sync;

import io.handoff.server.engine.StoreLimits;
import io.handoff.server.session.Connection;
import io.handoff.server.session.Deadline;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;
import java.util.function.Consumer;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One connection's writes sent to the store and not yet acked, and the one place that acks them
 * ({@link #ack}). A write is acked exactly once, and only once the store confirmed it (its answer,
 * or a read from the store that brings it): where the stream reaches its version (so the writer
 * gets its Ack in the place the other devices get the Delta), when a snapshot covers it, or
 * straight from the store's answer when the stream will not bring it (a duplicate, or a document
 * this device does not follow). A copy on the stream that comes before the store's answer is not a
 * confirmation ({@link Reached#AWAITING_ANSWER}). Event loop only.
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
 * reads the document again (that read acks it). The deadlines cost no timer per write: the tracker
 * is one {@link Deadline} of its connection, armed while any write is watched, and each time it
 * fires it sweeps the writes in flight (at most the connection's in-flight limit) and those acked
 * before the store answered, acts on the ones due and re-arms for the earliest of the rest. A write
 * is due its deadline after it was handed to the store, as with a timer of its own.
 */
final class WriteTracker extends Deadline {
  private static final Logger log = LoggerFactory.getLogger(WriteTracker.class);
  // An InFlight's handedNanos until it is handed to the store.
  private static final long NOT_HANDED = Long.MIN_VALUE;

  private final Connection connection;
  private final boolean durable;
  private final Duration deadline;
  private final long deadlineNanos;
  private final Consumer<InFlight> unacked;
  // Applied answers taken so far (applied): the mark a read sent now carries (answersSoFar).
  private long answers;
  private final InFlights inFlight = new InFlights();
  // Writes no longer in flight (acked from the stream, or forgotten) whose store answer is still
  // due: the sweep watches them too. Made on first use; usually empty (the store answers first).
  private ArrayDeque<InFlight> unanswered;
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
    this.deadlineNanos = deadline.toNanos();
    this.unacked = unacked;
  }

  /** The write {@code seq} waiting for its ack, or null. */
  InFlight inFlight(long seq) {
    return inFlight.get(seq);
  }

  int size() {
    return inFlight.size();
  }

  boolean isEmpty() {
    return inFlight.isEmpty();
  }

  /** Tracks write {@code seq} of {@code document}, sent by request {@code requestId}. */
  InFlight start(long seq, String document, long requestId, int bytes) {
    InFlight p = new InFlight(seq, document, requestId, bytes);
    inFlight.add(p);
    if (!armed()) {
      // No write was watched: the earliest a write can be due is a deadline from now.
      connection.arm(this, deadlineNanos, TimeUnit.NANOSECONDS);
    }
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
    if (!f.isDone()) {
      tails.put(p.document, f); // An answer already in holds nothing back: no entry to take out.
    }
    return f;
  }

  /**
   * As {@link #send(InFlight, Supplier)}, then runs {@code done} with the answer on the event loop
   * (unless the connection closed): at once when the store answered at once (the memory store),
   * without a callback or a hop.
   */
  void send(
      InFlight p,
      Supplier<CompletableFuture<WriteOutcome>> write,
      BiConsumer<WriteOutcome, Throwable> done) {
    CompletableFuture<WriteOutcome> answer = send(p, write);
    if (answer.isDone() && !answer.isCompletedExceptionally() && connection.active()) {
      done.accept(answer.getNow(null), null);
    } else {
      connection.onLoop(answer, done);
    }
  }

  /**
   * The store's answer to {@code p}, or OUTCOME_UNKNOWN once the deadline passed without one (the
   * sweep, {@link #expired}). Any thread (the store's, when the predecessor's answer hands it on).
   */
  private CompletableFuture<WriteOutcome> bounded(
      InFlight p, Supplier<CompletableFuture<WriteOutcome>> write) {
    long handed = connection.nanoTime();
    CompletableFuture<WriteOutcome> f;
    try {
      f = write.get();
    } catch (RuntimeException e) {
      f = CompletableFuture.failedFuture(e);
    }
    CompletableFuture<WriteOutcome> answer;
    if (f.isDone()) {
      answer = f; // Answered at once (the memory store): nothing to fail at the deadline.
    } else {
      CompletableFuture<WriteOutcome> a = new CompletableFuture<>();
      f.whenComplete(
          (o, err) -> {
            if (err == null) {
              a.complete(o);
            } else {
              a.completeExceptionally(err);
            }
          });
      answer = a;
    }
    p.answer = answer;
    p.handedNanos = handed; // Last: the sweep reads answer once it sees this set.
    return answer;
  }

  /**
   * Event loop: the sweep. Acts on every watched write whose deadline has passed, once each, and
   * re-arms for the earliest of the rest.
   */
  @Override
  protected void expired() {
    long now = connection.nanoTime();
    long next = Long.MAX_VALUE;
    ArrayList<InFlight> due = null;
    for (InFlight p : inFlight.all()) {
      long at = dueAt(p, now);
      if (at <= now) {
        due = add(due, p);
      } else {
        next = Math.min(next, at);
      }
    }
    if (unanswered != null) {
      Iterator<InFlight> it = unanswered.iterator();
      while (it.hasNext()) {
        InFlight p = it.next();
        long at = dueAt(p, now);
        if (p.expired || p.sent.isDone()) {
          it.remove();
        } else if (at <= now) {
          it.remove();
          due = add(due, p);
        } else {
          next = Math.min(next, at);
        }
      }
    }
    if (due != null) {
      for (InFlight p : due) {
        p.expired = true;
        deadlinePassed(p, p.answer);
      }
    }
    if (next != Long.MAX_VALUE && !armed()) {
      connection.arm(this, next - now, TimeUnit.NANOSECONDS);
    }
  }

  /**
   * When {@code p}'s deadline is due: Long.MAX_VALUE if it needs none (already handled, or answered
   * and acked), now plus a deadline if it is not handed to the store yet (it waits for its
   * predecessor).
   */
  private long dueAt(InFlight p, long now) {
    if (p.expired) {
      return Long.MAX_VALUE;
    }
    long handed = p.handedNanos;
    if (handed == NOT_HANDED) {
      return now + deadlineNanos;
    }
    return handed + deadlineNanos;
  }

  private static ArrayList<InFlight> add(ArrayList<InFlight> list, InFlight p) {
    ArrayList<InFlight> l = list == null ? new ArrayList<>() : list;
    l.add(p);
    return l;
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

  /**
   * The store answered {@code p}: later writes of its document no longer wait for it, and the sweep
   * no longer watches it (answers come in order, so it is almost always the oldest watched).
   */
  void answered(InFlight p) {
    tails.remove(p.document, p.sent);
    ArrayDeque<InFlight> watched = unanswered;
    if (watched != null
        && (watched.peekFirst() == p ? watched.pollFirst() != null : watched.remove(p))
        && watched.isEmpty()) {
      unanswered = null;
    }
  }

  /** Writes acked before the store answered them that the sweep still watches (for tests). */
  int watchedAfterAck() {
    return unanswered == null ? 0 : unanswered.size();
  }

  /** True while {@code p} is the unanswered write {@code seq} (not yet acked from the stream). */
  boolean waiting(long seq, InFlight p) {
    return inFlight.get(seq) == p;
  }

  /** Stops tracking {@code seq}: the write was refused or failed and is answered with an error. */
  void forget(long seq) {
    settle(inFlight.remove(seq));
  }

  /**
   * {@code p} is answered to the device; if the store has not answered it yet, the sweep still
   * watches it (its answer frees the next write of its document).
   */
  private void settle(InFlight p) {
    if (p != null && p.sent != null && !p.sent.isDone() && !p.expired) {
      if (unanswered == null) {
        unanswered = new ArrayDeque<>();
      }
      unanswered.addLast(p);
    }
  }

  /** What the live stream reaching an event means for this connection's writes. */
  enum Reached {
    /** Not a write of this connection in flight: the event is delivered as usual. */
    NOT_MINE,
    /** One of its writes, answered by the store: acked in the delta's place. */
    ACKED,
    /**
     * One of its writes, not yet answered by the store: neither acked nor delivered until the
     * answer comes ({@link DocumentSession} holds the document's stream meanwhile). A copy on the
     * stream does not say the write is durable: Redis fsyncs its append-only file before it answers
     * the connection that sent the command, but may push a published copy down another connection
     * before that; only the store's answer, or a read from the store, confirms a write.
     */
    AWAITING_ANSWER
  }

  /**
   * The live stream reached event {@code e}: if it is one of this device's writes in flight that
   * the store has answered, acks it in the delta's place.
   */
  Reached reached(DocumentEvent e) {
    if (!e.isFrom(connection.deviceId())) {
      return Reached.NOT_MINE;
    }
    InFlight p = inFlight.get(e.originSeq());
    if (p == null) {
      return Reached.NOT_MINE;
    }
    if (durable && p.version == 0) {
      p.published = true;
      return Reached.NOT_MINE; // Not confirmed yet: the writer gets the Delta, the Ack later.
    }
    if (p.version == 0) {
      return Reached.AWAITING_ANSWER;
    }
    ackAt(p, e);
    return Reached.ACKED;
  }

  /**
   * A read from the store brought event {@code e}: if it is one of this device's writes in flight,
   * acks it in the delta's place and returns true. The store's read confirms it as its answer
   * would.
   */
  boolean readFromStore(DocumentEvent e) {
    if (!e.isFrom(connection.deviceId())) {
      return false;
    }
    InFlight p = inFlight.get(e.originSeq());
    if (p == null) {
      return false;
    }
    if (durable && p.version == 0) {
      p.published = true;
      return false;
    }
    ackAt(p, e);
    return true;
  }

  /** Acks in-flight write {@code p} at the place of its event {@code e}. */
  private void ackAt(InFlight p, DocumentEvent e) {
    inFlight.remove(e.originSeq());
    settle(p);
    ack(p, e.originSeq(), e.epoch(), e.version(), e.fingerprint(), false);
  }

  /** The store applied {@code p} at {@code epoch}/{@code version}; its ack waits for the stream. */
  void applied(InFlight p, long epoch, long version, long fingerprint) {
    p.epoch = epoch;
    p.version = version;
    p.fingerprint = fingerprint;
    p.answered = ++answers;
  }

  /**
   * A mark for a read of the store about to be sent (event loop): every write applied by an answer
   * taken so far is in the store that read finds, unless the store lost it. See {@link #covered}.
   */
  long answersSoFar() {
    return answers;
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
   * Whether the device's copy of the document at {@code epoch}/{@code version} with {@code
   * fingerprint} certainly holds applied write {@code p}, which it passed: the copy is at the
   * write's own version with the write's fingerprint, or the write's own event came on the stream
   * (durable acks, where its copy is sent before its answer). A copy past the write's version
   * cannot show it: if the store lost the write after answering it (a failover without durable
   * acks), another write may have taken its version.
   */
  static boolean holds(InFlight p, long epoch, long version, long fingerprint) {
    return p.epoch == epoch
        && (p.published || (p.version == version && p.fingerprint == fingerprint));
  }

  /**
   * A read from the store sent after mark {@code readAfter} ({@link #answersSoFar}) moved the
   * device's copy of {@code doc} to {@code epoch}/{@code version} with {@code fingerprint} ({@code
   * present}), or found no document (not {@code present}). Settles the applied writes of {@code
   * doc} the read decides: acks those at or below that version of that history it certainly holds
   * ({@link #holds}), and returns (no longer tracked; null if none) for the caller to answer
   * OUTCOME_UNKNOWN both the others it passed and those applied by an answer taken before the read
   * was sent that it does not show (another history, an earlier version, or no document): a read
   * sent after the store's answer finds the write unless the store lost it. Sent again with their
   * sequence numbers, each is acked as a duplicate if the store has it, or applied now. Writes
   * answered after the read was sent and not passed wait for the stream or a later read.
   */
  List<InFlight> covered(
      String doc, boolean present, long epoch, long version, long fingerprint, long readAfter) {
    List<InFlight> unconfirmed = null;
    for (InFlight p :
        inFlight.removeIf(
            p ->
                p.version > 0
                    && p.document.equals(doc)
                    && ((present && p.epoch == epoch && p.version <= version)
                        || p.answered <= readAfter))) {
      settle(p);
      if (present && p.version <= version && holds(p, epoch, version, fingerprint)) {
        ack(p, p.seq, p.epoch, p.version, p.fingerprint, false);
      } else {
        if (unconfirmed == null) {
          unconfirmed = new ArrayList<>(1);
        }
        unconfirmed.add(p);
      }
    }
    return unconfirmed;
  }

  void clear() {
    connection.disarm(this);
    inFlight.clear();
    unanswered = null;
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
    // The Write frame's size: counted against the connection's and the node's bytes in flight
    // until the store answers.
    final int bytes;
    // Where the store applied it; 0 until its answer.
    long epoch;
    long version;
    long fingerprint;
    CompletableFuture<WriteOutcome> sent;
    // The store's answer (or OUTCOME_UNKNOWN at the deadline) and when the write was handed to the
    // store (NOT_HANDED: not yet, it waits for its predecessor); set possibly off the loop, answer
    // first.
    CompletableFuture<WriteOutcome> answer;
    volatile long handedNanos = NOT_HANDED;
    // The sweep has acted on its deadline (once, as a timer would).
    boolean expired;
    // Durable acks: its own event came on the stream before the store's answer (the store applied
    // it there; the device was sent it as a Delta).
    boolean published;
    // The tracker's count of applied answers when this one came (answersSoFar): a read sent after
    // it must show the write.
    long answered;

    InFlight(long seq, String document, long requestId, int bytes) {
      this.bytes = bytes;
      this.seq = seq;
      this.document = document;
      this.requestId = requestId;
    }
  }
}
