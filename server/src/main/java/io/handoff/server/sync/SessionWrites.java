package io.handoff.server.sync;

import io.handoff.protocol.v1.Error;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.FieldOp;
import io.handoff.protocol.v1.Write;
import io.handoff.server.session.Connection;
import io.handoff.server.sync.WriteTracker.InFlight;
import io.handoff.server.transport.TokenBucket;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One connection's Write frames, from the device to the store's answer: checked, rated, counted
 * against the connection's in-flight limit, handed to the store, and answered. Refusals and
 * failures are answered here; an applied write is acked where its {@link WriteTracker} says (in the
 * stream, or at once when the stream will not bring it). A write the store answers while the
 * document's stream is held for it lets the stream go ({@link DocumentSession#release}).
 *
 * <p>Made by the connection's first Write, with its tracker and rate bucket: a connection that
 * never writes holds none of them. Event loop only.
 */
final class SessionWrites {
  private static final Logger log = LoggerFactory.getLogger(SessionWrites.class);

  final WriteTracker tracker;
  private final DocumentSession session;
  private final Connection connection;
  private final DocumentSession.Node node;
  private TokenBucket rate; // Made by the first write the rate is checked for; null without one.
  // Bytes of this connection's writes handed on and not yet answered by the store (also counted in
  // the node's ServerStats.writeBytesInFlight until answered or the connection closes).
  private long bytesInFlight;
  private boolean closed;
  // The recheck the stream's lost copy of one of these writes last set off
  // (DocumentSession.unacked),
  // while under way. Here, not in DocumentSession: an idle connection's session, which has no
  // writes,
  // stays at 40 bytes, and this object has the room.
  CompletableFuture<?> unackedRecheck;
  // Applied writes whose stream copy had not come by their deadline, before the Welcome: read for
  // once it is sent (DocumentSession.unacked). At most the connection's writes in flight; null
  // when none.
  private List<InFlight> unackedBeforeWelcome;

  SessionWrites(DocumentSession session, Connection connection, DocumentSession.Node node) {
    this.session = session;
    this.connection = connection;
    this.node = node;
    this.tracker = new WriteTracker(connection, node.config().storeLimits(), session::unacked);
  }

  void onWrite(long id, Write w) {
    WriteOutcome bad = node.validator().check(w);
    if (bad != null) {
      node.stats().writesRefused.increment();
      error(id, bad.error(), bad.message(), w.getDocument(), w.getClientSeq(), 0, 0, false);
      return;
    }
    long seq = w.getClientSeq();
    InFlight same = tracker.inFlight(seq);
    if (same != null) {
      if (!same.document.equals(w.getDocument())) {
        node.stats().writesRefused.increment();
        error(
            id,
            ErrorCode.BAD_REQUEST,
            "client_seq "
                + Long.toUnsignedString(seq)
                + " is already taken by a write of "
                + same.document
                + " waiting for its ack: every write needs a client_seq of its own",
            w.getDocument(),
            seq,
            0,
            0,
            false);
      }
      return; // The same write is being applied; its ack will answer both copies.
    }
    if (node.config().writeRatePerSecond() > 0) {
      long now = connection.nanoTime();
      if (rate == null) {
        rate = new TokenBucket(node.config().writeRatePerSecond(), node.config().writeBurst(), now);
      }
      if (!rate.tryTake(now)) {
        node.stats().writesRateLimited.increment();
        error(
            id,
            ErrorCode.RATE_LIMITED,
            "more than "
                + io.handoff.server.ServerConfig.rate(node.config().writeRatePerSecond())
                + " writes/s on this connection; retry in "
                + rate.millisToNextToken()
                + " ms",
            w.getDocument(),
            seq,
            0,
            0,
            true);
        return;
      }
    }
    if (tracker.size() >= node.config().maxInFlightWrites()) {
      node.stats().writesRefused.increment();
      error(
          id,
          ErrorCode.TOO_MANY_IN_FLIGHT,
          tracker.size() + " writes are waiting for their acks; wait for some before sending more",
          w.getDocument(),
          seq,
          0,
          0,
          true);
      return;
    }
    int bytes = heldBytes(w);
    if (refusedForBytes(id, w, seq, bytes)) {
      return;
    }
    bytesInFlight += bytes;
    node.stats().writeBytesInFlight.addAndGet(bytes);
    InFlight p = tracker.start(seq, w.getDocument(), id, bytes);
    tracker.send(
        p,
        () -> node.store().write(connection.userId(), connection.deviceId(), w),
        (out, err) -> writeDone(seq, p, out, err));
  }

