package io.handoff.loadtest;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.HdrHistogram.Histogram;

/**
 * The outcome of one run: named figures in a fixed order (the JSON fields), the problems that make
 * it fail, and the timeline for the report. Built by one thread, then read-only.
 */
final class Result {
  /** Exit code of a run that found nothing wrong. */
  static final int EXIT_OK = 0;

  /** Exit code of a run that lost, duplicated or reordered something, or saw errors. */
  static final int EXIT_FAILED = 1;

  private final String scenario;
  private final Map<String, Object> fields = new LinkedHashMap<>();
  private final List<String> problems = new ArrayList<>();
  private final List<String> notes = new ArrayList<>();
  private Timeline timeline;

  Result(String scenario) {
    this.scenario = scenario;
    fields.put("scenario", scenario);
  }

  String scenario() {
    return scenario;
  }

  /** Adds or replaces a figure; insertion order is output order. */
  Result put(String name, Object value) {
    fields.put(name, value);
    return this;
  }

  /**
   * The load every scenario that writes (or offers) at a rate reports: users, devices, the rate and
   * its tick, the load tester's threads, the warm-up and measured durations, the payload.
   */
  Result load(LoadOptions o) {
    return put("users", o.users)
        .put("devices", o.devices)
        .put("rate", o.rate)
        .put("tick_ms", o.tick.toNanos() / 1e6)
        .put("threads", o.threads())
        .put("duration_s", o.duration.toMillis() / 1000.0)
        .put("warmup_s", o.warmup.toMillis() / 1000.0)
        .put("payload", o.payload);
  }

  /**
   * The latency figures every scenario reports (p50, p90, p99, p99.9, max, in ms, from a histogram
   * in microseconds) and the deliveries per second over a window of {@code windowSeconds}.
   */
  Result latency(Histogram micros, long deliveredInWindow, double windowSeconds) {
    return put("p50_ms", Timeline.ms(micros.getValueAtPercentile(50)))
        .put("p90_ms", Timeline.ms(micros.getValueAtPercentile(90)))
        .put("p99_ms", Timeline.ms(micros.getValueAtPercentile(99)))
        .put("p999_ms", Timeline.ms(micros.getValueAtPercentile(99.9)))
        .put("max_ms", Timeline.ms(micros.getMaxValue()))
        .put("delivered_per_s", Math.round(deliveredInWindow / windowSeconds * 10) / 10.0);
  }

  Object get(String name) {
    return fields.get(name);
  }

  /** A reason the run failed, in words. */
  Result problem(String problem) {
    problems.add(problem);
    return this;
  }

  /** Something the reader should know that is not a failure (how a figure was measured). */
  Result note(String note) {
    notes.add(note);
    return this;
  }

  Result timeline(Timeline timeline) {
    this.timeline = timeline;
    return this;
  }

  Timeline timeline() {
    return timeline;
  }

  Map<String, Object> fields() {
    return fields;
  }

  List<String> problems() {
    return problems;
  }

  List<String> notes() {
    return notes;
  }

  boolean ok() {
    return problems.isEmpty();
  }

  int exitCode() {
    return ok() ? EXIT_OK : EXIT_FAILED;
  }

  /** The JSON line: every figure, then {@code ok} and the problems. */
  String toJson() {
    Map<String, Object> all = new LinkedHashMap<>(fields);
    all.put("ok", ok());
    all.put("problems", problems);
    return Json.object(all);
  }

  /** The final table: one figure per line, then notes and problems. */
  void printTable(PrintStream out) {
    int width = 0;
    for (String k : fields.keySet()) {
      width = Math.max(width, k.length());
    }
    out.println();
    out.println("---- " + scenario + " ----");
    for (Map.Entry<String, Object> e : fields.entrySet()) {
      Object v = e.getValue();
      String text = v instanceof Double d ? Json.number(d) : String.valueOf(v);
      out.printf("%-" + width + "s  %s%n", e.getKey(), text);
    }
    for (String n : notes) {
      out.println("note: " + n);
    }
    if (ok()) {
      out.println("result: OK");
    } else {
      out.println("result: FAILED");
      for (String p : problems) {
        out.println("  - " + p);
      }
    }
  }
}
