package io.handoff.server.sync;

import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.DocumentSync;
import io.handoff.protocol.v1.Error;
import io.handoff.protocol.v1.Hello;
import io.handoff.protocol.v1.Position;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.protocol.v1.Snapshot;
import io.handoff.protocol.v1.Welcome;
import io.handoff.server.ServerConfig;
import io.handoff.server.ServerStats;
import io.handoff.server.session.Connection;
import io.handoff.server.sync.WriteTracker.InFlight;
import io.handoff.server.sync.WriteTracker.Reached;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
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
 * until it caught up; one the store did not answer in time is sent again ({@link ReadRetry}), the
 * events still held. The device therefore sees every document's versions in order, once, with no
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
 * <h2>Where each part lives</h2>
 *
 * This class keeps the cursors and every move of them from the stream and from reads of the store
 * (the resume, gap fetches, rechecks), so that one file shows how a device gets each version once
 * and in order. Write frames and their answers are {@link SessionWrites}'s; Follow, Unfollow and
 * Resync are {@link SyncRequests}'s. Both reach the cursors only through the package-private
 * methods below ({@link #cursor}, {@link #track}, {@link #release}, {@link #deliver}, {@link
 * #catchUp}).
 *
 * <p>Threads: event loop only; store answers hop back onto it through the {@link Connection}.
 */
public final class DocumentSession {
  private static final Logger log = LoggerFactory.getLogger(DocumentSession.class);

  private final Connection connection;
  private final Node node;
  private Map<String, Cursor> cursors = Collections.emptyMap(); // Made by the first track().
  // Volatile: the resume may copy it (following()) on the store's thread while an Unfollow before
  // the Welcome replaces it on the loop; each filter is filled before it is set, never after.
  private volatile FollowFilter follow;
  private List<Position> helloPositions;
  // Made by the first Write, and by the first Follow, Unfollow or Resync: an idle connection
  // carries neither, nor any of their maps.
  private SessionWrites writes;
  private SyncRequests requests;

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
        .setSync(SyncResult.report(stillFollowed(r.results())));
  }

  /**
   * After the Welcome: sends what the resume found and starts a cursor per document; then the
   * writes whose stream copy was late before the Welcome are read for, and the Follow and Resync
   * requests that waited for the Welcome may start.
   */
  public void welcomed(Resume r) {
    helloPositions = null;
    for (SyncResult result : stillFollowed(r.results())) {
      // Mark 0: a write answered before the resume's read (one sent while the resume waited its
      // turn) that the read does not show is left to the stream and, past its deadline, a re-read.
      deliver(result.document(), track(result.document(), new Cursor()), result, 0, 0);
    }
    if (writes != null) {
      writes.welcomed(this::unacked);
    }
    if (requests != null) {
      requests.welcomed();
    }
  }

  /**
   * The resume's results of the documents the device still follows: an Unfollow handled while the
   * resume was read (answered at once, before the Welcome) is not followed by frames of what it
   * removed, as after the Welcome.
   */
  private List<SyncResult> stillFollowed(List<SyncResult> results) {
    for (SyncResult result : results) {
      if (!follow.follows(result.document())) {
        return results.stream().filter(x -> follow.follows(x.document())).toList();
      }
    }
    return results;
  }

  /** True once the Welcome was sent (the Hello's positions are let go then). */
  boolean welcomed() {
    return helloPositions == null;
  }

  /** Starts cursor {@code c} of {@code doc}; the map is made on first use (idle costs nothing). */
  Cursor track(String doc, Cursor c) {
    cursors = cursors.isEmpty() ? new HashMap<>() : cursors;
    cursors.put(doc, c);
    return c;
  }

  /**
   * True when no write waits for its answer and no Follow or Resync is read or waits its turn (a
   * draining session may close): one that waits for the Welcome, or for a socket the Welcome's
   * frames filled, was read before the drain and is answered before SHUTDOWN.
   */
  public boolean settled() {
    return (writes == null || writes.tracker.isEmpty()) && (requests == null || requests.idle());
  }

  public void closed() {
    cursors = Collections.emptyMap();
    if (writes != null) {
      writes.closed();
    }
    if (requests != null) {
      requests.closed();
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Frames from the device
  // ---------------------------------------------------------------------------------------------

  /** Write, Follow, Unfollow and Resync. */
  public void onFrame(long id, ClientFrame f) {
    switch (f.getBodyCase()) {
      case WRITE -> writes().onWrite(id, f.getWrite());
      case FOLLOW -> requests().onFollow(id, f.getFollow());
      case UNFOLLOW -> requests().onUnfollow(id, f.getUnfollow());
      case RESYNC -> requests().onResync(id, f.getResync());
      default -> throw new IllegalArgumentException("not a document frame: " + f.getBodyCase());
    }
  }

  private SessionWrites writes() {
    if (writes == null) {
      writes = new SessionWrites(this, connection, node);
    }
    return writes;
  }

  private SyncRequests requests() {
    if (requests == null) {
      requests = new SyncRequests(this, connection, node);
    }
    return requests;
  }

  /** The socket takes frames again: a Follow or Resync waiting for it may start. Event loop. */
  public void writable() {
    if (requests != null) {
      requests.writable();
    }
  }

  // ---------------------------------------------------------------------------------------------
  // What the writes and the requests see of the cursors
  // ---------------------------------------------------------------------------------------------

  /** The cursor of {@code doc}, or null if the connection does not track it. */
  Cursor cursor(String doc) {
    return cursors.get(doc);
  }

  /** The documents the connection tracks (live view). */
  Set<String> tracked() {
    return cursors.keySet();
  }

  /** True if the device follows {@code doc}. */
  boolean follows(String doc) {
    return follow.follows(doc);
  }

  /** What the device follows; never changed in place (it may be the node's shared filter). */
  FollowFilter follow() {
    return follow;
  }

  /** A Follow grew the follow set to {@code merged}. */
  void follow(FollowFilter merged) {
    follow = merged;
  }

  /** An Unfollow shrank the follow set to {@code rest}: cursors it no longer covers go. */
  void followOnly(FollowFilter rest) {
    follow = rest;
    cursors.keySet().removeIf(doc -> !rest.follows(doc));
  }

  /** The mark a read sent now carries ({@link WriteTracker#answersSoFar}); 0 before any write. */
  long answersSoFar() {
    return writes == null ? 0 : writes.tracker.answersSoFar();
  }

  // ---------------------------------------------------------------------------------------------
  // The stream
  // ---------------------------------------------------------------------------------------------

  /** One event of the user's stream, taken off the outbox's queue. Event loop. */
  public void onEvent(DocumentEvent e) {
    String doc = e.document();
    Reached reached = writes == null ? Reached.NOT_MINE : writes.tracker.reached(e);
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
      // A new history: read from the device's position, which the store answers with a snapshot
      // saying the epoch changed (a position of none would say NO_POSITION and count no resync).
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
   * document's stream until the answer comes ({@link SessionWrites}); one this connection does not
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
  Cursor release(String doc, long seq, WriteOutcome out) {
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
   * answer UP_TO_DATE. Returns what completes once the store answered these reads (the listing of
   * the user's documents, and the reads of those it found new); a document whose read was under way
   * is read again after it, and that read is not in it. Event loop.
   */
  public CompletableFuture<?> recheck() {
    List<CompletableFuture<?>> reads = new ArrayList<>();
    for (Map.Entry<String, Cursor> e : new ArrayList<>(cursors.entrySet())) {
      Cursor c = e.getValue();
      if (c.syncing) {
        c.recheck = true; // The read under way may predate the loss: read again after it.
      } else {
        reads.add(fetch(e.getKey(), c, c.version));
      }
    }
    // Documents this session has no cursor for yet: their first events may be among the lost.
    // Handled on the loop even if the session closed meanwhile, so the future always completes.
    reads.add(
        node.store()
            .documents(connection.userId())
            .handleAsync(this::readNew, connection::execute)
            .thenCompose(f -> f));
    return CompletableFuture.allOf(reads.toArray(CompletableFuture<?>[]::new));
  }

  /** Reads the documents of {@code names} the session follows and has no cursor for. */
  private CompletableFuture<?> readNew(Set<String> names, Throwable err) {
    if (err != null) {
      log.warn(
          "recheck of {}/{} failed: {}",
          connection.userId(),
          connection.deviceId(),
          StoreFailures.root(err));
      return CompletableFuture.completedFuture(null);
    }
    if (!connection.active()) {
      return CompletableFuture.completedFuture(null);
    }
    List<CompletableFuture<?>> reads = new ArrayList<>();
    for (String doc : names) {
      if (follow.follows(doc) && !cursors.containsKey(doc)) {
        reads.add(fetch(doc, track(doc, new Cursor()), 0));
      }
    }
    return CompletableFuture.allOf(reads.toArray(CompletableFuture<?>[]::new));
  }

  /** Reads what the device misses of {@code doc} after its cursor; returns its end (ReadRetry). */
  private CompletableFuture<?> fetch(String doc, Cursor c, long seen) {
    CompletableFuture<Object> ended = new CompletableFuture<>();
    fetch(doc, c, seen, 1, ended);
    return ended;
  }

  /** {@link #fetch}'s attempt {@code attempt}, {@code ended} completed as the read ends. */
  void fetch(String doc, Cursor c, long seen, int attempt, CompletableFuture<Object> ended) {
    c.awaiting = null; // The read brings the held write if the store has it.
    c.syncing = true;
    c.maxSeen = Math.max(c.maxSeen, seen);
    long askedFor = c.maxSeen;
    int generation = ++c.generation;
    long readAfter = answersSoFar();
    boolean held = c.epoch != 0; // Else the device holds no copy (or was told GONE): none to drop.
    CompletableFuture<SyncResult> read =
        node.store().read(connection.userId(), doc, c.epoch, c.version, c.fingerprint);
    ReadRetry.whenEnded(this, connection, node.stats(), doc, c, generation, attempt, read, ended);
    connection.onLoop(
        read,
        (result, err) -> {
          if (cursors.get(doc) != c || c.generation != generation) {
            return;
          }
          if (err != null) {
            ReadRetry.failed(connection, doc, attempt, err);
            return;
          }
          c.syncing = false;
          if (result.mode() == DocumentSync.Mode.GONE && held) {
            connection.sync(
                ServerFrame.newBuilder().setSyncReport(SyncResult.report(List.of(result))).build());
          }
          deliver(doc, c, result, readAfter, askedFor);
          if (c.maxSeen <= askedFor && c.version < c.maxSeen) {
            // Versions seen on the stream before this read began and not in the store: copies
            // of writes it lost (a read made after an event was seen always sees its write). They
            // will not come; reading again would only find the same.
            c.maxSeen = c.version;
          }
          catchUp(doc, c);
          connection.flush();
        });
  }

  /** Reads {@code doc} again if the stream brought more, or may have lost some, meanwhile. */
  void catchUp(String doc, Cursor c) {
    if (!c.syncing && (c.maxSeen > c.version || c.recheck) && cursors.get(doc) == c) {
      c.recheck = false;
      fetch(doc, c, c.maxSeen);
    }
  }

  /**
   * Sends the frames of one sync result and moves the cursor to its end; the read was sent after
   * mark {@code readAfter} ({@link WriteTracker#answersSoFar}) and stream version {@code
   * seenBefore}. GONE drops the cursor unless the document was written since ({@link
   * Cursor#writtenSinceGone}): then the {@link #catchUp} after this reads it at once.
   */
  void deliver(String doc, Cursor c, SyncResult r, long readAfter, long seenBefore) {
    switch (r.mode()) {
      case DELTAS -> {
        node.stats().resumesWithDeltas.increment();
        c.epoch = r.epoch();
        for (DocumentEvent e : r.deltas()) {
          if (e.version() <= c.version) {
            continue;
          }
          // As on the live path, the writer gets its ack in the delta's place.
          if (!(writes != null && writes.tracker.readFromStore(e))) {
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
      case GONE -> {
        if (!c.writtenSinceGone(seenBefore)) {
          cursors.remove(doc);
        }
      }
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
        writes.tracker.covered(doc, present, c.epoch, c.version, c.fingerprint, readAfter);
    if (unconfirmed != null) {
      unconfirmed.forEach(writes::notWhereAnswered);
    }
  }

  /**
   * The stream has not brought applied write {@code p} in time: read its document again (a read
   * sent after the answer settles the write: acked if it shows it, OUTCOME_UNKNOWN if not). The
   * stream may have lost more than this write, so every document is re-read ({@link #recheck});
   * while such a recheck is under way, only {@code p}'s document is (read once more after the read
   * under way, which may predate {@code p}'s answer): a connection's writes past their deadline at
   * once, up to its in-flight limit, send one recheck, not one each. Before the Welcome it waits
   * for it: the Welcome's resume may settle it, and what it leaves is read then.
   */
  void unacked(InFlight p) {
    if (!welcomed()) {
      writes.unackedBeforeWelcome(p); // No document's frame goes before the Welcome.
      return;
    }
    Cursor c = cursors.get(p.document);
    if (c != null) {
      if (writes.unackedRecheck == null || writes.unackedRecheck.isDone()) {
        writes.unackedRecheck = recheck();
      } else if (c.syncing) {
        c.recheck = true;
      } else {
        fetch(p.document, c, c.version);
      }
    } else if (follow.follows(p.document)) {
      fetch(p.document, track(p.document, new Cursor()), 0); // Its copy never came: none yet.
    } else {
      writes.tracker.ackNow(p.seq, p); // The stream does not bring it to this device.
      connection.flush();
    }
  }

  private void sendLiveDelta(DocumentEvent e) {
    node.stats().recordSyncLag(e.timestampMs());
    node.stats().deltasOut.increment();
    connection.replyEncoded(e.frame());
  }
}