  /**
   * What write {@code w} holds in memory until the store answers, near enough for a bound and
   * cheaper than its encoded size: its values' bytes, its names' characters, and a few bytes per
   * op.
   */
  private static int heldBytes(Write w) {
    int n = 32 + w.getDocument().length();
    for (int i = 0, ops = w.getOpsCount(); i < ops; i++) {
      FieldOp op = w.getOps(i);
      n += 16 + op.getField().length() + op.getSet().size();
    }
    return n;
  }

  /**
   * Refuses a write that would take this connection's, or the node's, bytes of writes waiting for
   * the store past their bound (a store that answers slowly must not hold a flood of large writes
   * in memory). A connection's only write passes its own bound, and a node's only write the node's,
   * so a write of the largest frame size always goes through in the end.
   */
  private boolean refusedForBytes(long id, Write w, long seq, int bytes) {
    String why;
    long onNode = node.stats().writeBytesInFlight.get();
    if (!tracker.isEmpty() && bytesInFlight + bytes > node.config().maxInFlightWriteBytes()) {
      why =
          bytesInFlight
              + " bytes of this connection's writes are waiting for the store, and this one's "
              + bytes
              + " would pass the bound of "
              + node.config().maxInFlightWriteBytes()
              + ": send it again once an earlier write is acked";
    } else if (onNode > 0 && onNode + bytes > node.config().maxNodeInFlightWriteBytes()) {
      why =
          "this node holds more than "
              + node.config().maxNodeInFlightWriteBytes()
              + " bytes of writes waiting for the store: send it again once an earlier write is"
              + " acked";
    } else {
      return false;
    }
    node.stats().writesRefused.increment();
    error(id, ErrorCode.TOO_MANY_IN_FLIGHT, why, w.getDocument(), seq, 0, 0, true);
    return true;
  }

  /** Applied write {@code p}'s stream copy is late, before the Welcome: handled after it. */
  void unackedBeforeWelcome(InFlight p) {
    if (unackedBeforeWelcome == null) {
      unackedBeforeWelcome = new ArrayList<>(1);
    }
    unackedBeforeWelcome.add(p);
  }

  /**
   * The Welcome and its frames are sent: each write whose copy was late before it and that they did
   * not settle goes to {@code unacked}.
   */
  void welcomed(Consumer<InFlight> unacked) {
    List<InFlight> late = unackedBeforeWelcome;
    unackedBeforeWelcome = null;
    if (late != null) {
      for (InFlight p : late) {
        if (tracker.waiting(p.seq, p)) {
          unacked.accept(p);
        }
      }
    }
  }

  /** The connection closed: its writes' bytes no longer count against the node. */
  void closed() {
    closed = true;
    unackedBeforeWelcome = null;
    node.stats().writeBytesInFlight.addAndGet(-bytesInFlight);
    bytesInFlight = 0;
    tracker.clear();
  }

  private void writeDone(long seq, InFlight p, WriteOutcome out, Throwable err) {
    tracker.answered(p);
    if (!closed) {
      bytesInFlight -= p.bytes;
      node.stats().writeBytesInFlight.addAndGet(-p.bytes);
    }
    if (err == null && out.isApplied() && !out.duplicate()) {
      node.stats().writesApplied.increment(); // Counted here even if the stream acked it first.
    }
    Cursor held = session.release(p.document, seq, err == null ? out : null);
    if (held != null) {
      writeAnswered(seq, p, out, err);
      session.catchUp(
          p.document, held); // Reads what came meanwhile, or the held write on a failure.
      connection.flush();
      return;
    }
    writeAnswered(seq, p, out, err);
  }

