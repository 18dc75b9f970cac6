package io.handoff.client;

import com.google.protobuf.ByteString;
import io.handoff.protocol.v1.FieldOp;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;

/**
 * A handle on one named document of the signed-in user: the client's local replica of it, and the
 * way to write to it. Obtained from {@link HandoffClient#document(String)}; one handle per name and
 * client.
 *
 * <p>Reading ({@link #epoch()}, {@link #version()}, {@link #get}, {@link #fields()}) is safe from
 * any thread and never blocks: the replica's state is an immutable snapshot replaced as a whole, so
 * the three values read from one {@link #fields()} call, or from one change event, are consistent
 * with each other. Two separate calls may see two different versions.
 *
 * <p>Writing ({@link #set}, {@link #remove}, {@link #edit()}) is safe from any thread. Each returns
 * a future that completes, on the client's event-loop thread, with the version the server assigned
 * to the write, or exceptionally with a {@link HandoffException}. The local replica changes only
 * when the server has accepted a write (it is applied when the ack arrives, if no other version
 * came in between; otherwise the server's deltas bring it). So the replica of a document this
 * client does not follow (see {@code follow}) stays at the last version it had in full once another
 * device writes it: the server pushes it no deltas. Follow a document whose replica you read, or
 * whose {@link #version()} you give to {@code expectVersion}.
 *
 * <p>Writes of one document are applied in the order they were submitted: the client sends a
 * document's next write only once the previous one is acked or given up on. A write whose
 * connection drops, or whose outcome the server reports as unknown or temporarily impossible, is
 * re-sent by the client with the same sequence number (the server applies it at most once) until it
 * is answered; its future fails only when the client gives up on it: the server refused it for good
 * ({@code CONFLICT}, {@code LIMIT_EXCEEDED}, ...), the connection closed with a terminal code, the
 * client was closed, or it was refused at once because the writes not yet acked already hold {@code
 * maxUnackedWriteBytes} ({@link HandoffException#mayHaveBeenApplied()} tells whether a failed write
 * may have been applied).
 */
public final class Document {

  /** One published state of the replica; never mutated once published. */
  static final class State {
    static final State EMPTY = new State(0, 0, Map.of());

    final long epoch;
    final long version;
    final Map<String, ByteString> fields;

    State(long epoch, long version, Map<String, ByteString> fields) {
      this.epoch = epoch;
      this.version = version;
      this.fields = fields;
    }
  }

  private final String name;
  private final SyncEngine engine;
  // Written only on the event loop, read from any thread.
  private volatile State state = State.EMPTY;
  // Event loop only: a Resync was sent for this document and its SyncReport has not arrived.
  boolean resyncInFlight;
  // Event loop only: the connection this document asked a Resync on, or took a snapshot on; the
  // answer may overlap the live stream there, so a stale delta is no fault of the server.
  Link repairedOn;
  // Event loop only: Resyncs of this document the server refused for now, in a row.
  int resyncRetries;
  // Event loop only: the server's fingerprint of version fingerprintVersion of this replica.
  private long fingerprint;
  private long fingerprintVersion;

  Document(String name, SyncEngine engine) {
    this.name = name;
    this.engine = engine;
  }

  /** Remembers the server's fingerprint of {@code version}, just applied. Event loop. */
  void fingerprint(long version, long fingerprint) {
    this.fingerprintVersion = version;
    this.fingerprint = fingerprint;
  }

  /** The fingerprint of {@code version} if known, else 0. Event loop. */
  long fingerprintAt(long version) {
    return version != 0 && version == fingerprintVersion ? fingerprint : 0;
  }

  /** The document's name. */
  public String name() {
    return name;
  }

  /** The epoch of the history the local replica belongs to; 0 when the replica is empty. */
  public long epoch() {
    return state.epoch;
  }

  /** The last version applied to the local replica; 0 when it holds nothing. */
  public long version() {
    return state.version;
  }

  /** The value of one field in the local replica, or {@code null} if it has none. */
  public ByteString get(String field) {
    return state.fields.get(field);
  }

