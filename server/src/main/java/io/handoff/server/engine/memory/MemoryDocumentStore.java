package io.handoff.server.engine.memory;

import com.google.protobuf.ByteString;
import io.handoff.protocol.v1.Delta;
import io.handoff.protocol.v1.DocumentSync;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.FieldOp;
import io.handoff.protocol.v1.Position;
import io.handoff.protocol.v1.Write;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.sync.Broker;
import io.handoff.server.sync.DocumentEvent;
import io.handoff.server.sync.DocumentStore;
import io.handoff.server.sync.Fingerprint;
import io.handoff.server.sync.FollowFilter;
import io.handoff.server.sync.SyncResult;
import io.handoff.server.sync.WriteOutcome;
import io.handoff.server.sync.WriteValidator;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;

/**
 * {@link DocumentStore} in this process's memory. Each user's state is guarded by that user's
 * monitor: writes of one user are serialised (and published to the broker while holding it, which
 * gives the broker version order), different users never contend. Futures are returned completed. A
 * user's state not written for {@link StoreLimits#idleTtl()} is dropped by {@link #sweep}.
 */
public final class MemoryDocumentStore implements DocumentStore {
  private final StoreLimits limits;
  private final Broker broker;
  private final Clock clock;
  private final SecureRandom random = new SecureRandom();
  private final ConcurrentHashMap<String, UserState> users = new ConcurrentHashMap<>();

  public MemoryDocumentStore(StoreLimits limits, Broker broker, Clock clock) {
    this.limits = limits;
    this.broker = broker;
    this.clock = clock;
  }

  @Override
  public CompletableFuture<WriteOutcome> write(String userId, String deviceId, Write w) {
    while (true) {
      UserState user = users.computeIfAbsent(userId, k -> new UserState(limits));
      synchronized (user) {
        if (user.removed) {
          continue; // Erased or expired after we found it: start a new state.
        }
        user.lastWrite = clock.millis();
        return writeLocked(user, userId, deviceId, w);
      }
    }
  }

  private CompletableFuture<WriteOutcome> writeLocked(
      UserState user, String userId, String deviceId, Write w) {
    DeviceSeqs device = user.device(deviceId);
    long seq = w.getClientSeq();
    WriteOutcome prior = device.outcomes.get(seq);
    if (prior != null) {
      return CompletableFuture.completedFuture(prior.asDuplicate());
    }
    if (seq <= device.forgottenUpTo) {
      return CompletableFuture.completedFuture(
          WriteOutcome.refused(
              ErrorCode.STALE_SEQUENCE,
              "client_seq "
                  + seq
                  + " is older than the last "
                  + limits.seqWindow()
                  + " writes remembered for this device; it was handled long ago",
              0,
              0));
    }
    String name = w.getDocument();
    Long docLast = device.lastByDocument.get(name);
    WriteOutcome outcome;
    if (docLast != null && seq < docLast) {
      Doc doc = user.docs.get(name);
      outcome =
          WriteOutcome.refused(
              ErrorCode.OUT_OF_ORDER,
              "client_seq "
                  + seq
                  + " is older than client_seq "
                  + docLast
                  + " of this device, already handled for '"
                  + name
                  + "'; applying it now would undo a newer write, so it was not applied",
              doc == null ? 0 : doc.epoch,
              doc == null ? 0 : doc.version);
    } else {
      outcome = apply(user, userId, deviceId, w);
    }
    device.record(seq, outcome, limits.seqWindow());
    if (user.docs.containsKey(name) && (docLast == null || seq > docLast)) {
      device.lastByDocument.put(name, seq);
    }
    return CompletableFuture.completedFuture(outcome);
  }

