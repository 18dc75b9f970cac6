package io.handoff.loadtest;

import java.util.ArrayList;
import java.util.List;
import org.HdrHistogram.Histogram;

/**
 * Once-a-second samples of a run, for the progress line and the HTML report, and the histogram of
 * every latency recorded so far. Used by the main thread only.
 */
final class Timeline {

  /** One second of a run. Latencies in milliseconds, over that second's deliveries only. */
  record Sample(
      double seconds,
      int connected,
      long sent,
      long received,
      long timed,
      double p50,
      double p90,
      double p99,
      double max) {}

  private final List<Sample> samples = new ArrayList<>();
  private final Histogram total = new Histogram(3);
  private Histogram interval;
  private final long startNanos;

  Timeline(long startNanos) {
    this.startNanos = startNanos;
  }

  /** Takes the latencies recorded since the last call and adds a sample. */
  Sample sample(Stats stats, long nowNanos) {
    interval = stats.latency.getIntervalHistogram(interval);
    total.add(interval);
    Sample s =
        new Sample(
            (nowNanos - startNanos) / 1e9,
            stats.connected.get(),
            stats.sent.sum(),
            stats.received.sum(),
            interval.getTotalCount(),
            ms(interval.getValueAtPercentile(50)),
            ms(interval.getValueAtPercentile(90)),
            ms(interval.getValueAtPercentile(99)),
            ms(interval.getMaxValue()));
    samples.add(s);
    return s;
  }

  List<Sample> samples() {
    return samples;
  }

  /** Every latency recorded up to the last sample, in microseconds. */
  Histogram total() {
    return total;
  }

  /** Microseconds to milliseconds. */
  static double ms(long micros) {
    return micros / 1000.0;
  }
}
