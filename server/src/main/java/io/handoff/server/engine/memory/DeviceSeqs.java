package io.handoff.server.engine.memory;

import io.handoff.server.sync.WriteOutcome;
import java.util.HashMap;

/**
 * What the memory engine remembers of one device's writes: the outcomes of its recent writes by
 * client_seq, the highest client_seq it handled per document, the highest it handled at all, and
 * when it last wrote. Not thread-safe: guarded by its user's monitor.
 */
final class DeviceSeqs {
  final SeqWindow outcomes;
  // The highest client_seq handled per existing document: older writes are OUT_OF_ORDER. At
  // most one entry per document of the user.
  final HashMap<String, LastSeq> lastByDocument = new HashMap<>();
  long last;
  // When the device's last write was recorded: the record expires the idle TTL after it.
  long lastWrite;

  DeviceSeqs(int window, long now) {
    this.outcomes = new SeqWindow(window);
    this.lastWrite = now;
  }

  private DeviceSeqs(SeqWindow outcomes) {
    this.outcomes = outcomes;
  }

  DeviceSeqs copy() {
    DeviceSeqs c = new DeviceSeqs(outcomes.copy());
    lastByDocument.forEach((doc, s) -> c.lastByDocument.put(doc, new LastSeq(s.seq)));
    c.last = last;
    c.lastWrite = lastWrite;
    return c;
  }

  /** Remembers the outcome of a write handled at {@code now}. */
  void record(long seq, long document, WriteOutcome outcome, long now) {
    outcomes.record(seq, document, outcome);
    last = Math.max(last, seq);
    lastWrite = now;
  }

  /** The highest client_seq of one device handled for one document; updated in place. */
  static final class LastSeq {
    long seq;

    LastSeq(long seq) {
      this.seq = seq;
    }
  }
}