  private WriteOutcome apply(UserState user, String userId, String deviceId, Write w) {
    String name = w.getDocument();
    Doc doc = user.docs.get(name);
    long current = doc == null ? 0 : doc.version;
    long epoch = doc == null ? 0 : doc.epoch;
    if (w.hasExpectedVersion() && w.getExpectedVersion() != current) {
      return WriteOutcome.refused(
          ErrorCode.CONFLICT,
          "expected version "
              + w.getExpectedVersion()
              + " but document '"
              + name
              + "' is at "
              + current,
          epoch,
          current);
    }
    if (doc == null && user.docs.size() >= limits.maxDocumentsPerUser()) {
      return WriteOutcome.refused(
          ErrorCode.LIMIT_EXCEEDED,
          "user has "
              + user.docs.size()
              + " documents; the limit is "
              + limits.maxDocumentsPerUser(),
          0,
          0);
    }
    // The last operation on each field decides its value; size the result before changing anything.
    Map<String, ByteString> effects = new LinkedHashMap<>();
    for (FieldOp op : w.getOpsList()) {
      effects.put(op.getField(), op.getOpCase() == FieldOp.OpCase.SET ? op.getSet() : null);
    }
    Map<String, ByteString> fields = doc == null ? Map.of() : doc.fields;
    long bytes = doc == null ? 0 : doc.bytes;
    int count = fields.size();
    for (Map.Entry<String, ByteString> e : effects.entrySet()) {
      ByteString old = fields.get(e.getKey());
      int keyBytes = WriteValidator.utf8Length(e.getKey());
      if (old != null) {
        bytes -= keyBytes + old.size();
        count--;
      }
      if (e.getValue() != null) {
        bytes += keyBytes + e.getValue().size();
        count++;
      }
    }
    if (count > limits.maxFieldsPerDocument()) {
      return WriteOutcome.refused(
          ErrorCode.LIMIT_EXCEEDED,
          "document '"
              + name
              + "' would have "
              + count
              + " fields; the limit is "
              + limits.maxFieldsPerDocument(),
          epoch,
          current);
    }
    if (bytes > limits.maxDocumentBytes()) {
      return WriteOutcome.refused(
          ErrorCode.LIMIT_EXCEEDED,
          "document '"
              + name
              + "' would be "
              + bytes
              + " bytes; the limit is "
              + limits.maxDocumentBytes(),
          epoch,
          current);
    }
    if (doc == null) {
      doc = new Doc(newEpoch());
      user.docs.put(name, doc);
    }
    for (Map.Entry<String, ByteString> e : effects.entrySet()) {
      if (e.getValue() == null) {
        doc.fields.remove(e.getKey());
      } else {
        doc.fields.put(e.getKey(), e.getValue());
      }
    }
    doc.bytes = bytes;
    doc.version++;
    long now = clock.millis();
    Delta body =
        Delta.newBuilder()
            .setDocument(name)
            .addAllOps(w.getOpsList())
            .setOriginDevice(deviceId)
            .setOriginSeq(w.getClientSeq())
            .setTimestampMs(now)
            .build();
    long previous = doc.fingerprint;
    doc.fingerprint = Fingerprint.next(previous, body.toByteArray());
    Delta delta =
        body.toBuilder()
            .setEpoch(doc.epoch)
            .setVersion(doc.version)
            .setFingerprint(doc.fingerprint)
            .setPreviousFingerprint(previous)
            .build();
    DocumentEvent event = new DocumentEvent(userId, delta);
    doc.history.addLast(event);
    trimHistory(doc, now);
    broker.publish(event);
    return WriteOutcome.applied(doc.epoch, doc.version, doc.fingerprint, false);
  }

  private void trimHistory(Doc doc, long now) {
    long oldest = now - limits.historyMaxAge().toMillis();
    while (!doc.history.isEmpty()
        && (doc.history.size() > limits.historyLength()
            || doc.history.peekFirst().delta().getTimestampMs() < oldest)) {
      doc.history.removeFirst();
    }
  }

  private long newEpoch() {
    long e;
    do {
      e = random.nextLong();
    } while (e == 0);
    return e;
  }

  @Override
  public CompletableFuture<SyncResult> read(
      String userId, String document, long epoch, long version, long fingerprint) {
    UserState user = users.get(userId);
    if (user == null) {
      return CompletableFuture.completedFuture(SyncResult.gone(document));
    }
    synchronized (user) {
      return CompletableFuture.completedFuture(
          readLocked(user, document, epoch, version, fingerprint));
    }
  }

