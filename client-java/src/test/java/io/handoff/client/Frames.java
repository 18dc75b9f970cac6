package io.handoff.client;

import com.google.protobuf.ByteString;
import io.handoff.protocol.v1.Ack;
import io.handoff.protocol.v1.Delta;
import io.handoff.protocol.v1.Disconnect;
import io.handoff.protocol.v1.DocumentSync;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.FieldOp;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.protocol.v1.Snapshot;
import io.handoff.protocol.v1.SyncReport;
import io.handoff.protocol.v1.Welcome;
import java.util.Map;

/** Builders for the server frames the tests feed the client. */
final class Frames {
  static final String USER = "user-1";
  static final String DEVICE = "device-1";

  private Frames() {}

  static ByteString bytes(String s) {
    return ByteString.copyFromUtf8(s);
  }

  static FieldOp set(String field, String value) {
    return FieldOp.newBuilder().setField(field).setSet(bytes(value)).build();
  }

  static FieldOp remove(String field) {
    return FieldOp.newBuilder().setField(field).setRemove(true).build();
  }

  static Welcome.Builder welcomeBuilder(long lastClientSeq) {
    return Welcome.newBuilder()
        .setUserId(USER)
        .setDeviceId(DEVICE)
        .setNodeId("node-1")
        .setLastClientSeq(lastClientSeq)
        .setHeartbeatIntervalMs(25_000)
        .setMaxFrameBytes(1 << 20)
        .setMaxInFlightWrites(1_000);
  }

  static ServerFrame welcome(long lastClientSeq, DocumentSync... sync) {
    return ServerFrame.newBuilder()
        .setWelcome(
            welcomeBuilder(lastClientSeq)
                .setSync(SyncReport.newBuilder().addAllDocuments(java.util.List.of(sync))))
        .build();
  }

  static ServerFrame welcome(Welcome.Builder welcome) {
    return ServerFrame.newBuilder().setWelcome(welcome).build();
  }

  static DocumentSync sync(String document, DocumentSync.Mode mode, long epoch) {
    return DocumentSync.newBuilder().setDocument(document).setMode(mode).setEpoch(epoch).build();
  }

  static ServerFrame syncReport(DocumentSync... sync) {
    return ServerFrame.newBuilder()
        .setSyncReport(SyncReport.newBuilder().addAllDocuments(java.util.List.of(sync)))
        .build();
  }

  static ServerFrame delta(String document, long epoch, long version, FieldOp... ops) {
    return delta(document, epoch, version, "other-device", version, ops);
  }

  static ServerFrame delta(
      String document,
      long epoch,
      long version,
      String originDevice,
      long originSeq,
      FieldOp... ops) {
    return ServerFrame.newBuilder()
        .setDelta(
            Delta.newBuilder()
                .setDocument(document)
                .setEpoch(epoch)
                .setVersion(version)
                .addAllOps(java.util.List.of(ops))
                .setOriginDevice(originDevice)
                .setOriginSeq(originSeq)
                .setTimestampMs(1_700_000_000_000L + version))
        .build();
  }

  static ServerFrame snapshot(
      String document, long epoch, long version, Map<String, ByteString> fields) {
    return ServerFrame.newBuilder()
        .setSnapshot(
            Snapshot.newBuilder()
                .setDocument(document)
                .setEpoch(epoch)
                .setVersion(version)
                .putAllFields(fields))
        .build();
  }

  static ServerFrame ack(String document, long clientSeq, long epoch, long version) {
    return ServerFrame.newBuilder()
        .setAck(
            Ack.newBuilder()
                .setDocument(document)
                .setClientSeq(clientSeq)
                .setEpoch(epoch)
                .setVersion(version))
        .build();
  }

  static ServerFrame error(
      ErrorCode code, String document, long clientSeq, boolean retryable, long currentVersion) {
    return ServerFrame.newBuilder()
        .setError(
            io.handoff.protocol.v1.Error.newBuilder()
                .setCode(code)
                .setMessage("test says " + code)
                .setDocument(document)
                .setClientSeq(clientSeq)
                .setRetryable(retryable)
                .setCurrentVersion(currentVersion))
        .build();
  }

  static ServerFrame disconnect(int code, String reason) {
    return ServerFrame.newBuilder()
        .setDisconnect(Disconnect.newBuilder().setCode(code).setReason(reason))
        .build();
  }
}
