package io.handoff.client;

import com.google.protobuf.ByteString;
import io.handoff.protocol.v1.FieldOp;
import java.util.List;
import java.util.Map;

/**
 * One change to a document, as delivered to {@link HandoffListener#onChange}. Immutable.
 *
 * <p>For {@link Kind#DELTA} and {@link Kind#OWN_WRITE}, {@link #ops()} lists the field operations
 * in the order they were applied and {@link #fields()} is empty. For {@link Kind#SNAPSHOT}, {@link
 * #fields()} is the whole document and {@link #ops()} is empty. For {@link Kind#GONE} both are
 * empty and the version is 0.
 */
public final class DocumentChange {

  /** What kind of change this is. */
  public enum Kind {
    /** A write pushed by the server (usually from another device), applied in version order. */
    DELTA,
    /** The whole document replaced the local copy (resume beyond history, epoch change, resync). */
    SNAPSHOT,
    /** One of this client's own writes, acked and applied to the local copy. */
    OWN_WRITE,
    /** The document no longer exists; the local copy was dropped. */
    GONE
  }

  private final Kind kind;
  private final String document;
  private final long epoch;
  private final long version;
  private final List<FieldOp> ops;
  private final Map<String, ByteString> fields;
  private final String originDevice;
  private final long originSeq;
  private final long serverTimestampMs;
  private final long receivedNanos;

  private DocumentChange(
      Kind kind,
      String document,
      long epoch,
      long version,
      List<FieldOp> ops,
      Map<String, ByteString> fields,
      String originDevice,
      long originSeq,
      long serverTimestampMs,
      long receivedNanos) {
    this.kind = kind;
    this.document = document;
    this.epoch = epoch;
    this.version = version;
    this.ops = ops;
    this.fields = fields;
    this.originDevice = originDevice;
    this.originSeq = originSeq;
    this.serverTimestampMs = serverTimestampMs;
    this.receivedNanos = receivedNanos;
  }

  static DocumentChange delta(io.handoff.protocol.v1.Delta delta, long receivedNanos) {
    return new DocumentChange(
        Kind.DELTA,
        delta.getDocument(),
        delta.getEpoch(),
        delta.getVersion(),
        delta.getOpsList(),
        Map.of(),
        delta.getOriginDevice(),
        delta.getOriginSeq(),
        delta.getTimestampMs(),
        receivedNanos);
  }

  static DocumentChange snapshot(
      String document,
      long epoch,
      long version,
      Map<String, ByteString> fields,
      long receivedNanos) {
    return new DocumentChange(
        Kind.SNAPSHOT, document, epoch, version, List.of(), fields, null, 0, 0, receivedNanos);
  }

  static DocumentChange ownWrite(
      String document,
      long epoch,
      long version,
      List<FieldOp> ops,
      String deviceId,
      long clientSeq,
      long receivedNanos) {
    return new DocumentChange(
        Kind.OWN_WRITE,
        document,
        epoch,
        version,
        ops,
        Map.of(),
        deviceId,
        clientSeq,
        0,
        receivedNanos);
  }

  static DocumentChange gone(String document, long receivedNanos) {
    return new DocumentChange(
        Kind.GONE, document, 0, 0, List.of(), Map.of(), null, 0, 0, receivedNanos);
  }

  /** What kind of change this is; says which of {@link #ops()} and {@link #fields()} is used. */
  public Kind kind() {
    return kind;
  }

  /** The document's name. */
  public String document() {
    return document;
  }

  /** The epoch of the document's history this change belongs to (0 for {@link Kind#GONE}). */
  public long epoch() {
    return epoch;
  }

  /** The document's version after this change (0 for {@link Kind#GONE}). */
  public long version() {
    return version;
  }

  /** The field operations of a {@link Kind#DELTA} or {@link Kind#OWN_WRITE}; empty otherwise. */
  public List<FieldOp> ops() {
    return ops;
  }

  /**
   * The whole document for a {@link Kind#SNAPSHOT}; <b>empty for a {@link Kind#DELTA}</b> and every
   * other kind. A delta carries only what changed: read {@link #ops()}, or the document's full
   * current state from {@code client.document(change.document()).fields()}, which already includes
   * this change when the listener runs.
   */
  public Map<String, ByteString> fields() {
    return fields;
  }

  /** The device that made the write ({@link Kind#DELTA}, {@link Kind#OWN_WRITE}), or null. */
  public String originDevice() {
    return originDevice;
  }

  /** The writing device's client sequence number for the write, or 0. */
  public long originSeq() {
    return originSeq;
  }

  /** Server time the write was accepted (ms since the epoch) for a {@link Kind#DELTA}; else 0. */
  public long serverTimestampMs() {
    return serverTimestampMs;
  }

  /** {@link System#nanoTime()} when the frame carrying this change was received. */
  public long receivedNanos() {
    return receivedNanos;
  }

  @Override
  public String toString() {
    return "DocumentChange{"
        + kind
        + " "
        + document
        + " epoch="
        + Long.toUnsignedString(epoch, 16)
        + " version="
        + version
        + (kind == Kind.SNAPSHOT ? " fields=" + fields.keySet() : " ops=" + ops.size())
        + (originDevice != null && !originDevice.isEmpty()
            ? " origin=" + originDevice + "#" + originSeq
            : "")
        + "}";
  }
}
