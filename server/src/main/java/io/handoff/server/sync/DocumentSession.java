// Over 600 lines because a connection's cursors are one state machine that the Hello, Follow,
// Resync, the stream, gap fetches and write answers all move, on one thread, and that has to be
// read as one to see that a device gets every version once and in order. The parts that stand
// apart are classes of their own: WriteTracker, SyncLane, NewlyFollowed, FollowFilter, CursorCheck.
package io.handoff.server.sync;

import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.DocumentSync;
import io.handoff.protocol.v1.Error;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.Follow;
import io.handoff.protocol.v1.Hello;
import io.handoff.protocol.v1.Position;
import io.handoff.protocol.v1.Resync;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.protocol.v1.Snapshot;
import io.handoff.protocol.v1.SyncReport;
import io.handoff.protocol.v1.Unfollow;
import io.handoff.protocol.v1.Welcome;
import io.handoff.protocol.v1.Write;
import io.handoff.server.ServerConfig;
import io.handoff.server.ServerStats;
import io.handoff.server.session.Connection;
import io.handoff.server.sync.WriteTracker.InFlight;
import io.handoff.server.sync.WriteTracker.Reached;
import io.handoff.server.transport.TokenBucket;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One connection's documents: what it follows, where it is in each document, and its writes.
 *
 * <h2>Ordering</h2>
 *
 * For each followed document the session keeps a {@link Cursor}: the epoch and last version this
 * device has been sent. A pushed event is sent only if it is exactly the next version; an older one
 * is dropped (duplicate), a newer one starts a fetch from history (gap), during which events of
 * that document are dropped and the highest version seen is remembered, so the fetch is repeated
 * until it caught up. The device therefore sees every document's versions in order, once, with no
 * gap.
 *
 * <p>A device's own write comes back through the same stream: where the other devices get a Delta,
 * the writer gets its Ack, in the same position of the stream ({@link WriteTracker}), once the
 * store has answered it; until then the writer's stream of that document is held. Refusals,
 * duplicates and writes to documents the device does not follow are answered directly.
 *
 * <p>Follow and Resync, the device's requests that read documents from the store, go through the
 * connection's {@link SyncLane}: one is read at a time, the others wait (boundedly), and each
 * counts against the connection's rate. A Follow reads only what it newly covers.
 *
 * <p>Threads: event loop only; store answers hop back onto it through the {@link Connection}.
 */
public final class DocumentSession {
  private static final Logger log = LoggerFactory.getLogger(DocumentSession.class);

  private final Connection connection;
  private final Node node;
  // Made by the first write: an idle connection carries no tracker and none of its maps.
  private WriteTracker writes;
  private Map<String, Cursor> cursors = Collections.emptyMap(); // Made by the first track().
  private FollowFilter follow;
  private List<Position> helloPositions;
  private SyncLane syncs; // Made by the first Follow or Resync: idle connections carry none.

  /** What every connection's document session of a node shares. */
  public record Node(
      DocumentStore store, WriteValidator validator, ServerConfig config, ServerStats stats) {}

  public DocumentSession(Connection connection, Node node) {
    this.connection = connection;
    this.node = node;
  }

  /** What a resume read: the device's last applied write and where each document stands. */
  public record Resume(long lastClientSeq, List<SyncResult> results) {}

  // ---------------------------------------------------------------------------------------------
  // Hello and resume
  // ---------------------------------------------------------------------------------------------

  /**
   * Takes the Hello's follow set and positions; returns the refusal to answer the Hello with when
   * something in them is wrong (a bad name or prefix, over a limit), or null.
   */
  public Error hello(Hello hello) {
    FollowFilter filter =
        hello.hasFollow() ? FollowFilter.of(hello.getFollow()) : FollowFilter.SHARED_ALL;
    Error problem =
        node.validator()
            .checkFollow(filter, hello.getPositionsList(), node.config().maxFollowEntries());
    if (problem != null) {
      return problem;
    }
    follow = filter;
    helloPositions = hello.getPositionsList();
    return null;
  }

  /**
   * A copy of what the device follows, for the resume's read. Call once the user's subscription is
   * live, so a write after the read is pushed. Any thread, before the session is live.
   */
  public FollowFilter following() {
    return follow.copy();
  }

  /** The Hello's positions, for the resume's read. */
  public List<Position> helloPositions() {
    return helloPositions;
  }

