package io.handoff.client;

import io.handoff.protocol.v1.Ack;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.Delta;
import io.handoff.protocol.v1.DocumentSync;
import io.handoff.protocol.v1.Error;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.Position;
import io.handoff.protocol.v1.Resync;
import io.handoff.protocol.v1.Snapshot;
import io.handoff.protocol.v1.SyncReport;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.function.Consumer;

/**
 * The client's local replicas of documents and the frames that move them: Deltas applied in order,
 * Snapshots that replace a replica, and the Acks of the device's own writes. A gap, another history
 * or a divergence (fingerprints that differ) asks the server to Resync the document from the
 * replica's position, once at a time; a Resync refused for now is sent again after a growing wait.
 * Also tells the listeners when everything the Welcome's report announced has arrived.
 *
 * <p>The map of documents is read from any thread ({@link #document}, {@link #lastVersion}); the
 * rest is event loop only, as in {@link SyncEngine}.
 */
final class Replicas {
  private final ConcurrentMap<String, Document> documents = new ConcurrentHashMap<>();
  private final SyncEngine engine;
  private final WriteQueue writes;
  private final Listeners listeners;
  private final Scheduler scheduler;
  private final Backoff backoff;
  private final long retryMaxNanos;

  Replicas(
      SyncEngine engine,
      WriteQueue writes,
      Listeners listeners,
      Scheduler scheduler,
      Backoff backoff,
      long retryMaxNanos) {
    this.engine = engine;
    this.writes = writes;
    this.listeners = listeners;
    this.scheduler = scheduler;
    this.backoff = backoff;
    this.retryMaxNanos = retryMaxNanos;
  }

  /** The handle for a document, created (empty) on first use. Any thread. */
  Document document(String name) {
    return documents.computeIfAbsent(name, n -> new Document(n, engine));
  }

  /** The last version applied to a document's replica, 0 if none. Any thread. */
  long lastVersion(String name) {
    Document d = documents.get(name);
    return d == null ? 0 : d.version();
  }

  /**
   * Gives the position of every replica that has a version to {@code to} (a Hello's, a Follow's).
   */
  void positions(Consumer<Position> to) {
    for (Document d : documents.values()) {
      Document.State s = d.state();
      if (s.version > 0) {
        to.accept(position(d, s));
      }
    }
  }

  /** The connection ended: no Resync of it is under way any more. */
  void connectionLost() {
    for (Document d : documents.values()) {
      d.resyncInFlight = false;
    }
  }

  /**
   * The Welcome of {@code l}: remembers the documents its report says will be brought up to date,
   * and takes the report.
   */
  void welcomed(Link l, SyncReport report, long now) {
    for (DocumentSync sync : report.getDocumentsList()) {
      DocumentSync.Mode mode = sync.getMode();
      if (mode == DocumentSync.Mode.DELTAS || mode == DocumentSync.Mode.SNAPSHOT) {
        Document.State s = document(sync.getDocument()).state();
        if (s.epoch != sync.getEpoch() || s.version < sync.getToVersion()) {
          l.catchingUp.put(sync.getDocument(), sync);
        }
      }
    }
    onSyncReport(l, report, now);
  }

  /** A document's replica changed: is it where the Welcome said it would be brought? */
  private void caughtUp(Link l, Document d) {
    if (l.catchingUp.isEmpty()) {
      return;
    }
    DocumentSync target = l.catchingUp.get(d.name());
    if (target != null) {
      Document.State s = d.state();
      if (s.epoch == target.getEpoch() && s.version >= target.getToVersion()) {
        l.catchingUp.remove(d.name());
        checkSynced(l);
      }
    }
  }

  /** Tells the listeners once per connection when everything in its Welcome's report arrived. */
  void checkSynced(Link l) {
    if (l.synced || !l.welcomed || !l.catchingUp.isEmpty() || !l.isCurrent()) {
      return;
    }
    l.synced = true;
    listeners.synced();
  }

  void onSyncReport(Link l, SyncReport report, long now) {
    for (DocumentSync sync : report.getDocumentsList()) {
      Document d = document(sync.getDocument());
      d.resyncInFlight = false;
      d.resyncRetries = 0;
      if (sync.getMode() == DocumentSync.Mode.GONE) {
        d.drop();
        listeners.changed(DocumentChange.gone(d.name(), now));
        if (l.catchingUp.remove(d.name()) != null) {
          checkSynced(l);
        }
      }
    }
  }

  void onDelta(Link l, Delta delta, long now) {
    Document d = document(delta.getDocument());
    Document.State s = d.state();
    if (s.version > 0 && delta.getEpoch() != s.epoch) {
      requestResync(l, d, s);
      return;
    }
    if (diverged(d, s, delta)) {
      requestResync(l, d, s);
      return;
    }
    if (delta.getVersion() <= s.version || delta.getVersion() != s.version + 1) {
      String me = engine.deviceId();
      if (l.synced
          && d.repairedOn != l
          && !d.resyncInFlight
          && !delta.getOriginDevice().equals(me)
          && !listeners.isEmpty()) {
        listeners.deltaOutOfTurn(d.name(), s.version, delta.getVersion());
      }
      if (delta.getVersion() > s.version) {
        requestResync(l, d, s);
      }
      return;
    }
    d.apply(delta.getEpoch(), delta.getVersion(), delta.getOpsList());
    d.fingerprint(delta.getVersion(), delta.getFingerprint());
    if (!listeners.isEmpty()) {
      listeners.changed(DocumentChange.delta(delta, now));
    }
    caughtUp(l, d);
    String me = engine.deviceId();
    // With durable acks the own Delta comes before the replicas confirmed the write: only the Ack
    // settles it.
    if (!l.durableAcks && me != null && me.equals(delta.getOriginDevice())) {
      PendingWrite w = writes.applied(delta.getOriginSeq(), d);
      if (w != null) {
        w.future.complete(delta.getVersion());
        writes.pump();
      }
    }
  }

