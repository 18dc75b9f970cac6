package io.handoff.server.sync;

import com.google.protobuf.ByteString;
import io.handoff.protocol.v1.DocumentSync;
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
 */
public record SyncResult(
    String document,
    DocumentSync.Mode mode,
    long epoch,
    long fromVersion,
    long toVersion,
    List<DocumentEvent> deltas,
    Map<String, ByteString> fields) {

  public static SyncResult upToDate(String document, long epoch, long version) {
    return new SyncResult(
        document, DocumentSync.Mode.UP_TO_DATE, epoch, version, version, List.of(), Map.of());
  }

  public static SyncResult deltas(
      String document, long epoch, long fromVersion, List<DocumentEvent> deltas) {
    long to = deltas.isEmpty() ? fromVersion : deltas.get(deltas.size() - 1).version();
    return new SyncResult(
        document, DocumentSync.Mode.DELTAS, epoch, fromVersion, to, List.copyOf(deltas), Map.of());
  }

  public static SyncResult snapshot(
      String document, long epoch, long version, Map<String, ByteString> fields) {
    return new SyncResult(
        document, DocumentSync.Mode.SNAPSHOT, epoch, 0, version, List.of(), Map.copyOf(fields));
  }

  public static SyncResult gone(String document) {
    return new SyncResult(document, DocumentSync.Mode.GONE, 0, 0, 0, List.of(), Map.of());
  }

  /** The report line for this result, as sent in Welcome and SyncReport. */
  public DocumentSync toProto() {
    return DocumentSync.newBuilder()
        .setDocument(document)
        .setMode(mode)
        .setEpoch(epoch)
        .setFromVersion(fromVersion)
        .setToVersion(toVersion)
        .build();
  }
}