  /** Fills the Welcome's part of documents. */
  public void welcome(Welcome.Builder w, Resume r) {
    w.setLastClientSeq(r.lastClientSeq())
        .setMaxInFlightWrites(node.config().maxInFlightWrites())
        .setDurableAckReplicas(node.config().storeLimits().durableAcks())
        .setSync(SyncResult.report(r.results()));
  }

  /** After the Welcome: sends what the resume found and starts a cursor per document. */
  public void welcomed(Resume r) {
    helloPositions = null;
    for (SyncResult result : r.results()) {
      // No write of this connection was answered before the resume's read.
      deliver(result.document(), track(result.document(), new Cursor()), result, 0);
    }
  }

  /** Starts cursor {@code c} of {@code doc}; the map is made on first use (idle costs nothing). */
  private Cursor track(String doc, Cursor c) {
    cursors = cursors.isEmpty() ? new HashMap<>() : cursors;
    cursors.put(doc, c);
    return c;
  }

  /** True when no write waits for its answer (a draining session may close). */
  public boolean settled() {
    return writes == null || writes.isEmpty();
  }

  public void closed() {
    cursors = Collections.emptyMap();
    if (writes != null) {
      writes.clear();
    }
    if (syncs != null) {
      syncs.clear();
    }
  }

  /** The write tracker, made on the first write. */
  private WriteTracker writes() {
    if (writes == null) {
      writes = new WriteTracker(connection, node.config().storeLimits(), this::unacked);
    }
    return writes;
  }

  // ---------------------------------------------------------------------------------------------
  // Frames from the device
  // ---------------------------------------------------------------------------------------------

  /** Write, Follow, Unfollow and Resync. */
  public void onFrame(long id, ClientFrame f) {
    switch (f.getBodyCase()) {
      case WRITE -> onWrite(id, f.getWrite());
      case FOLLOW -> onFollow(id, f.getFollow());
      case UNFOLLOW -> onUnfollow(id, f.getUnfollow());
      case RESYNC -> onResync(id, f.getResync());
      default -> throw new IllegalArgumentException("not a document frame: " + f.getBodyCase());
    }
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
    Error.Builder e =
        Error.newBuilder()
            .setCode(code)
            .setMessage(message)
            .setClientSeq(seq)
            .setEpoch(epoch)
            .setCurrentVersion(version)
            .setRetryable(retryable);
    if (document != null) {
      e.setDocument(document);
    }
    connection.error(id, e.build());
  }

  private void onWrite(long id, Write w) {
    WriteOutcome bad = node.validator().check(w);
    if (bad != null) {
      node.stats().writesRefused.increment();
      error(id, bad.error(), bad.message(), w.getDocument(), w.getClientSeq(), 0, 0, false);
      return;
    }
    long seq = w.getClientSeq();
    if (writes().has(seq)) {
      return; // The same write is being applied; its ack will answer both copies.
    }
    if (node.config().writeRatePerSecond() > 0) {
      long now = connection.nanoTime();
      if (writes.rate == null) {
        writes.rate =
            new TokenBucket(node.config().writeRatePerSecond(), node.config().writeBurst(), now);
      }
      if (!writes.rate.tryTake(now)) {
        node.stats().writesRateLimited.increment();
        error(
            id,
            ErrorCode.RATE_LIMITED,
            "more than "
                + (long) node.config().writeRatePerSecond()
                + " writes/s on this connection; retry in "
                + writes.rate.millisToNextToken()
                + " ms",
            w.getDocument(),
            seq,
            0,
            0,
            true);
        return;
      }
    }
    if (writes.size() >= node.config().maxInFlightWrites()) {
      error(
          id,
          ErrorCode.TOO_MANY_IN_FLIGHT,
          writes.size() + " writes are waiting for their acks; wait for some before sending more",
          w.getDocument(),
          seq,
          0,
          0,
          true);
      return;
    }
    InFlight p = writes.start(seq, w.getDocument(), id);
    writes.send(
        p,
        () -> node.store().write(connection.userId(), connection.deviceId(), w),
        (out, err) -> writeDone(seq, p, out, err));
  }

