package io.handoff.loadtest;

import java.util.concurrent.atomic.LongAdder;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;

/**
 * What the {@code handoff} scenario counts, and its report: the truth checks' counters (winners,
 * prompts missing or twice, withdrawals, accept outcomes), the accept-to-granted latency, and the
 * {@link Result} they make at the end. {@link HandoffRun} decides what each offer's outcome is;
 * this class only adds it up and words it.
 *
 * <p>Threading: the counters and {@link #acceptLatency} are written from any thread (the event
 * loops, the scheduler); {@link #sampleAccept}, {@link #errors} and {@link #fill} run on the main
 * thread.
 */
final class HandoffCounts {
  private final LoadOptions o;
  private final Stats stats;

  /** Accept-to-granted latency of each winner, in microseconds. */
  final Recorder acceptLatency = new Recorder(3);

  /** Every interval of {@link #acceptLatency} sampled so far. */
  final Histogram acceptTotal = new Histogram(3);

  private Histogram acceptInterval;

  final LongAdder created = new LongAdder();
  final LongAdder refused = new LongAdder();
  final LongAdder winners = new LongAdder();
  final LongAdder winnersInWindow = new LongAdder();
  final LongAdder noWinner = new LongAdder();
  final LongAdder extraWinners = new LongAdder();
  final LongAdder missingPrompts = new LongAdder();
  final LongAdder duplicatePrompts = new LongAdder();
  final LongAdder unknownPrompts = new LongAdder();
  final LongAdder withdrawnErrors = new LongAdder();
  final LongAdder withdrawnPushes = new LongAdder();
  final LongAdder wrongWithdrawals = new LongAdder();
  final LongAdder strayWithdrawals = new LongAdder();
  final LongAdder acceptErrors = new LongAdder();
  final LongAdder unanswered = new LongAdder();
  final LongAdder resultMismatches = new LongAdder();
  final LongAdder timedOut = new LongAdder();
  final LongAdder lateSends = new LongAdder();
  final LongAdder finished = new LongAdder();

  HandoffCounts(LoadOptions o, Stats stats) {
    this.o = o;
    this.stats = stats;
  }

  /** Moves what {@link #acceptLatency} recorded since the last call into {@link #acceptTotal}. */
  void sampleAccept() {
    acceptInterval = acceptLatency.getIntervalHistogram(acceptInterval);
    acceptTotal.add(acceptInterval);
  }

  /** Failures counted so far, for the progress line and the result. */
  long errors() {
    return refused.sum()
        + acceptErrors.sum()
        + unanswered.sum()
        + resultMismatches.sum()
        + wrongWithdrawals.sum()
        + unknownPrompts.sum()
        + stats.clientErrors.sum()
        + stats.unexpectedDisconnects.sum()
        + stats.terminalCloses.sum();
  }

  /**
   * Fills {@code result} once every client is closed: the counts, the latencies, the problems
   * found, and {@code cpu} and {@code timeline} when given.
   */
  void fill(
      Result result,
      Fleet fleet,
      int connected,
      long scheduled,
      long unsent,
      Timeline timeline,
      CpuMeter.Usage cpu) {
    int targets = fleet.devicesPerUser() - 1;
    long notConnected = fleet.size() - connected;
    long expected = created.sum() * targets;
    long lost = missingPrompts.sum() + noWinner.sum();
    long duplicated = extraWinners.sum() + duplicatePrompts.sum();
    long errors = errors() + unsent + notConnected;
    Histogram latency = timeline == null ? new Histogram(3) : timeline.total();
    Histogram connect = stats.connect.getIntervalHistogram();
    double window = o.duration.toNanos() / 1e9;
    result
        .put("connections", connected)
        .put("sent", stats.sent.sum())
        .put("expected", expected)
        .put("received", stats.received.sum())
        .put("lost", lost)
        .put("duplicated", duplicated)
        .put("reordered", 0)
        .put("errors", errors)
        .put("closes", stats.closes())
        .latency(latency, stats.receivedInWindow.sum(), window)
        .put("offers", scheduled)
        .put("offers_created", created.sum())
        .put("offers_refused", refused.sum())
        .put("winners", winners.sum())
        .put("no_winner", noWinner.sum())
        .put("extra_winners", extraWinners.sum())
        .put("handoffs_per_s", Math.round(winnersInWindow.sum() / window * 10) / 10.0)
        .put("accept_p50_ms", Timeline.ms(acceptTotal.getValueAtPercentile(50)))
        .put("accept_p90_ms", Timeline.ms(acceptTotal.getValueAtPercentile(90)))
        .put("accept_p99_ms", Timeline.ms(acceptTotal.getValueAtPercentile(99)))
        .put("accept_max_ms", Timeline.ms(acceptTotal.getMaxValue()))
        .put("timed", latency.getTotalCount())
        .put("missing_prompts", missingPrompts.sum())
        .put("duplicate_prompts", duplicatePrompts.sum())
        .put("losers_withdrawn_error", withdrawnErrors.sum())
        .put("losers_withdrawn_push", withdrawnPushes.sum())
        .put("wrong_withdrawals", wrongWithdrawals.sum())
        .put("result_mismatches", resultMismatches.sum())
        .put("accept_errors", acceptErrors.sum())
        .put("unanswered_accepts", unanswered.sum())
        .put("unknown_prompts", unknownPrompts.sum())
        .put("stray_withdrawals", strayWithdrawals.sum())
        .put("timed_out", timedOut.sum())
        .put("late_sends", lateSends.sum())
        .put("unsent", unsent)
        .put("connect_p50_ms", Timeline.ms(connect.getValueAtPercentile(50)))
        .put("connect_p99_ms", Timeline.ms(connect.getValueAtPercentile(99)));
    result.note(
        "p*_ms: offer-to-prompt, from the offer's intended send time to the prompt at each target;"
            + " accept_*_ms: from the winning accept to its OfferGranted");
    result.note(
        "sent: offers sent; expected: offers created x (devices - 1) prompts; received: prompts;"
            + " lost: prompts that never arrived + offers that no accept won; duplicated: extra"
            + " winners of an offer + prompts that arrived twice; reordered: always 0 (not"
            + " applicable); late_sends: offers due while their user's previous offer was going");
    if (cpu != null) {
      cpu.putInto(result);
    }
    result.timeline(timeline);
    if (notConnected > 0) {
      result.problem(fleet.connectShortfall(connected, o.connectTimeout));
    }
    if (lost > 0) {
      result.problem(
          lost
              + " lost ("
              + missingPrompts.sum()
              + " prompts never arrived, "
              + noWinner.sum()
              + " offers without a winner)");
    }
    if (duplicated > 0) {
      result.problem(
          duplicated
              + " duplicated ("
              + extraWinners.sum()
              + " extra winners, "
              + duplicatePrompts.sum()
              + " prompts twice)");
    }
    if (errors > 0) {
      result.problem(
          errors
              + " errors ("
              + refused.sum()
              + " offers refused, "
              + acceptErrors.sum()
              + " accepts failed otherwise than OFFER_WITHDRAWN, "
              + unanswered.sum()
              + " accepts unanswered, "
              + resultMismatches.sum()
              + " offerer results not naming the winner, "
              + wrongWithdrawals.sum()
              + " wrong withdrawals, "
              + unsent
              + " offers never sent, "
              + (stats.unexpectedDisconnects.sum() + stats.terminalCloses.sum())
              + " lost connections, "
              + (stats.clientErrors.sum() + unknownPrompts.sum())
              + " client errors, "
              + notConnected
              + " not connected)");
    }
    for (String sample : stats.samples()) {
      result.note("error: " + sample);
    }
  }
}
