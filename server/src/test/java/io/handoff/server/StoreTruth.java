package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.google.protobuf.ByteString;
import io.handoff.protocol.v1.Delta;
import io.handoff.protocol.v1.DocumentSync;
import io.handoff.protocol.v1.FieldOp;
import io.handoff.server.FaultLoad.Outcome;
import io.handoff.server.FaultLoad.State;
import io.handoff.server.FaultLoad.Writer;
import io.handoff.server.sync.DocumentEvent;
import io.handoff.server.sync.DocumentStore;
import io.handoff.server.sync.SyncResult;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * What the store applied, read back after a fault run, and what it says about the outcomes the
 * application saw. Each user's document is read whole, with its history from version 1 (the nodes
 * of a fault test keep enough history for every write of the run), so every applied write is known
 * by its device and value.
 */
final class StoreTruth {
  /** History the nodes of a fault test keep per document: more than any run writes. */
  static final int HISTORY = 200_000;

  /** One user's document in the store. */
  record Doc(long epoch, long version, Map<String, ByteString> fields, List<Delta> history) {}

  final Map<String, Doc> docs = new LinkedHashMap<>();

  // The figures, over every device of the run.
  long writes;
  long acked;
  long unknown;
  long notApplied;
  long pending;
  long applied;

  /** Acked, and not in the store's history of the document's current epoch. */
  long lost;

  /** Reported to the application as certainly not applied, but applied. */
  long notAppliedButApplied;

  /** Applied more than once. */
  long duplicated;

  /** Applied after a later write of the same device. */
  long reordered;

  /** Devices whose field in the store is not their newest applied write, or older than an ack. */
  long olderFinal;

  /** Devices whose replica differs from the store's document once it reached its version. */
  long diverged;

  final List<String> problems = new ArrayList<>();

  /** The acked writes missing from the store, apart: some runs expect them (no persistence). */
  final List<String> lostWrites = new ArrayList<>();

  static StoreTruth read(DocumentStore store, FaultLoad load) throws Exception {
    StoreTruth t = new StoreTruth();
    Set<String> users = new HashSet<>();
    load.writers.forEach(w -> users.add(w.user));
    for (String user : users) {
      t.docs.put(user, readDoc(store, user));
    }
    t.judge(load);
    return t;
  }

  private static Doc readDoc(DocumentStore store, String user) throws Exception {
    SyncResult whole = store.read(user, FaultLoad.DOC, 0, 0).get(30, TimeUnit.SECONDS);
    if (whole.mode() == DocumentSync.Mode.GONE) {
      return new Doc(0, 0, Map.of(), List.of());
    }
    SyncResult all = store.read(user, FaultLoad.DOC, whole.epoch(), 0).get(30, TimeUnit.SECONDS);
    // A snapshot here, with reason DIVERGED, is a history that does not line up with its version:
    // an entry too many or too few (TornAppendOnlyFileTest shows how Redis can leave one).
    assertEquals(
        DocumentSync.Mode.DELTAS,
        all.mode(),
        "the whole history of "
            + user
            + "'s doc, read from version 0 ("
            + all.reason()
            + "): a snapshot means the history does not line up with version "
            + whole.toVersion());
    assertEquals(whole.toVersion(), all.toVersion(), "nothing written while the truth is read");
    List<Delta> history = new ArrayList<>();
    for (DocumentEvent e : all.deltas()) {
      history.add(e.delta());
    }
    return new Doc(whole.epoch(), whole.toVersion(), whole.fields(), history);
  }

