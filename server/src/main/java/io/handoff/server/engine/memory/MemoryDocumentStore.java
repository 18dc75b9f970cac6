package io.handoff.server.engine.memory;

import com.google.protobuf.ByteString;
import io.handoff.protocol.v1.DocumentSync;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.FieldOp;
import io.handoff.protocol.v1.Position;
import io.handoff.protocol.v1.Write;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.sync.Broker;
import io.handoff.server.sync.DocumentEvent;
import io.handoff.server.sync.DocumentStore;
import io.handoff.server.sync.DocumentTag;
import io.handoff.server.sync.Fingerprint;
import io.handoff.server.sync.FollowFilter;
import io.handoff.server.sync.SyncResult;
import io.handoff.server.sync.WriteOutcome;
import io.handoff.server.sync.WriteValidator;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Instant;
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
      UserState user = users.get(userId);
      if (user == null) {
        user = users.computeIfAbsent(userId, k -> new UserState());
      }
      synchronized (user) {
        if (user.removed) {
          continue; // Erased or expired after we found it: start a new state.
        }
        return writeLocked(user, userId, deviceId, w);
      }
    }
  }

  private CompletableFuture<WriteOutcome> writeLocked(
      UserState user, String userId, String deviceId, Write w) {
    long now = clock.millis();
    long idle = limits.idleTtl().toMillis();
    int max = limits.maxWritingDevicesPerUser();
    // No record of the device's writes (none yet, or it expired): a refusal covers this send only.
    boolean unrecorded = user.devices.get(deviceId) == null;
    DeviceSeqs device = user.devices.admit(deviceId, max, limits.seqWindow(), now, idle);
    if (device == null) {
      return CompletableFuture.completedFuture(user.devices.full(max, idle).withoutWriteRecord());
    }
    long seq = w.getClientSeq();
    String name = w.getDocument();
    long tag = DocumentTag.of(name);
    // A number remembered for another document answers with a refusal, and changes nothing.
    WriteOutcome prior = device.outcomes.duplicateOf(seq, tag);
    if (prior != null) {
      return CompletableFuture.completedFuture(prior);
    }
    if (seq <= device.outcomes.forgottenUpTo()) {
      return CompletableFuture.completedFuture(WriteOutcome.staleSequence(seq));
    }
    DeviceSeqs.LastSeq last = device.lastByDocument.get(name);
    long docLast = last == null ? 0 : last.seq;
    WriteOutcome outcome;
    if (last != null && seq < docLast) {
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
    device.record(seq, tag, outcome, now);
    if (unrecorded) {
      outcome = outcome.withoutWriteRecord(); // Recorded without: a re-send finds the record.
    }
    // Only a write the store records keeps the user's state, as only such a write refreshes keys'
    // TTLs on Redis: a re-send answered from the record, a stale number, and a write of a device
    // refused for want of room for its record (which Redis never refuses) touch nothing there.
    user.lastWrite = now;
    if (last != null) {
      last.seq = Math.max(docLast, seq); // Changed in place: no new object per write.
    } else if (user.docs.containsKey(name)) {
      device.lastByDocument.put(name, new DeviceSeqs.LastSeq(seq));
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
    List<FieldOp> ops = w.getOpsList();
    String[] keys;
    ByteString[] values;
    if (ops.size() == 1) {
      FieldOp op = ops.get(0);
      keys = new String[] {op.getField()};
      values = new ByteString[] {op.getOpCase() == FieldOp.OpCase.SET ? op.getSet() : null};
    } else {
      Map<String, ByteString> effects = new LinkedHashMap<>();
      for (FieldOp op : ops) {
        effects.put(op.getField(), op.getOpCase() == FieldOp.OpCase.SET ? op.getSet() : null);
      }
      keys = effects.keySet().toArray(new String[0]);
      values = effects.values().toArray(new ByteString[0]);
    }
    Map<String, FieldValue> fields = doc == null ? Map.of() : doc.fields;
    long bytes = doc == null ? 0 : doc.bytes;
    int count = fields.size();
    for (int i = 0; i < keys.length; i++) {
      FieldValue old = fields.get(keys[i]);
      int keyBytes = WriteValidator.utf8Length(keys[i]);
      if (old != null) {
        bytes -= keyBytes + old.length();
        count--;
      }
      if (values[i] != null) {
        bytes += keyBytes + values[i].size();
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
      doc = new Doc(name, newEpoch());
      user.docs.put(name, doc);
    }
    for (int i = 0; i < keys.length; i++) {
      if (values[i] == null) {
        doc.fields.remove(keys[i]);
      } else {
        FieldValue v = doc.fields.get(keys[i]);
        if (v == null) {
          doc.fields.put(keys[i], new FieldValue(values[i]));
        } else {
          v.set(values[i]); // In place when it fits: nothing new stored into the old map.
        }
      }
    }
    doc.bytes = bytes;
    doc.version++;
    long now = clock.millis();
    doc.lastWrite = now;
    // The push frame is encoded once, straight from the write's ops, and fingerprinted as encoded.
    DocumentEvent event =
        DocumentEvent.accepted(
            userId,
            doc.name,
            ops,
            deviceId,
            w.getClientSeq(),
            now,
            doc.epoch,
            doc.version,
            doc.fingerprint);
    doc.fingerprint = event.fingerprint();
    doc.history.add(doc.version, now, event.frame());
    trimHistory(doc, now);
    broker.publish(event);
    return WriteOutcome.applied(doc.epoch, doc.version, doc.fingerprint, false);
  }

  private void trimHistory(Doc doc, long now) {
    doc.history.trim(limits.historyLength(), now - limits.historyMaxAge().toMillis());
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
          readLocked(user, userId, document, epoch, version, fingerprint));
    }
  }

  private SyncResult readLocked(
      UserState user, String userId, String name, long epoch, long version, long fingerprint) {
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
      History history = doc.history;
      reason = DocumentSync.Reason.HISTORY_TRIMMED;
      if (!history.isEmpty() && history.firstVersion() <= version + 1) {
        List<DocumentEvent> deltas = new ArrayList<>((int) (doc.version - version));
        for (long v = Math.max(version + 1, history.firstVersion());
            v <= history.lastVersion();
            v++) {
          deltas.add(DocumentEvent.ofFrame(userId, doc.name, history.frame(v)));
        }
        if (!SyncResult.divergedAt(fingerprint, deltas)) {
          return SyncResult.deltas(name, doc.epoch, version, deltas);
        }
        reason = DocumentSync.Reason.DIVERGED;
      }
    }
    return SyncResult.snapshot(
        name, doc.epoch, doc.version, doc.fieldsCopy(), doc.fingerprint, reason);
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
          results.add(readLocked(user, userId, name, 0, 0, Fingerprint.UNKNOWN));
        }
      }
      for (Position p : byName.values()) {
        results.add(
            readLocked(
                user, userId, p.getDocument(), p.getEpoch(), p.getVersion(), p.getFingerprint()));
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
      return CompletableFuture.completedFuture(user.devices.lastClientSeq(deviceId));
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
   * Drops every document whose last applied write is {@link StoreLimits#idleTtl()} old or older,
   * every device's record of writes whose last recorded write (applied or refused by the store) is,
   * and every user whose last recorded write is, as the Redis engine's key TTLs do (each document's
   * keys on its own; a device's records with any write of the device that the store records). A
   * write answered without being recorded (a re-send of a remembered one, a stale number, a device
   * refused for want of room for its record) keeps nothing. The engine runs it periodically.
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
        } else {
          user.devices.expire(now, idle);
          if (user.docs.values().removeIf(d -> now - d.lastWrite >= idle)) {
            user.devices.keepOrderOf(user.docs.keySet());
          }
        }
      }
    }
    return CompletableFuture.completedFuture(null);
  }

  /** Users with any state held, for tests of boundedness. */
  int users() {
    return users.size();
  }

  /** The records of the highest client_seq per device and document held for a user, for tests. */
  int orderRecords(String userId) {
    UserState user = users.get(userId);
    if (user == null) {
      return 0;
    }
    synchronized (user) {
      return user.devices.orderRecords();
    }
  }

  /** The devices of a user that have a record of their writes, for tests. */
  int writingDevices(String userId) {
    UserState user = users.get(userId);
    if (user == null) {
      return 0;
    }
    synchronized (user) {
      return user.devices.size();
    }
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
      return user.copy();
    }
  }

  /** Puts back a {@link #backup} of one user, replacing what the store holds of that user now. */
  public void restore(String userId, Object backup) {
    UserState copy = ((UserState) backup).copy();
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

  /** One user's documents and per-device write records; guarded by its own monitor. */
  private static final class UserState {
    final HashMap<String, Doc> docs = new HashMap<>();
    final DeviceRecords devices;
    // When the store last recorded a write of the user: the state goes the idle TTL after it.
    long lastWrite;
    // Set once the state was erased or expired; a writer that finds it starts a new one.
    boolean removed;

    UserState() {
      this(new DeviceRecords());
    }

    private UserState(DeviceRecords devices) {
      this.devices = devices;
    }

    UserState copy() {
      UserState c = new UserState(devices.copy());
      docs.forEach((name, d) -> c.docs.put(name, d.copy()));
      c.lastWrite = lastWrite;
      return c;
    }
  }

  /** One document: its fields, version, epoch and recent deltas. */
  private static final class Doc {
    // The name as first written: every event of the document shares this one String, so history
    // does not keep a copy per write.
    final String name;
    final long epoch;
    long version;
    long bytes;
    long fingerprint;
    // When the last write was applied: the document is dropped the idle TTL after it.
    long lastWrite;
    final HashMap<String, FieldValue> fields = new HashMap<>();
    // The recent versions' push frames (see History).
    final History history;

    Doc(String name, long epoch) {
      this(name, epoch, new History());
    }

    private Doc(String name, long epoch, History history) {
      this.name = name;
      this.epoch = epoch;
      this.history = history;
    }

    Doc copy() {
      Doc c = new Doc(name, epoch, history.copy());
      c.version = version;
      c.bytes = bytes;
      c.fingerprint = fingerprint;
      c.lastWrite = lastWrite;
      fields.forEach((k, v) -> c.fields.put(k, new FieldValue(v)));
      return c;
    }

    /** The fields as a snapshot carries them: copies, since the values change in place. */
    Map<String, ByteString> fieldsCopy() {
      Map<String, ByteString> copy = new HashMap<>(fields.size() * 2);
      fields.forEach((k, v) -> copy.put(k, v.toByteString()));
      return copy;
    }
  }
}