  private SyncResult readLocked(
      UserState user, String name, long epoch, long version, long fingerprint) {
    Doc doc = user.docs.get(name);
    if (doc == null) {
      return SyncResult.gone(name);
    }
    trimHistory(doc, clock.millis());
    DocumentSync.Reason reason =
        SyncResult.snapshotReason(
            epoch, version, fingerprint, doc.epoch, doc.version, doc.fingerprint);
    if (reason == null) {
      if (version == doc.version) {
        return SyncResult.upToDate(name, doc.epoch, doc.version, doc.fingerprint);
      }
      DocumentEvent first = doc.history.peekFirst();
      reason = DocumentSync.Reason.HISTORY_TRIMMED;
      if (first != null && first.version() <= version + 1) {
        List<DocumentEvent> deltas = new ArrayList<>((int) (doc.version - version));
        for (DocumentEvent e : doc.history) {
          if (e.version() > version) {
            deltas.add(e);
          }
        }
        if (!SyncResult.divergedAt(fingerprint, deltas)) {
          return SyncResult.deltas(name, doc.epoch, version, deltas);
        }
        reason = DocumentSync.Reason.DIVERGED;
      }
    }
    return SyncResult.snapshot(name, doc.epoch, doc.version, doc.fields, doc.fingerprint, reason);
  }

  @Override
  public CompletableFuture<List<SyncResult>> sync(
      String userId, FollowFilter filter, Collection<Position> positions) {
    UserState user = users.get(userId);
    List<SyncResult> results = new ArrayList<>();
    Map<String, Position> byName = new HashMap<>();
    for (Position p : positions) {
      if (filter.follows(p.getDocument())) {
        byName.put(p.getDocument(), p);
      }
    }
    if (user == null) {
      byName.keySet().forEach(name -> results.add(SyncResult.gone(name)));
      return CompletableFuture.completedFuture(results);
    }
    synchronized (user) {
      for (String name : user.docs.keySet()) {
        if (filter.follows(name) && !byName.containsKey(name)) {
          results.add(readLocked(user, name, 0, 0, Fingerprint.UNKNOWN));
        }
      }
      for (Position p : byName.values()) {
        results.add(
            readLocked(user, p.getDocument(), p.getEpoch(), p.getVersion(), p.getFingerprint()));
      }
    }
    return CompletableFuture.completedFuture(results);
  }

  @Override
  public CompletableFuture<java.util.Set<String>> documents(String userId) {
    UserState user = users.get(userId);
    if (user == null) {
      return CompletableFuture.completedFuture(java.util.Set.of());
    }
    synchronized (user) {
      return CompletableFuture.completedFuture(java.util.Set.copyOf(user.docs.keySet()));
    }
  }

  @Override
  public CompletableFuture<Long> lastClientSeq(String userId, String deviceId) {
    UserState user = users.get(userId);
    if (user == null) {
      return CompletableFuture.completedFuture(0L);
    }
    synchronized (user) {
      DeviceSeqs d = user.devices.get(deviceId);
      return CompletableFuture.completedFuture(d == null ? 0L : d.last);
    }
  }

  @Override
  public CompletableFuture<Void> erase(String userId) {
    UserState user = users.get(userId);
    if (user != null) {
      synchronized (user) {
        user.removed = true;
        users.remove(userId, user);
      }
    }
    return CompletableFuture.completedFuture(null);
  }

  /**
   * Drops every user whose last write is {@link StoreLimits#idleTtl()} old or older, as the Redis
   * engine's key TTLs do. The engine runs it periodically.
   */
  @Override
  public CompletableFuture<Void> sweep(Instant at) {
    long now = at.toEpochMilli();
    long idle = limits.idleTtl().toMillis();
    for (Map.Entry<String, UserState> e : users.entrySet()) {
      UserState user = e.getValue();
      synchronized (user) {
        if (now - user.lastWrite >= idle) {
          user.removed = true;
          users.remove(e.getKey(), user);
        }
      }
    }
    return CompletableFuture.completedFuture(null);
  }

