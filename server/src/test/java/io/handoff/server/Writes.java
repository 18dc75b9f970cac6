package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.FieldOp;
import io.handoff.protocol.v1.Position;
import io.handoff.protocol.v1.Write;
import io.handoff.server.sync.DocumentStore;
import io.handoff.server.sync.WriteOutcome;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.IntFunction;

/**
 * The writes tests make: a {@link Write} for a store, the same in a {@link ClientFrame} for a
 * device, and a user's many documents written at once. Public because the engine, sync and session
 * tests write to stores too. A test whose point is the exact frame (no ops, a remove beside a set,
 * raw bytes, unknown fields) builds it itself.
 */
public final class Writes {
  private Writes() {}

  /** Sets {@code field} of {@code doc} to {@code value}, the device's write {@code seq}. */
  public static Write set(String doc, long seq, String field, String value) {
    return builder(doc, seq, field, value).build();
  }

  /**
   * The same, refused unless {@code doc} is at {@code expectedVersion} (0: must not exist); null
   * expects nothing.
   */
  public static Write set(String doc, long seq, String field, String value, Long expectedVersion) {
    Write.Builder w = builder(doc, seq, field, value);
    if (expectedVersion != null) {
      w.setExpectedVersion(expectedVersion);
    }
    return w.build();
  }

  /** Write {@code seq} of {@code doc}: field "f" set to "v" + seq, so the value names its write. */
  public static Write numbered(String doc, long seq) {
    return set(doc, seq, "f", "v" + seq);
  }

  /** {@link #numbered(String, long)}, refused unless {@code doc} is at {@code expectedVersion}. */
  public static Write numbered(String doc, long seq, Long expectedVersion) {
    return set(doc, seq, "f", "v" + seq, expectedVersion);
  }

  /** Removes {@code field} of {@code doc}. */
  public static Write remove(String doc, long seq, String field) {
    return Write.newBuilder()
        .setDocument(doc)
        .setClientSeq(seq)
        .addOps(FieldOp.newBuilder().setField(field).setRemove(true))
        .build();
  }

  /** Sets fields "part1" to "part{@code parts}" of {@code doc}, each to {@code value}. */
  public static Write parts(String doc, long seq, int parts, String value) {
    Write.Builder w = Write.newBuilder().setDocument(doc).setClientSeq(seq);
    for (int i = 1; i <= parts; i++) {
      w.addOps(FieldOp.newBuilder().setField("part" + i).setSet(ByteString.copyFromUtf8(value)));
    }
    return w.build();
  }

  /** {@link #set(String, long, String, String)} as a frame a {@link TestDevice} sends. */
  public static ClientFrame.Builder frame(String doc, long seq, String field, String value) {
    return ClientFrame.newBuilder().setWrite(builder(doc, seq, field, value));
  }

  /**
   * Writes documents "doc/0" to "doc/{@code count - 1}" of {@code user} from {@code device}, one
   * write each (client seq d + 1) of {@code value.apply(d)} to field "f", one after another; fails
   * the test unless each is applied within 10 seconds.
   *
   * @return the outcomes by document name
   */
  public static Map<String, WriteOutcome> documents(
      DocumentStore store, String user, String device, int count, IntFunction<String> value) {
    Map<String, WriteOutcome> written = new LinkedHashMap<>();
    for (int d = 0; d < count; d++) {
      String doc = "doc/" + d;
      WriteOutcome o =
          store
              .write(user, device, set(doc, d + 1, "f", value.apply(d)))
              .orTimeout(10, TimeUnit.SECONDS)
              .join();
      assertTrue(o.isApplied(), o.toString());
      written.put(doc, o);
    }
    return written;
  }

  /**
   * The place in {@code doc} that write {@code o} left a device at, as its Hello or Resync says.
   */
  public static Position position(String doc, WriteOutcome o) {
    return Position.newBuilder()
        .setDocument(doc)
        .setEpoch(o.epoch())
        .setVersion(o.version())
        .setFingerprint(o.fingerprint())
        .build();
  }

  private static Write.Builder builder(String doc, long seq, String field, String value) {
    return Write.newBuilder()
        .setDocument(doc)
        .setClientSeq(seq)
        .addOps(FieldOp.newBuilder().setField(field).setSet(ByteString.copyFromUtf8(value)));
  }
}
