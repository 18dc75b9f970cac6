package io.handoff.server.sync;

import io.handoff.server.sync.WriteTracker.InFlight;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.function.Predicate;

/**
 * One connection's writes in flight by client_seq, oldest first. A device usually has one write in
 * flight at a time (its next is sent once the last is acked): that one is held in a field, found by
 * comparing its sequence number, and taken out by clearing the field; only while several are in
 * flight do the later ones wait in a map. So the usual write boxes no key and links no map entry
 * into the connection's long-lived map (an entry per write that G1's refinement had to scan when it
 * was stored there).
 *
 * <p>Order: {@link #only} is set only when nothing else is in flight, so it is always older than
 * every write in {@link #later}; a write added while anything is in flight goes to the map's end.
 * Event loop only.
 */
final class InFlights {
  // The oldest write in flight, if it was added when nothing else was; else null.
  private InFlight only;
  // The writes added while another was in flight, in the order added; made on first use.
  private LinkedHashMap<Long, InFlight> later;

  InFlight get(long seq) {
    InFlight p = only;
    if (p != null && p.seq == seq) {
      return p;
    }
    return later == null || later.isEmpty() ? null : later.get(seq);
  }

  boolean has(long seq) {
    return get(seq) != null;
  }

  int size() {
    return (only == null ? 0 : 1) + (later == null ? 0 : later.size());
  }

  boolean isEmpty() {
    return only == null && (later == null || later.isEmpty());
  }

  /** Adds {@code p}, the newest write in flight; its sequence number must not be in flight. */
  void add(InFlight p) {
    if (isEmpty()) {
      only = p;
      return;
    }
    if (later == null) {
      later = new LinkedHashMap<>();
    }
    later.put(p.seq, p);
  }

  /** Takes write {@code seq} out; returns it, or null if it was not in flight. */
  InFlight remove(long seq) {
    InFlight p = only;
    if (p != null && p.seq == seq) {
      only = null;
      return p;
    }
    return later == null || later.isEmpty() ? null : later.remove(seq);
  }

  /** Every write in flight, oldest first (a copy: the caller may change this meanwhile). */
  List<InFlight> all() {
    List<InFlight> all = new ArrayList<>(size());
    if (only != null) {
      all.add(only);
    }
    if (later != null) {
      all.addAll(later.values());
    }
    return all;
  }

  /** Takes out every write that {@code which} accepts, and returns them oldest first. */
  List<InFlight> removeIf(Predicate<InFlight> which) {
    List<InFlight> removed = null;
    if (only != null && which.test(only)) {
      removed = new ArrayList<>();
      removed.add(only);
      only = null;
    }
    if (later != null) {
      Iterator<InFlight> it = later.values().iterator();
      while (it.hasNext()) {
        InFlight p = it.next();
        if (which.test(p)) {
          if (removed == null) {
            removed = new ArrayList<>();
          }
          removed.add(p);
          it.remove();
        }
      }
    }
    return removed == null ? List.of() : removed;
  }

  void clear() {
    only = null;
    if (later != null) {
      later.clear();
    }
  }
}