  private void writeAnswered(long seq, InFlight p, WriteOutcome out, Throwable err) {
    if (!tracker.waiting(seq, p)) {
      return; // Already acked in the stream.
    }
    if (err != null) {
      tracker.forget(seq); // Not logged: the store logs its state changes, not every failed write.
      ErrorCode code = StoreFailures.code(err);
      if (code == ErrorCode.OUTCOME_UNKNOWN) {
        node.stats().writesOutcomeUnknown.increment();
      } else {
        node.stats()
            .writesRefused
            .increment(); // UNAVAILABLE, PREDECESSOR_NOT_APPLIED: not applied.
      }
      error(p.requestId, code, StoreFailures.message(err), p.document, seq, 0, 0, true);
    } else if (!out.isApplied()) {
      tracker.forget(seq);
      node.stats().writesRefused.increment();
      Error.Builder e =
          errorFrame(
              out.error(),
              out.message(),
              p.document,
              seq,
              out.epoch(),
              out.version(),
              out.error() == ErrorCode.UNAVAILABLE);
      connection.error(p.requestId, e.setNoWriteRecord(out.noWriteRecord()).build());
    } else if (out.duplicate()) {
      tracker.duplicate(seq, p, out.epoch(), out.version(), out.fingerprint());
    } else {
      tracker.applied(p, out.epoch(), out.version(), out.fingerprint());
      Cursor c = session.cursor(p.document);
      if (!session.follows(p.document)) {
        tracker.ackNow(seq, p); // The stream will not bring it to this device.
      } else if (c != null && c.epoch == p.epoch && c.version >= p.version) {
        // The device is already past this version, even if a read is under way (it starts after
        // the cursor, so it would not bring the version again): acked now if its copy shows the
        // write, else answered OUTCOME_UNKNOWN. Otherwise the stream acks it.
        if (WriteTracker.holds(p, c.epoch, c.version, c.fingerprint)) {
          tracker.ackNow(seq, p);
        } else {
          tracker.forget(seq);
          notWhereAnswered(p);
        }
      }
    }
    connection.flush();
  }

  /**
   * Applied write {@code p} (no longer tracked) did not come where the store said it applied it:
   * answered OUTCOME_UNKNOWN, so that the device sends it again (acked as a duplicate if the store
   * has it, applied now if not). See {@link WriteTracker#covered}.
   */
  void notWhereAnswered(InFlight p) {
    node.stats().writesOutcomeUnknown.increment();
    log.warn(
        "write {} of {}/{} on {} was answered as applied at version {}, and the device's copy of"
            + " the document cannot show it there: answered OUTCOME_UNKNOWN",
        p.seq,
        connection.userId(),
        connection.deviceId(),
        p.document,
        p.version);
    error(
        p.requestId,
        ErrorCode.OUTCOME_UNKNOWN,
        "the store answered this write as applied at version "
            + p.version
            + ", but the document the store now has does not show it there (the store may have"
            + " lost it, as in a failover): re-send it with the same client_seq (acked as a"
            + " duplicate if the store has it, applied once if not)",
        p.document,
        p.seq,
        0,
        0,
        true);
  }

  private void error(
      long id,
      ErrorCode code,
      String message,
      String document,
      long seq,
      long epoch,
      long version,
      boolean retryable) {
    connection.error(
        id, errorFrame(code, message, document, seq, epoch, version, retryable).build());
  }

  private static Error.Builder errorFrame(
      ErrorCode code,
      String message,
      String document,
      long seq,
      long epoch,
      long version,
      boolean retryable) {
    return Error.newBuilder()
        .setCode(code)
        .setMessage(message)
        .setClientSeq(seq)
        .setEpoch(epoch)
        .setCurrentVersion(version)
        .setRetryable(retryable)
        .setDocument(document);
  }
}
