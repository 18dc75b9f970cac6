package io.handoff.server.engine.memory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.handoff.server.MutableClock;
import io.handoff.server.Writes;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.sync.DocumentEvent;
import io.handoff.server.sync.SyncResult;
import io.handoff.server.sync.WriteOutcome;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The memory store overwrites a field's array in place: nothing it handed out (a snapshot's values,
 * the deltas read back from history) changes when the field is written again.
 */
class MemoryFieldValuesTest {
  private final MutableClock clock = new MutableClock(1_700_000_000_000L);

  @Test
  void aSnapshotAndDeltasHandedOutKeepTheirBytesWhenTheFieldIsWrittenAgainInPlace() {
    MemoryEngine engine = new MemoryEngine(StoreLimits.builder().build(), clock);
    try {
      var store = engine.store();
      WriteOutcome first = store.write("u", "phone", Writes.set("doc", 1, "f", "aaaaaaaa")).join();
      assertTrue(first.isApplied());
      SyncResult snapshot = store.read("u", "doc", 0, 0, 0).join();
      Map<String, ByteString> handedOut = snapshot.fields();
      assertEquals(ByteString.copyFromUtf8("aaaaaaaa"), handedOut.get("f"));

      // The same size: copied into the same array.
      assertTrue(
          store.write("u", "phone", Writes.set("doc", 2, "f", "bbbbbbbb")).join().isApplied());
      assertEquals(ByteString.copyFromUtf8("aaaaaaaa"), handedOut.get("f"));
      List<DocumentEvent> deltas =
          store
              .read("u", "doc", first.epoch(), first.version(), first.fingerprint())
              .join()
              .deltas();
      assertEquals(1, deltas.size());
      assertTrue(
          store.write("u", "phone", Writes.set("doc", 3, "f", "cccccccc")).join().isApplied());
      assertEquals(ByteString.copyFromUtf8("bbbbbbbb"), deltas.get(0).delta().getOps(0).getSet());
      assertEquals(
          ByteString.copyFromUtf8("cccccccc"),
          store.read("u", "doc", 0, 0, 0).join().fields().get("f"));

      // A retried write is answered as the first time: the same version and fingerprint.
      WriteOutcome again = store.write("u", "phone", Writes.set("doc", 1, "f", "aaaaaaaa")).join();
      assertTrue(again.duplicate());
      assertEquals(first.version(), again.version());
      assertEquals(first.fingerprint(), again.fingerprint());
      assertEquals(first.epoch(), again.epoch());
    } finally {
      engine.close();
    }
  }
}