  /** Users with any state held, for tests of boundedness. */
  int users() {
    return users.size();
  }

  /** Whether any state of the user is held, for tests of erasure. */
  boolean holds(String userId) {
    return users.containsKey(userId);
  }

  /**
   * A copy of everything the store holds of one user (documents, histories, write outcomes), or
   * null if nothing. With {@link #restore} it does to one user what restoring a backup does to a
   * whole store: for tests of lost history.
   */
  public Object backup(String userId) {
    UserState user = users.get(userId);
    if (user == null) {
      return null;
    }
    synchronized (user) {
      return user.copy(limits);
    }
  }

  /** Puts back a {@link #backup} of one user, replacing what the store holds of that user now. */
  public void restore(String userId, Object backup) {
    UserState copy = ((UserState) backup).copy(limits);
    UserState old = users.put(userId, copy);
    if (old != null) {
      synchronized (old) {
        old.removed = true;
      }
    }
  }

  @Override
  public void close() {
    users.clear();
  }

  /** One user's documents and per-device write sequences; guarded by its own monitor. */
  private static final class UserState {
    final HashMap<String, Doc> docs = new HashMap<>();
    final LinkedHashMap<String, DeviceSeqs> devices;
    long lastWrite;
    // Set once the state was erased or expired; a writer that finds it starts a new one.
    boolean removed;

    UserState(StoreLimits limits) {
      int max = limits.maxDevicesPerUser();
      this.devices =
          new LinkedHashMap<>(16, 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<String, DeviceSeqs> eldest) {
              return size() > max;
            }
          };
    }

    DeviceSeqs device(String deviceId) {
      return devices.computeIfAbsent(deviceId, k -> new DeviceSeqs());
    }

    UserState copy(StoreLimits limits) {
      UserState c = new UserState(limits);
      docs.forEach((name, d) -> c.docs.put(name, d.copy()));
      devices.forEach((id, d) -> c.devices.put(id, d.copy()));
      c.lastWrite = lastWrite;
      return c;
    }
  }

  /** The outcomes of one device's recent writes, by client_seq. */
  private static final class DeviceSeqs {
    final LinkedHashMap<Long, WriteOutcome> outcomes = new LinkedHashMap<>();
    // The highest client_seq handled per existing document: older writes are OUT_OF_ORDER. At
    // most one entry per document of the user.
    final HashMap<String, Long> lastByDocument = new HashMap<>();
    long last;
    // Every client_seq at or below this one was evicted from outcomes (or never seen).
    long forgottenUpTo;

    DeviceSeqs copy() {
      DeviceSeqs c = new DeviceSeqs();
      c.outcomes.putAll(outcomes);
      c.lastByDocument.putAll(lastByDocument);
      c.last = last;
      c.forgottenUpTo = forgottenUpTo;
      return c;
    }

    void record(long seq, WriteOutcome outcome, int window) {
      outcomes.put(seq, outcome);
      last = Math.max(last, seq);
      while (outcomes.size() > window) {
        Map.Entry<Long, WriteOutcome> eldest = outcomes.entrySet().iterator().next();
        forgottenUpTo = Math.max(forgottenUpTo, eldest.getKey());
        outcomes.remove(eldest.getKey());
      }
    }
  }

  /** One document: its fields, version, epoch and recent deltas. */
  private static final class Doc {
    final long epoch;
    long version;
    long bytes;
    long fingerprint;
    final HashMap<String, ByteString> fields = new HashMap<>();
    final ArrayDeque<DocumentEvent> history = new ArrayDeque<>();

    Doc(long epoch) {
      this.epoch = epoch;
    }

    Doc copy() {
      Doc c = new Doc(epoch);
      c.version = version;
      c.bytes = bytes;
      c.fingerprint = fingerprint;
      c.fields.putAll(fields);
      c.history.addAll(history);
      return c;
    }
  }
}
