package io.handoff.server.sync;

import com.google.protobuf.ByteString;
import io.handoff.protocol.v1.DocumentSync;
import io.handoff.protocol.v1.SyncReport;
import java.util.List;
import java.util.Map;

/**
 * What a device needs to bring one document up to date from a position: nothing, the deltas after
 * it, a snapshot, or word that the document is gone. Immutable.
 *
 * @param document the document name
 * @param mode UP_TO_DATE, DELTAS, SNAPSHOT or GONE
 * @param epoch the document's current epoch (0 when gone)
 * @param fromVersion the version the deltas start after (the position's version); 0 for snapshots
 * @param toVersion the version the device is at once it applied this result
 * @param deltas the deltas, in version order, for DELTAS; empty otherwise
 * @param fields the whole document, for SNAPSHOT; empty otherwise
 * @param fingerprint the {@link Fingerprint} of {@code toVersion} (0: unknown)
 * @param reason for SNAPSHOT, why; REASON_UNSPECIFIED otherwise
 */
public record SyncResult(
    String document,
    DocumentSync.Mode mode,
    long epoch,
    long fromVersion,
    long toVersion,
    List<DocumentEvent> deltas,
    Map<String, ByteString> fields,
    long fingerprint,
    DocumentSync.Reason reason) {

  public static SyncResult upToDate(String document, long epoch, long version, long fingerprint) {
    return new SyncResult(
        document,
        DocumentSync.Mode.UP_TO_DATE,
        epoch,
        version,
        version,
        List.of(),
        Map.of(),
        fingerprint,
        DocumentSync.Reason.REASON_UNSPECIFIED);
  }

  public static SyncResult deltas(
      String document, long epoch, long fromVersion, List<DocumentEvent> deltas) {
    long to = deltas.isEmpty() ? fromVersion : deltas.get(deltas.size() - 1).version();
    long fp = deltas.isEmpty() ? 0 : deltas.get(deltas.size() - 1).fingerprint();
    return new SyncResult(
        document,
        DocumentSync.Mode.DELTAS,
        epoch,
        fromVersion,
        to,
        List.copyOf(deltas),
        Map.of(),
        fp,
        DocumentSync.Reason.REASON_UNSPECIFIED);
  }

  public static SyncResult snapshot(
      String document,
      long epoch,
      long version,
      Map<String, ByteString> fields,
      long fingerprint,
      DocumentSync.Reason reason) {
    return new SyncResult(
        document,
        DocumentSync.Mode.SNAPSHOT,
        epoch,
        0,
        version,
        List.of(),
        Map.copyOf(fields),
        fingerprint,
        reason);
  }

  public static SyncResult gone(String document) {
    return new SyncResult(
        document,
        DocumentSync.Mode.GONE,
        0,
        0,
        0,
        List.of(),
        Map.of(),
        0,
        DocumentSync.Reason.REASON_UNSPECIFIED);
  }

  /** This snapshot, sent for another reason. */
  public SyncResult because(DocumentSync.Reason why) {
    return new SyncResult(
        document, mode, epoch, fromVersion, toVersion, deltas, fields, fingerprint, why);
  }

  /**
   * Why a device at ({@code deviceEpoch}, {@code deviceVersion}, {@code deviceFingerprint}) gets a
   * snapshot of a document now at ({@code epoch}, {@code version}, {@code fingerprint}), or null
   * when its position is good (the deltas after it, or nothing, bring it up to date as far as this
   * check can tell; see {@link #divergedAt}).
   */
  public static DocumentSync.Reason snapshotReason(
      long deviceEpoch,
      long deviceVersion,
      long deviceFingerprint,
      long epoch,
      long version,
      long fingerprint) {
    if (deviceEpoch == 0) {
      return DocumentSync.Reason.NO_POSITION;
    }
    if (deviceEpoch != epoch) {
      return DocumentSync.Reason.EPOCH_CHANGED;
    }
    if (Long.compareUnsigned(deviceVersion, version) > 0) {
      return DocumentSync.Reason.DIVERGED;
    }
    if (deviceVersion == version && Fingerprint.differ(deviceFingerprint, fingerprint)) {
      return DocumentSync.Reason.DIVERGED;
    }
    return null;
  }

  /**
   * True when the first of the deltas a device at {@code deviceFingerprint} would get was written
   * on top of another history than the device's.
   */
  public static boolean divergedAt(long deviceFingerprint, List<DocumentEvent> deltas) {
    return !deltas.isEmpty()
        && Fingerprint.differ(deviceFingerprint, deltas.get(0).previousFingerprint());
  }

  /**
   * True when {@code deltas}, read from a store's history for a device at {@code from}, are the
   * versions {@code from + 1} to {@code version} in order, each written on top of the one before
   * it, the last with the document's {@code fingerprint}. A store whose history no longer lines up
   * with its version (an entry too many or too few, as a Redis append-only file replayed with part
   * of a torn transaction leaves it) fails this, and the device gets a snapshot instead.
   */
  public static boolean linesUp(
      long from, long version, long fingerprint, List<DocumentEvent> deltas) {
    if (deltas.size() != version - from) {
      return false;
    }
    for (int i = 0; i < deltas.size(); i++) {
      DocumentEvent d = deltas.get(i);
      if (d.version() != from + 1 + i
          || (i > 0
              && Fingerprint.differ(d.previousFingerprint(), deltas.get(i - 1).fingerprint()))) {
        return false;
      }
    }
    return deltas.isEmpty()
        || !Fingerprint.differ(deltas.get(deltas.size() - 1).fingerprint(), fingerprint);
  }

  /** The report line for this result, as sent in Welcome and SyncReport. */
  public DocumentSync toProto() {
    return DocumentSync.newBuilder()
        .setDocument(document)
        .setMode(mode)
        .setEpoch(epoch)
        .setFromVersion(fromVersion)
        .setToVersion(toVersion)
        .setFingerprint(fingerprint)
        .setReason(reason)
        .build();
  }

  /** The report of {@code results}, one line each, as sent in Welcome and SyncReport. */
  static SyncReport report(List<SyncResult> results) {
    SyncReport.Builder b = SyncReport.newBuilder();
    for (SyncResult r : results) {
      b.addDocuments(r.toProto());
    }
    return b.build();
  }
}