  /**
   * Replaces the replica, unless the snapshot is not newer than it on the same history: one older
   * than the replica (a read the server made before versions this device has since received) is not
   * applied, and the replica asks again from its own position, which the server answers with
   * deltas, or with a DIVERGED snapshot if it really lost those versions; one at the replica's own
   * version and fingerprint changes nothing. A DIVERGED snapshot always applies.
   */
  void onSnapshot(Link l, Snapshot snapshot, long now) {
    Document d = document(snapshot.getDocument());
    d.repairedOn = l;
    Document.State s = d.state();
    if (s.version > 0
        && snapshot.getEpoch() == s.epoch
        && snapshot.getReason() != DocumentSync.Reason.DIVERGED
        && snapshot.getVersion() <= s.version) {
      d.resyncInFlight = false;
      if (snapshot.getVersion() < s.version) {
        requestResync(l, d, s);
        return;
      }
      long mine = d.fingerprintAt(s.version);
      long theirs = snapshot.getFingerprint();
      if (mine == 0 || theirs == 0 || mine == theirs) {
        caughtUp(l, d);
        return;
      }
    }
    d.replace(snapshot.getEpoch(), snapshot.getVersion(), snapshot.getFieldsMap());
    d.fingerprint(snapshot.getVersion(), snapshot.getFingerprint());
    d.resyncInFlight = false;
    Document.State applied = d.state();
    listeners.changed(
        DocumentChange.snapshot(d.name(), applied.epoch, applied.version, applied.fields, now));
    caughtUp(l, d);
  }

  void onAck(Ack ack, long now) {
    PendingWrite w = writes.applied(ack.getClientSeq(), null);
    if (w == null) {
      return;
    }
    Document d = w.document;
    Document.State s = d.state();
    boolean contiguous =
        ack.getVersion() == s.version + 1 && (s.version == 0 || s.epoch == ack.getEpoch());
    // Not contiguous: either the replica already has this version (a delta or snapshot brought
    // it), or versions are missing in between, and the server pushes those deltas, this write's
    // included, by itself. Applying the ops out of order would corrupt the replica.
    if (contiguous) {
      d.apply(ack.getEpoch(), ack.getVersion(), w.ops);
      d.fingerprint(ack.getVersion(), ack.getFingerprint());
      if (!listeners.isEmpty()) {
        listeners.changed(
            DocumentChange.ownWrite(
                d.name(), ack.getEpoch(), ack.getVersion(), w.ops, engine.deviceId(), w.seq, now));
      }
    }
    w.future.complete(ack.getVersion());
    writes.pump();
  }

  /**
   * A Resync the server refused for now (over its rate, or too many waiting on the connection; the
   * error names the document): sent again after a short wait, or the document would stay behind
   * until the next reconnect. True if {@code error} was that.
   */
  boolean resyncRefused(Link l, Error error) {
    ErrorCode code = error.getCode();
    if (error.getClientSeq() != 0
        || error.getDocument().isEmpty()
        || (code != ErrorCode.RATE_LIMITED && code != ErrorCode.TOO_MANY_IN_FLIGHT)) {
      return false;
    }
    Document d = documents.get(error.getDocument());
    if (d == null || !d.resyncInFlight) {
      return false;
    }
    d.resyncInFlight = false;
    d.resyncRetries++;
    scheduler.schedule(
        () -> {
          if (l.isCurrent() && l.welcomed && !d.resyncInFlight) {
            requestResync(l, d, d.state());
          }
        },
        backoff.delayNanos(d.resyncRetries, retryMaxNanos) + 50_000_000L);
    return true;
  }

  private void requestResync(Link l, Document d, Document.State s) {
    if (d.resyncInFlight) {
      return;
    }
    d.resyncInFlight = true;
    d.repairedOn = l;
    l.channel.send(
        ClientFrame.newBuilder()
            .setResync(Resync.newBuilder().addPositions(position(d, s)))
            .build());
  }

  private static Position position(Document d, Document.State s) {
    return Position.newBuilder()
        .setDocument(d.name())
        .setEpoch(s.epoch)
        .setVersion(s.version)
        .setFingerprint(d.fingerprintAt(s.version))
        .build();
  }

  /**
   * True when {@code delta} shows that the server's history of the document is not the one this
   * replica holds: the server gave this replica's version, or wrote the next one on top of, another
   * write (it lost history in a failover). The replica must then Resync from its position, which
   * the server answers with a snapshot. Unknown fingerprints (0) never count as a difference.
   */
  private static boolean diverged(Document d, Document.State s, Delta delta) {
    long mine = d.fingerprintAt(s.version);
    if (mine == 0 || s.version == 0 || delta.getEpoch() != s.epoch) {
      return false;
    }
    long theirs =
        delta.getVersion() == s.version
            ? delta.getFingerprint()
            : delta.getVersion() == s.version + 1 ? delta.getPreviousFingerprint() : 0;
    return theirs != 0 && theirs != mine;
  }
}