  private void judge(FaultLoad load) {
    // device -> values in the order the store applied them, and where each was applied
    Map<String, List<Long>> appliedOrder = new HashMap<>();
    Map<String, Map<Long, List<String>>> appliedAt = new HashMap<>();
    for (Doc doc : docs.values()) {
      for (Delta d : doc.history()) {
        for (FieldOp op : d.getOpsList()) {
          long value = Long.parseLong(op.getSet().toStringUtf8());
          appliedOrder.computeIfAbsent(op.getField(), k -> new ArrayList<>()).add(value);
          appliedAt
              .computeIfAbsent(op.getField(), k -> new HashMap<>())
              .computeIfAbsent(value, k -> new ArrayList<>())
              .add(
                  "v"
                      + d.getVersion()
                      + " (seq "
                      + d.getOriginSeq()
                      + " from "
                      + d.getOriginDevice()
                      + ")");
        }
      }
    }
    for (Writer w : load.writers) {
      List<Long> order = appliedOrder.getOrDefault(w.device, List.of());
      Map<Long, List<String>> where = appliedAt.getOrDefault(w.device, Map.of());
      Set<Long> seen = new HashSet<>();
      long newest = 0;
      for (long v : order) {
        if (!seen.add(v)) {
          duplicated++;
          problems.add(
              w.device + ": value " + v + " applied twice, at " + where.get(v) + describe(w, v));
        }
        if (v < newest) {
          reordered++;
          problems.add(w.device + ": value " + v + " applied after " + newest);
        }
        newest = Math.max(newest, v);
      }
      applied += seen.size();
      for (Outcome o : w.outcomes.values()) {
        writes++;
        switch (o.state) {
          case ACKED -> {
            acked++;
            if (!seen.contains(o.value)) {
              lost++;
              lostWrites.add(
                  w.device
                      + ": value "
                      + o.value
                      + " acked and not in the history; neighbours "
                      + where.get(o.value - 1)
                      + " and "
                      + where.get(o.value + 1)
                      + describe(w, o.value));
            }
          }
          case UNKNOWN -> unknown++;
          case NOT_APPLIED -> {
            notApplied++;
            if (seen.contains(o.value)) {
              notAppliedButApplied++;
              problems.add(w.device + ": value " + o.value + " reported " + o.error + ", applied");
            }
          }
          case PENDING -> pending++;
        }
      }
      ByteString inStore = docs.get(w.user).fields().get(w.device);
      long finalValue = inStore == null ? 0 : Long.parseLong(inStore.toStringUtf8());
      long maxAckedApplied =
          w.outcomes.values().stream()
              .filter(o -> o.state == State.ACKED && seen.contains(o.value))
              .mapToLong(o -> o.value)
              .max()
              .orElse(0);
      if (finalValue != newest || finalValue < maxAckedApplied) {
        olderFinal++;
        problems.add(
            w.device
                + ": store holds "
                + finalValue
                + ", newest applied "
                + newest
                + ", newest acked "
                + maxAckedApplied);
      }
    }
  }

  /** What the application was told about value {@code v} of {@code w}. */
  private static String describe(Writer w, long v) {
    Outcome o = w.outcomes.get(v);
    if (o == null) {
      return "; never written";
    }
    return "; the application saw "
        + o.state
        + (o.state == State.ACKED ? " at v" + o.version : "")
        + (o.error == null ? "" : " (" + o.error + ")")
        + " "
        + TimeUnit.NANOSECONDS.toMillis(o.doneNanos - o.sentNanos)
        + " ms after it was made";
  }

  /**
   * Waits until every device's replica is at its store document's version (or until {@code bound})
   * and counts the devices whose fields then differ from the store's.
   */
  StoreTruth checkConvergence(FaultLoad load, Duration bound) throws InterruptedException {
    long deadline = System.nanoTime() + bound.toNanos();
    for (Writer w : load.writers) {
      Doc doc = docs.get(w.user);
      long left = Math.max(1, deadline - System.nanoTime());
      try {
        load.changed.await(
            w.device + " at v" + doc.version(),
            () ->
                w.client.lastVersion(FaultLoad.DOC) == doc.version()
                    && w.client.document(FaultLoad.DOC).epoch() == doc.epoch(),
            Duration.ofNanos(left));
      } catch (AssertionError e) {
        // Counted below as diverged, with what it holds.
      }
      Map<String, ByteString> replica = w.client.document(FaultLoad.DOC).fields();
      if (!replica.equals(doc.fields()) || w.client.lastVersion(FaultLoad.DOC) != doc.version()) {
        diverged++;
        problems.add(
            w.device
                + ": replica v"
                + w.client.lastVersion(FaultLoad.DOC)
                + " "
                + replica
                + ", store v"
                + doc.version()
                + " "
                + doc.fields());
      }
    }
    return this;
  }

  /** This run's figures and its first lost writes. */
  String lostSample() {
    return this + "\n" + String.join("\n", lostWrites.subList(0, Math.min(20, lostWrites.size())));
  }

  String problemsSample() {
    return String.join("\n", problems.subList(0, Math.min(20, problems.size())));
  }

  @Override
  public String toString() {
    return "writes="
        + writes
        + " acked="
        + acked
        + " unknown="
        + unknown
        + " notApplied="
        + notApplied
        + " pending="
        + pending
        + " applied="
        + applied
        + " lost="
        + lost
        + " notAppliedButApplied="
        + notAppliedButApplied
        + " duplicated="
        + duplicated
        + " reordered="
        + reordered
        + " olderFinal="
        + olderFinal
        + " diverged="
        + diverged;
  }
}
