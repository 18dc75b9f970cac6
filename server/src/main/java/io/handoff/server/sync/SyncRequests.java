package io.handoff.server.sync;

import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.DocumentSync;
import io.handoff.protocol.v1.Error;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.Follow;
import io.handoff.protocol.v1.Position;
import io.handoff.protocol.v1.Resync;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.protocol.v1.SyncReport;
import io.handoff.protocol.v1.Unfollow;
import io.handoff.server.session.Connection;
import io.handoff.server.util.ReadWindow;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One connection's Follow, Unfollow and Resync: the requests that change what the device follows or
 * read documents from the store. Follow and Resync are read in the connection's {@link SyncLane}
 * (one at a time, rated, the others waiting boundedly, none before the Welcome); each is answered
 * with a SyncReport, then the frames it announces, after which the documents' cursors take the
 * stream again ({@link DocumentSession#deliver}, {@link DocumentSession#catchUp}). A Follow reads
 * only what it newly covers. Unfollow is answered at once.
 *
 * <p>Made by the connection's first such request; the lane by its first Follow or Resync. Event
 * loop only; store answers hop back onto it through the {@link Connection}.
 */
final class SyncRequests {
  private static final Logger log = LoggerFactory.getLogger(SyncRequests.class);

  private final DocumentSession session;
  private final Connection connection;
  private final DocumentSession.Node node;
  // The reads of its requests under way (ReadRetry), ended when the connection closes.
  private final OpenReads reads = new OpenReads();
  private SyncLane lane;

  SyncRequests(DocumentSession session, Connection connection, DocumentSession.Node node) {
    this.session = session;
    this.connection = connection;
    this.node = node;
  }

  /**
   * Follow: the follow set grows at once (so that a later Unfollow, handled at once, applies after
   * it), and the documents it newly covers are read in the connection's {@link SyncLane}. Only
   * documents the follow set did not cover before and the connection does not track are read: a
   * Follow that adds nothing (everything it names was followed already) reads nothing and is
   * answered with an empty SyncReport at once, or as soon as the requests before it are.
   */
  void onFollow(long id, Follow f) {
    if (!lane().admit(id, null)) {
      return;
    }
    FollowFilter merged = session.follow().copy();
    merged.add(f.getSpec());
    Error problem =
        node.validator()
            .checkFollow(merged, f.getPositionsList(), node.config().maxFollowEntries());
    if (problem != null) {
      connection.error(id, problem);
      return;
    }
    NewlyFollowed added = NewlyFollowed.of(session.follow(), f, session.tracked());
    int reads = added.isEmpty() ? 0 : added.names().size() + added.positions().size();
    // Refused for a full lane before the follow set grows: a refused Follow changes nothing, and
    // sent again it reads what it covers (grown, it would find it followed and read nothing).
    if (lane.refusedAsFull(id, null, reads)) {
      return;
    }
    session.follow(merged);
    if (added.isEmpty()) {
      lane.submit(id, null, 0, () -> answerEmpty(id));
    } else {
      lane.submit(id, null, reads, () -> readFollowed(id, added));
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
    lane.done();
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
        ReadRetry.request(
            reads,
            connection,
            node.stats(),
            "documents",
            () -> node.store().documents(connection.userId()),
            () -> true),
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
    List<Supplier<CompletableFuture<SyncResult>>> reads = new ArrayList<>();
    Map<String, Cursor> claimed = new HashMap<>();
    for (String d : documents) {
      // Tracked since (its stream brought it while this request waited), or unfollowed since.
      if (!session.follows(d) || session.cursor(d) != null) {
        continue;
      }
      // Tracked from now on, at the device's position, as a Resync's: an event of the document
      // the stream brings while it is read (one that waited for the Welcome, say) waits for this
      // read, which answers it in the report, rather than starting a read of its own from no
      // position and leaving the document out of the report.
      Cursor c = session.track(d, new Cursor());
      Position p = positions.get(d);
      if (p != null) {
        c.epoch = p.getEpoch();
        c.version = p.getVersion();
        c.fingerprint = p.getFingerprint();
      }
      c.syncing = true;
      c.generation++;
      claimed.put(d, c);
      reads.add(read(d, c));
    }
    syncThenReport(id, ReadWindow.of(reads), claimed, positions);
  }

  /**
   * Unfollow: its names and prefixes obey the rule a Follow's do (a bad one is refused BAD_REQUEST
   * and nothing changes); the follow set shrinks at once and the answer is an empty SyncReport.
   */
  void onUnfollow(long id, Unfollow u) {
    Error problem = node.validator().checkUnfollow(u.getSpec());
    if (problem != null) {
      connection.error(id, problem);
      return;
    }
    FollowFilter rest =
        session.follow().copy(); // Never changed in place: it may be the shared one.
    rest.remove(u.getSpec());
    session.followOnly(rest);
    connection.reply(
        ServerFrame.newBuilder()
            .setRequestId(id)
            .setSyncReport(SyncReport.getDefaultInstance())
            .build());
  }

  /** Resync: the followed documents it names are read again, from its positions, in the lane. */
  void onResync(long id, Resync r) {
    String document = r.getPositionsCount() == 1 ? r.getPositions(0).getDocument() : null;
    if (!lane().admit(id, document)) {
      return;
    }
    int most = node.config().storeLimits().maxDocumentsPerUser();
    if (r.getPositionsCount() > most) {
      connection.error(
          id,
          Error.newBuilder()
              .setCode(ErrorCode.LIMIT_EXCEEDED)
              .setMessage(
                  "Resync names "
                      + r.getPositionsCount()
                      + " positions; the limit is "
                      + most
                      + " (a user's documents)")
              .build());
      return;
    }
    for (Position p : r.getPositionsList()) {
      String problem = node.validator().checkName("document name", p.getDocument());
      if (problem != null) {
        Error.Builder e = Error.newBuilder().setCode(ErrorCode.BAD_REQUEST).setMessage(problem);
        if (document != null) {
          e.setDocument(document);
        }
        connection.error(id, e.build());
        return;
      }
    }
    List<Position> positions = new ArrayList<>();
    Set<String> named = new HashSet<>();
    for (Position p : r.getPositionsList()) {
      if (session.follows(p.getDocument()) && named.add(p.getDocument())) {
        positions.add(p);
      }
    }
    lane.submit(id, document, positions.size(), () -> readResync(id, positions));
  }

  private void readResync(long id, List<Position> positions) {
    List<Supplier<CompletableFuture<SyncResult>>> reads = new ArrayList<>();
    Map<String, Cursor> claimed = new HashMap<>();
    for (Position p : positions) {
      if (!session.follows(p.getDocument())) {
        continue; // Unfollowed while the request waited.
      }
      Cursor c = session.cursor(p.getDocument());
      c = c != null ? c : session.track(p.getDocument(), new Cursor());
      c.epoch = p.getEpoch();
      c.version = p.getVersion();
      c.fingerprint = p.getFingerprint();
      c.awaiting = null; // As in a fetch: the read brings the held write if the store has it.
      c.syncing = true;
      c.generation++;
      claimed.put(p.getDocument(), c);
      reads.add(read(p.getDocument(), c));
    }
    syncThenReport(id, ReadWindow.of(reads), claimed, null);
  }

  /**
   * One document read for a Follow or Resync, from the position of cursor {@code c}, which the
   * request just claimed, taken now; sent when the request's {@link ReadWindow} has room (on the
   * loop: the window sends from where an earlier read was answered), and again, if the store left
   * it unanswered, while the cursor is still the document's and still this request's ({@link
   * ReadRetry}). The read completes with null, unsent or not sent again, if the cursor no longer
   * was (an Unfollow dropped it since), which the report leaves out, or once the connection closed.
   */
  private Supplier<CompletableFuture<SyncResult>> read(String doc, Cursor c) {
    int generation = c.generation;
    long epoch = c.epoch;
    long version = c.version;
    long fingerprint = c.fingerprint;
    BooleanSupplier wanted = () -> session.cursor(doc) == c && c.generation == generation;
    return () -> {
      if (!wanted.getAsBoolean()) {
        // Unfollowed, or the connection closed (its cursors gone), while it waited its turn.
        return CompletableFuture.completedFuture(null);
      }
      node.stats().syncDocumentReads.increment();
      return ReadRetry.request(
          reads,
          connection,
          node.stats(),
          doc,
          () -> node.store().read(connection.userId(), doc, epoch, version, fingerprint),
          wanted);
    };
  }

  /**
   * When {@code results} arrive: a SyncReport answering request {@code id}, then the frames it
   * announces; then the lane's next request. A read the store did not answer at any attempt, or
   * refused, closes the connection UNAVAILABLE instead ({@link ReadRetry}). {@code claimed} are the
   * cursors this request set (Follow) or reset (Resync); a cursor reset again since is left to the
   * newer request. A Follow's {@code positions} (null for a Resync): a document it names that does
   * not exist is reported (GONE) only if the device sent a position of it.
   */
  private void syncThenReport(
      long id,
      CompletableFuture<List<SyncResult>> results,
      Map<String, Cursor> claimed,
      Map<String, Position> positions) {
    // The reads were sent in this task, after every answer taken so far and every event seen (an
    // attempt sent again is sent later still: what the mark promises holds for it too).
    long readAfter = session.answersSoFar();
    Map<String, Claim> claims = new HashMap<>();
    claimed.forEach((doc, c) -> claims.put(doc, new Claim(c.generation, c.maxSeen)));
    connection.onLoop(
        results,
        (list, err) -> {
          if (err != null) {
            syncFailed(err);
            return;
          }
          List<SyncResult> fresh = new ArrayList<>();
          for (SyncResult result : list) {
            if (result == null) {
              continue; // Unfollowed while its read waited to be sent again.
            }
            Cursor c = session.cursor(result.document());
            if (c == null || c.generation != claims.get(result.document()).generation()) {
              continue; // Unfollowed since, or read again by a newer request.
            }
            c.syncing = false;
            fresh.add(result);
          }
          connection.sync(
              ServerFrame.newBuilder()
                  .setRequestId(id)
                  .setSyncReport(
                      SyncResult.report(
                          positions == null
                              ? fresh
                              : fresh.stream()
                                  .filter(
                                      r ->
                                          r.mode() != DocumentSync.Mode.GONE
                                              || positions.containsKey(r.document()))
                                  .toList()))
                  .build());
          for (SyncResult result : fresh) {
            String doc = result.document();
            Cursor c = session.cursor(doc);
            // Found gone but written while it was read: read again, from no position.
            session.deliver(doc, c, result, readAfter, claims.get(doc).seen());
            session.catchUp(doc, c);
          }
          connection.flush();
          lane.done();
        });
  }

  /** A cursor a request claimed: its generation then, and the most the stream had brought. */
  private record Claim(int generation, long seen) {}

  private void syncFailed(Throwable err) {
    log.warn(
        "sync of {}/{} failed: {}",
        connection.userId(),
        connection.deviceId(),
        StoreFailures.root(err));
    connection.close(CloseCode.UNAVAILABLE, "store unavailable during sync");
  }

  /** The connection's lane, made by its first Follow or Resync. */
  private SyncLane lane() {
    if (lane == null) {
      lane = new SyncLane(connection, node, !session.welcomed());
    }
    return lane;
  }

  /** The connection's Welcome is sent: a Follow or Resync waiting for it may start. */
  void welcomed() {
    if (lane != null) {
      lane.welcomed();
    }
  }

  /** True when no Follow or Resync is being read or waits in the lane. */
  boolean idle() {
    return lane == null || lane.idle();
  }

  /** The socket takes frames again: a Follow or Resync waiting for it may start. */
  void writable() {
    if (lane != null) {
      lane.writable();
    }
  }

  void closed() {
    if (lane != null) {
      lane.clear();
    }
    reads.closed();
  }
}