  private void writeDone(long seq, InFlight p, WriteOutcome out, Throwable err) {
    writes.answered(p);
    if (err == null && out.isApplied() && !out.duplicate()) {
      node.stats().writesApplied.increment(); // Counted here even if the stream acked it first.
    }
    Cursor held = release(p.document, seq, err == null ? out : null);
    if (held != null) {
      writeAnswered(seq, p, out, err);
      catchUp(p.document, held); // Reads what came meanwhile, or the held write on a failure.
      connection.flush();
      return;
    }
    writeAnswered(seq, p, out, err);
  }

  /**
   * Applied write {@code p} (no longer tracked) did not come where the store said it applied it:
   * answered OUTCOME_UNKNOWN, so that the device sends it again (acked as a duplicate if the store
   * has it, applied now if not). See {@link WriteTracker#covered}.
   */
  private void notWhereAnswered(InFlight p) {
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

  private void writeAnswered(long seq, InFlight p, WriteOutcome out, Throwable err) {
    if (!writes.waiting(seq, p)) {
      return; // Already acked in the stream.
    }
    if (err != null) {
      writes.forget(seq); // Not logged: the store logs its state changes, not every failed write.
      ErrorCode code = StoreFailures.code(err);
      if (code == ErrorCode.OUTCOME_UNKNOWN) {
        node.stats().writesOutcomeUnknown.increment();
      }
      error(p.requestId, code, StoreFailures.message(err), p.document, seq, 0, 0, true);
    } else if (!out.isApplied()) {
      writes.forget(seq);
      node.stats().writesRefused.increment();
      error(
          p.requestId,
          out.error(),
          out.message(),
          p.document,
          seq,
          out.epoch(),
          out.version(),
          out.error() == ErrorCode.UNAVAILABLE);
    } else if (out.duplicate()) {
      writes.duplicate(seq, p, out.epoch(), out.version(), out.fingerprint());
    } else {
      writes.applied(p, out.epoch(), out.version(), out.fingerprint());
      Cursor c = cursors.get(p.document);
      if (!follow.follows(p.document)) {
        writes.ackNow(seq, p); // The stream will not bring it to this device.
      } else if (c != null && c.epoch == p.epoch && c.version >= p.version) {
        // The device is already past this version, even if a read is under way (it starts after
        // the cursor, so it would not bring the version again): acked now if its copy shows the
        // write, else answered OUTCOME_UNKNOWN. Otherwise the stream acks it.
        if (WriteTracker.holds(p, c.epoch, c.version, c.fingerprint)) {
          writes.ackNow(seq, p);
        } else {
          writes.forget(seq);
          notWhereAnswered(p);
        }
      }
    }
    connection.flush();
  }

  /**
   * Follow: the follow set grows at once (so that a later Unfollow, handled at once, applies after
   * it), and the documents it newly covers are read in the connection's {@link SyncLane}. Only
   * documents the follow set did not cover before and the connection does not track are read: a
   * Follow that adds nothing (everything it names was followed already) reads nothing and is
   * answered with an empty SyncReport at once, or as soon as the requests before it are.
   */
  private void onFollow(long id, Follow f) {
    if (!syncs().admit(id, null)) {
      return;
    }
    FollowFilter merged = follow.copy();
    merged.add(f.getSpec());
    Error problem =
        node.validator()
            .checkFollow(merged, f.getPositionsList(), node.config().maxFollowEntries());
    if (problem != null) {
      connection.error(id, problem);
      return;
    }
    NewlyFollowed added = NewlyFollowed.of(follow, f, cursors.keySet());
    follow = merged;
    if (added.isEmpty()) {
      syncs.submit(id, null, 0, () -> answerEmpty(id));
    } else {
      int reads = added.names().size() + added.positions().size();
      syncs.submit(id, null, reads, () -> readFollowed(id, added));
    }
  }

  /**
   * A Follow that added nothing to read: its empty SyncReport. In the lane; flushed with the frame
   * that brought it, or by the lane.
   */
  private void answerEmpty(long id) {
    connection.reply(
        ServerFrame.newBuilder()
            .setRequestId(id)
            .setSyncReport(SyncReport.getDefaultInstance())
            .build());
    syncDone();
  }

  /**
   * Reads what a Follow newly covers: its new names, the documents under its new prefixes (listed
   * first), each from the device's position if it sent one. A name that names no document is
   * reported only if the device sent a position of it (GONE: drop the copy). In the lane.
   */
  private void readFollowed(long id, NewlyFollowed added) {
    if (added.prefixes().isEmpty()) {
      readNewlyFollowed(id, added, List.of());
      return;
    }
    connection.onLoop(
        node.store().documents(connection.userId()),
        (all, err) -> {
          if (err != null) {
            syncFailed(err);
            return;
          }
          readNewlyFollowed(id, added, all.stream().filter(added::under).toList());
        });
  }

  private void readNewlyFollowed(long id, NewlyFollowed added, List<String> under) {
    Map<String, Position> positions = added.positions();
    Set<String> documents = new LinkedHashSet<>(added.names());
    documents.addAll(under);
    documents.addAll(positions.keySet());
    List<CompletableFuture<SyncResult>> reads = new ArrayList<>();
    for (String d : documents) {
      // Tracked since (its stream brought it while this request waited), or unfollowed since.
      if (!follow.follows(d) || cursors.containsKey(d)) {
        continue;
      }
      Position p = positions.get(d);
      reads.add(
          p == null
              ? read(d, 0, 0, Fingerprint.UNKNOWN)
              : read(d, p.getEpoch(), p.getVersion(), p.getFingerprint()));
    }
    CompletableFuture<List<SyncResult>> all =
        CompletableFuture.allOf(reads.toArray(new CompletableFuture<?>[0]))
            .thenApply(
                v ->
                    reads.stream()
                        .map(CompletableFuture::join)
                        .filter(
                            r ->
                                r.mode() != DocumentSync.Mode.GONE
                                    || positions.containsKey(r.document()))
                        .toList());
    syncThenReport(id, all, null);
  }

  /**
   * Unfollow: its names and prefixes obey the rule a Follow's do (a bad one is refused BAD_REQUEST
   * and nothing changes); the follow set shrinks at once and the answer is an empty SyncReport.
   */
  private void onUnfollow(long id, Unfollow u) {
    Error problem = node.validator().checkUnfollow(u.getSpec());
    if (problem != null) {
      connection.error(id, problem);
      return;
    }
    FollowFilter rest = follow.copy(); // Never changed in place: it may be the shared one.
    rest.remove(u.getSpec());
    follow = rest;
    cursors.keySet().removeIf(doc -> !rest.follows(doc));
    connection.reply(
        ServerFrame.newBuilder()
            .setRequestId(id)
            .setSyncReport(SyncReport.getDefaultInstance())
            .build());
  }

  /** Resync: the followed documents it names are read again, from its positions, in the lane. */
  private void onResync(long id, Resync r) {
    String document = r.getPositionsCount() == 1 ? r.getPositions(0).getDocument() : null;
    if (!syncs().admit(id, document)) {
      return;
    }
    if (r.getPositionsCount() > node.config().storeLimits().maxDocumentsPerUser()) {
      error(id, ErrorCode.LIMIT_EXCEEDED, "too many positions", null, 0, 0, 0, false);
      return;
    }
    List<Position> positions = new ArrayList<>();
    Set<String> named = new HashSet<>();
    for (Position p : r.getPositionsList()) {
      if (follow.follows(p.getDocument()) && named.add(p.getDocument())) {
        positions.add(p);
      }
    }
    syncs.submit(id, document, positions.size(), () -> readResync(id, positions));
  }

  private void readResync(long id, List<Position> positions) {
    List<CompletableFuture<SyncResult>> reads = new ArrayList<>();
    Map<String, Cursor> claimed = new HashMap<>();
    for (Position p : positions) {
      if (!follow.follows(p.getDocument())) {
        continue; // Unfollowed while the request waited.
      }
      Cursor c = cursors.get(p.getDocument());
      c = c != null ? c : track(p.getDocument(), new Cursor());
      c.epoch = p.getEpoch();
      c.version = p.getVersion();
      c.fingerprint = p.getFingerprint();
      c.awaiting = null; // As in fetch: the read brings the held write if the store has it.
      c.syncing = true;
      c.generation++;
      claimed.put(p.getDocument(), c);
      reads.add(read(p.getDocument(), p.getEpoch(), p.getVersion(), p.getFingerprint()));
    }
    CompletableFuture<List<SyncResult>> all =
        CompletableFuture.allOf(reads.toArray(new CompletableFuture<?>[0]))
            .thenApply(v -> reads.stream().map(CompletableFuture::join).toList());
    syncThenReport(id, all, claimed);
  }

  /** One document read for a Follow or Resync. */
  private CompletableFuture<SyncResult> read(
      String doc, long epoch, long version, long fingerprint) {
    node.stats().syncDocumentReads.increment();
    return node.store().read(connection.userId(), doc, epoch, version, fingerprint);
  }

  /**
   * When {@code results} arrive: a SyncReport answering request {@code id}, then the frames it
   * announces; then the lane's next request. {@code claimed} are cursors this request reset
   * (Resync); a cursor reset again since is left to the newer request.
   */
  private void syncThenReport(
      long id, CompletableFuture<List<SyncResult>> results, Map<String, Cursor> claimed) {
    // The reads were sent in this task, after every answer taken so far.
    long readAfter = writes == null ? 0 : writes.answersSoFar();
    Map<String, Integer> generations = new HashMap<>();
    if (claimed != null) {
      claimed.forEach((doc, c) -> generations.put(doc, c.generation));
    }
    connection.onLoop(
        results,
        (list, err) -> {
          if (err != null) {
            syncFailed(err);
            return;
          }
          List<SyncResult> fresh = new ArrayList<>();
          for (SyncResult result : list) {
            Cursor c = cursors.get(result.document());
            if (claimed == null) {
              if (c != null || !follow.follows(result.document())) {
                continue; // Already synced through the stream.
              }
              c = track(result.document(), new Cursor());
            } else if (c == null || c.generation != generations.get(result.document())) {
              continue;
            }
            c.syncing = false;
            fresh.add(result);
          }
          connection.sync(
              ServerFrame.newBuilder()
                  .setRequestId(id)
                  .setSyncReport(SyncResult.report(fresh))
                  .build());
          for (SyncResult result : fresh) {
            Cursor c = cursors.get(result.document());
            deliver(result.document(), c, result, readAfter);
            catchUp(result.document(), c);
          }
          connection.flush();
          syncDone();
        });
  }

  private void syncFailed(Throwable err) {
    log.warn(
        "sync of {}/{} failed: {}",
        connection.userId(),
        connection.deviceId(),
        StoreFailures.root(err));
    connection.close(CloseCode.UNAVAILABLE, "store unavailable during sync");
  }

  /** The connection's Follow/Resync lane, made by its first Follow or Resync. */
  private SyncLane syncs() {
    if (syncs == null) {
      syncs = new SyncLane(connection, node);
    }
    return syncs;
  }

  /** The lane's request was answered: the next may start. */
  private void syncDone() {
    syncs.done();
  }

  /** The socket takes frames again: a Follow or Resync waiting for it may start. Event loop. */
  public void writable() {
    if (syncs != null) {
      syncs.writable();
    }
  }

  // ---------------------------------------------------------------------------------------------
  // The stream
  // ---------------------------------------------------------------------------------------------

  /** One event of the user's stream, taken off the outbox's queue. Event loop. */
  public void onEvent(DocumentEvent e) {
    String doc = e.document();
    Reached reached = writes == null ? Reached.NOT_MINE : writes.reached(e);
    if (!follow.follows(doc)) {
      return;
    }
    Cursor c = cursors.get(doc);
    if (c == null) {
      c = track(doc, new Cursor());
      if (e.version() == 1) {
        advance(doc, c, e, reached);
      } else {
        fetch(doc, c, e.version());
      }
      return;
    }
    if (c.syncing || c.awaiting != null) {
      if (e.epoch() != c.epoch || e.version() <= c.maxSeen) {
        // Another history, or a version seen already: the store lost what it had there and
        // began again, maybe at a version the cursor already passed. maxSeen alone would not
        // bring it, so read once more (and trust no held copy: see release).
        c.recheck = true;
      }
      c.maxSeen = Math.max(c.maxSeen, e.version());
      return;
    }
    if (e.epoch() != c.epoch) {
      c.epoch = 0; // A new history: start over from a snapshot.
      c.version = 0;
      fetch(doc, c, e.version());
      return;
    }
    // Another history than the device's: the fetch below answers with a snapshot.
    boolean diverged = CursorCheck.diverged(c.version, c.fingerprint, e);
    if (e.version() <= c.version && !diverged) {
      return;
    }
    if (e.version() == c.version + 1 && !diverged) {
      advance(doc, c, e, reached);
      return;
    }
    fetch(doc, c, e.version());
  }

  /**
   * {@code e} is the next version of {@code doc} for this device. Another device's write is sent as
   * a Delta, and an answered write of this connection acked in its place. This device's own writes
   * are confirmed to it only by the store: one still waiting for the store's answer holds the
   * document's stream until the answer comes ({@link #writeDone}); one this connection does not
   * have in flight (sent on an earlier connection) is read from the store instead of sent from the
   * stream. Without durable acks, a device takes its own Delta as its write applied, and a copy on
   * the stream may come before the store made the write durable (see {@link Reached}).
   */
  private void advance(String doc, Cursor c, DocumentEvent e, Reached reached) {
    if (reached == Reached.AWAITING_ANSWER) {
      c.awaiting = e;
      c.maxSeen = Math.max(c.maxSeen, e.version());
      return;
    }
    if (reached == Reached.NOT_MINE
        && node.config().storeLimits().durableAcks() == 0
        && e.isFrom(connection.deviceId())) {
      fetch(doc, c, e.version());
      return;
    }
    c.epoch = e.epoch();
    c.version = e.version();
    c.fingerprint = e.fingerprint();
    if (reached != Reached.ACKED) {
      sendLiveDelta(e);
    }
  }

  /**
   * The store answered write {@code seq} of {@code doc}: if the document's stream is held for it,
   * lets go. The held copy moves the cursor only if the store applied the write at that very
   * version and nothing came meanwhile that says the store lost it (another history, or that
   * version again); otherwise the document is read from the store (the copy may be one the store
   * lost). Returns the cursor that held it, or null.
   */
  private Cursor release(String doc, long seq, WriteOutcome out) {
    Cursor c = cursors.get(doc);
    if (c == null || c.awaiting == null || c.awaiting.originSeq() != seq) {
      return null;
    }
    DocumentEvent e = c.awaiting;
    c.awaiting = null;
    if (out != null
        && !c.recheck
        && out.isApplied()
        && out.epoch() == e.epoch()
        && out.version() == e.version()) {
      c.epoch = e.epoch();
      c.version = e.version();
      c.fingerprint = e.fingerprint();
    }
    return c;
  }

  /**
   * The broker may have lost events: re-read every followed document from its cursor, and take
   * followed documents this session has not seen yet from a snapshot. Documents that did not move
   * answer UP_TO_DATE. Event loop.
   */
  public void recheck() {
    for (Map.Entry<String, Cursor> e : new ArrayList<>(cursors.entrySet())) {
      Cursor c = e.getValue();
      if (c.syncing) {
        c.recheck = true; // The read under way may predate the loss: read again after it.
      } else {
        fetch(e.getKey(), c, c.version);
      }
    }
    // Documents this session has no cursor for yet: their first events may be among the lost.
    connection.onLoop(
        node.store().documents(connection.userId()),
        (names, err) -> {
          if (err != null) {
            log.warn(
                "recheck of {}/{} failed: {}",
                connection.userId(),
                connection.deviceId(),
                StoreFailures.root(err));
            return;
          }
          for (String doc : names) {
            if (follow.follows(doc) && !cursors.containsKey(doc)) {
              fetch(doc, track(doc, new Cursor()), 0);
            }
          }
        });
  }

  /** Reads what the device misses of {@code doc} after its cursor. */
  private void fetch(String doc, Cursor c, long seen) {
    c.awaiting = null; // The read brings the held write if the store has it.
    c.syncing = true;
    c.maxSeen = Math.max(c.maxSeen, seen);
    long askedFor = c.maxSeen;
    int generation = ++c.generation;
    long readAfter = writes == null ? 0 : writes.answersSoFar();
    connection.onLoop(
        node.store().read(connection.userId(), doc, c.epoch, c.version, c.fingerprint),
        (result, err) -> {
          if (cursors.get(doc) != c || c.generation != generation) {
            return;
          }
          if (err != null) {
            log.warn(
                "history read of {}/{} failed: {}",
                connection.userId(),
                doc,
                StoreFailures.root(err));
            connection.close(CloseCode.UNAVAILABLE, "store unavailable while catching up");
            return;
          }
          c.syncing = false;
          if (result.mode() == DocumentSync.Mode.GONE) {
            cursors.remove(doc);
            connection.sync(
                ServerFrame.newBuilder()
                    .setSyncReport(SyncReport.newBuilder().addDocuments(result.toProto()))
                    .build());
            settleWrites(doc, c, false, readAfter);
          } else {
            deliver(doc, c, result, readAfter);
            if (c.maxSeen <= askedFor && c.version < c.maxSeen) {
              // Versions seen on the stream before this read began and not in the store: copies
              // of writes it lost (a read made after an event was seen always sees its write). They
              // will not come; reading again would only find the same.
              c.maxSeen = c.version;
            }
            catchUp(doc, c);
          }
          connection.flush();
        });
  }

  private void catchUp(String doc, Cursor c) {
    if (!c.syncing && (c.maxSeen > c.version || c.recheck) && cursors.get(doc) == c) {
      c.recheck = false;
      fetch(doc, c, c.maxSeen);
    }
  }

  /**
   * Sends the frames of one sync result and moves the cursor to its end; the read was sent after
   * mark {@code readAfter} ({@link WriteTracker#answersSoFar}).
   */
  private void deliver(String doc, Cursor c, SyncResult r, long readAfter) {
    switch (r.mode()) {
      case DELTAS -> {
        node.stats().resumesWithDeltas.increment();
        c.epoch = r.epoch();
        for (DocumentEvent e : r.deltas()) {
          if (e.version() <= c.version) {
            continue;
          }
          // As on the live path, the writer gets its ack in the delta's place.
          if (!(writes != null && writes.readFromStore(e))) {
            node.stats().deltasOut.increment();
            connection.syncEncoded(e.frame());
          }
          c.version = e.version();
          c.fingerprint = e.fingerprint();
        }
      }
      case SNAPSHOT -> {
        node.stats().resumesWithSnapshot.increment();
        node.stats().snapshotsOut.increment();
        node.stats().countResync(r.reason());
        c.epoch = r.epoch();
        c.version = r.toVersion();
        c.fingerprint = r.fingerprint();
        connection.sync(
            ServerFrame.newBuilder()
                .setSnapshot(
                    Snapshot.newBuilder()
                        .setDocument(doc)
                        .setEpoch(r.epoch())
                        .setVersion(r.toVersion())
                        .putAllFields(r.fields())
                        .setFingerprint(r.fingerprint())
                        .setReason(r.reason()))
                .build());
      }
      case UP_TO_DATE -> {
        c.epoch = r.epoch();
        c.version = r.toVersion();
        c.fingerprint = r.fingerprint();
      }
      case GONE -> cursors.remove(doc);
      default -> throw new IllegalStateException("unknown sync mode " + r.mode());
    }
    settleWrites(doc, c, r.mode() != DocumentSync.Mode.GONE, readAfter);
  }

  /**
   * A read of {@code doc} sent after mark {@code readAfter} moved the device's copy to {@code c}'s
   * position ({@code present}) or found no document: applied writes the copy shows are acked, and
   * those it cannot show, or that the store lost (answered before the read was sent, and not in
   * what it found), are answered OUTCOME_UNKNOWN to be sent again ({@link WriteTracker#covered}).
   */
  private void settleWrites(String doc, Cursor c, boolean present, long readAfter) {
    if (writes == null) {
      return;
    }
    List<InFlight> unconfirmed =
        writes.covered(doc, present, c.epoch, c.version, c.fingerprint, readAfter);
    if (unconfirmed != null) {
      unconfirmed.forEach(this::notWhereAnswered);
    }
  }

  /**
   * The stream has not brought applied write {@code p} in time: read its document again (a read
   * sent after the answer settles the write: acked if it shows it, OUTCOME_UNKNOWN if not).
   */
  private void unacked(InFlight p) {
    if (cursors.containsKey(p.document)) {
      recheck();
    } else if (follow.follows(p.document)) {
      fetch(p.document, track(p.document, new Cursor()), 0); // Its copy never came: none yet.
    } else {
      writes.ackNow(p.seq, p); // The stream does not bring it to this device.
      connection.flush();
    }
  }

  private void sendLiveDelta(DocumentEvent e) {
    node.stats().recordSyncLag(e.timestampMs());
    node.stats().deltasOut.increment();
    connection.replyEncoded(e.frame());
  }
}