  /** All fields of the local replica: an immutable map that later changes do not affect. */
  public Map<String, ByteString> fields() {
    return state.fields;
  }

  /** Sets one field. Same as {@code edit().set(field, value).commit()}. */
  public CompletableFuture<Long> set(String field, byte[] value) {
    return edit().set(field, value).commit();
  }

  /** Sets one field. Same as {@code edit().set(field, value).commit()}. */
  public CompletableFuture<Long> set(String field, ByteString value) {
    return edit().set(field, value).commit();
  }

  /** Removes one field. Same as {@code edit().remove(field).commit()}. */
  public CompletableFuture<Long> remove(String field) {
    return edit().remove(field).commit();
  }

  /** Starts an edit: several operations applied atomically, as one version. */
  public Edit edit() {
    return new Edit();
  }

  State state() {
    return state;
  }

  /** Applies field operations as the given version. Event loop only. */
  void apply(long epoch, long version, List<FieldOp> ops) {
    Map<String, ByteString> next = new HashMap<>(state.fields);
    for (FieldOp op : ops) {
      switch (op.getOpCase()) {
        case SET -> next.put(op.getField(), op.getSet());
        case REMOVE -> next.remove(op.getField());
        default -> {}
      }
    }
    state = new State(epoch, version, Collections.unmodifiableMap(next));
  }

  /** Replaces the whole replica. Event loop only. */
  void replace(long epoch, long version, Map<String, ByteString> fields) {
    state = new State(epoch, version, Collections.unmodifiableMap(new HashMap<>(fields)));
  }

  /** Drops the replica. Event loop only. */
  void drop() {
    state = State.EMPTY;
  }

  @Override
  public String toString() {
    State s = state;
    return "Document{"
        + name
        + " epoch="
        + Long.toUnsignedString(s.epoch, 16)
        + " version="
        + s.version
        + " fields="
        + s.fields.keySet()
        + "}";
  }

  /**
   * Several operations on this document, sent as one write and applied atomically (all or none).
   * Operations apply in the order they were added. An edit is a builder for one thread; it can be
   * committed once.
   */
  public final class Edit {
    private final List<FieldOp> ops = new ArrayList<>(2);
    private long expectedVersion = SyncEngine.NO_EXPECTED_VERSION;
    private boolean committed;

    private Edit() {}

    /** Sets a field to a copy of {@code value}. */
    public Edit set(String field, byte[] value) {
      Objects.requireNonNull(value, "value");
      return set(field, ByteString.copyFrom(value));
    }

    /** Sets a field. */
    public Edit set(String field, ByteString value) {
      Objects.requireNonNull(value, "value");
      ops.add(FieldOp.newBuilder().setField(checkField(field)).setSet(value).build());
      return this;
    }

    /** Removes a field (no-op on the server if it does not exist). */
    public Edit remove(String field) {
      ops.add(FieldOp.newBuilder().setField(checkField(field)).setRemove(true).build());
      return this;
    }

    /**
     * Makes the write conditional: the server refuses it with {@code CONFLICT} (carrying the
     * current version) unless the document is at exactly this version; 0 means "must not exist".
     */
    public Edit expectVersion(long version) {
      if (version < 0) {
        throw new IllegalArgumentException("expectVersion must be >= 0, was " + version);
      }
      this.expectedVersion = version;
      return this;
    }

    /**
     * Submits the edit. The future completes with the version the server assigned, or exceptionally
     * with a {@link HandoffException}.
     *
     * @throws IllegalStateException if the edit has no operations or was already committed
     */
    public CompletableFuture<Long> commit() {
      if (committed) {
        throw new IllegalStateException("edit already committed");
      }
      if (ops.isEmpty()) {
        throw new IllegalStateException("edit of '" + name + "' has no operations");
      }
      committed = true;
      return engine.submitWrite(Document.this, List.copyOf(ops), expectedVersion);
    }

    private String checkField(String field) {
      if (field == null || field.isEmpty()) {
        throw new IllegalArgumentException("field name must not be empty");
      }
      return field;
    }
  }
}
