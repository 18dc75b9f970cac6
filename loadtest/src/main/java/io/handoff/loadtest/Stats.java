package io.handoff.loadtest;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import org.HdrHistogram.Recorder;

/**
 * The counters and latency recorders of one run, updated from every event loop and the scheduler
 * thread without locks. Latencies are recorded in microseconds.
 */
final class Stats {
  /** Error messages kept for the final output; the rest are only counted. */
  static final int MAX_SAMPLES = 10;

  /** Writes submitted by the scheduler. */
  final LongAdder sent = new LongAdder();

  /** Writes acked by the server. */
  final LongAdder acked = new LongAdder();

  /** Writes that failed for good (the client gave up, or the server refused them). */
  final LongAdder writeErrors = new LongAdder();

  /** Versions written by another device that reached a device as a delta for the first time. */
  final LongAdder received = new LongAdder();

  /** Of {@link #received}, those that arrived inside the measurement window. */
  final LongAdder receivedInWindow = new LongAdder();

  /**
   * Deltas of a version the device already had (one write delivered twice), and writes the server
   * applied twice (one writer's sequence number under two versions).
   */
  final LongAdder duplicated = new LongAdder();

  /** Versions that arrived while the one before had not. */
  final LongAdder outOfOrder = new LongAdder();

  /** Snapshots received (a resume or resync that could not be served with deltas). */
  final LongAdder snapshots = new LongAdder();

  /** Documents reported GONE: the load tester never deletes, so always an error. */
  final LongAdder gone = new LongAdder();

  /** Error events reported by clients that are not tied to a write. */
  final LongAdder clientErrors = new LongAdder();

  /** Connections lost with a reconnect code (all of them: induced and not). */
  final LongAdder disconnects = new LongAdder();

  /** First connection attempts that failed and were retried by the client. */
  final LongAdder connectRetries = new LongAdder();

  /**
   * Connections lost after a Welcome that were neither a documented reconnect close of the server
   * nor a cut the load tester made.
   */
  final LongAdder unexpectedDisconnects = new LongAdder();

  /** Clients closed for good by the server (terminal close code) while the run needed them. */
  final LongAdder terminalCloses = new LongAdder();

  /** Connections the load tester cut on purpose. */
  final LongAdder drops = new LongAdder();

  /** Devices that got back to where they were after losing their connection. */
  final LongAdder resumes = new LongAdder();

  /** Devices connected now. */
  final AtomicInteger connected = new AtomicInteger();

  /** Delivery latency: receive time minus the write's intended send time. */
  final Recorder latency = new Recorder(3);

  /** Resume time: connection lost to the device holding every version acked before the loss. */
  final Recorder resume = new Recorder(3);

  /** Connect time: {@code connect()} called to Welcome received. */
  final Recorder connect = new Recorder(3);

  /** Deliveries of writes intended before this are not timed (warm-up). */
  volatile long measureFromNanos = Long.MAX_VALUE;

  /** Deliveries received at or after this are outside the window of {@code delivered_per_s}. */
  volatile long measureToNanos = Long.MAX_VALUE;

  // Connections lost after a Welcome, by close code (1006: without a close frame).
  private final Map<Integer, LongAdder> closes = new ConcurrentHashMap<>();

  private final List<String> samples = new ArrayList<>();
  private int sampled;

  /** Counts a connection lost with {@code closeCode}. Any thread. */
  void closed(int closeCode) {
    closes.computeIfAbsent(closeCode, c -> new LongAdder()).increment();
  }

  /** Connections lost so far by close code, in code order. */
  Map<String, Long> closes() {
    Map<String, Long> out = new TreeMap<>();
    closes.forEach((code, n) -> out.put(Integer.toString(code), n.sum()));
    return out;
  }

  /** Keeps the first few error messages; counts the rest. Any thread. */
  synchronized void sample(String message) {
    sampled++;
    if (samples.size() < MAX_SAMPLES) {
      samples.add(message);
    }
  }

  /** The messages kept by {@link #sample}, and a line saying how many more there were. */
  synchronized List<String> samples() {
    List<String> out = new ArrayList<>(samples);
    if (sampled > samples.size()) {
      out.add("... and " + (sampled - samples.size()) + " more");
    }
    return out;
  }
}
