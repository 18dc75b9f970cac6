package io.handoff.loadtest;

import io.handoff.client.HandoffException;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.Offer;
import io.handoff.protocol.v1.OfferOutcome;
import io.handoff.protocol.v1.OfferResult;
import java.util.concurrent.CompletionException;
import java.util.function.Consumer;

/**
 * One offer of the handoff scenario ({@link HandoffRun}) from its send to its end: which targets
 * got its prompt, how each accept was answered, who was told it was withdrawn, and the offerer's
 * result; at its end it checks them (exactly one winner, named to the losers and to the offerer)
 * and counts. Mutable state guarded by {@code this}; {@link #end} runs once.
 */
final class OfferTrack {
  private static final byte NO_ANSWER = 0;
  private static final byte GRANTED = 1;
  private static final byte WITHDRAWN = 2;
  private static final byte FAILED = 3;

  final long index;
  final long intendedNanos;
  final long sentNanos = System.nanoTime();
  final int user;
  final int offerer;
  private final HandoffCounts counts;
  private final Stats stats;
  private final Consumer<OfferTrack> ended;
  private final boolean[] prompted;
  private final long[] acceptSentNanos;
  private final byte[] answers;
  private final String[] withdrawnBy;
  private String offerId;
  private boolean resultDone;
  private OfferResult result;
  private Throwable resultError;
  private boolean refusedOffer;
  private int promptCount;
  private int answerCount;
  private boolean over;
  // The slot whose accept won, once the offer ended with one winner; -1 until then.
  private int winner = -1;

  /**
   * Offer {@code index} of {@code user}, sent by its device {@code offerer} of {@code devices};
   * {@code ended} is called once, when it ends, to let the user send its next offer.
   */
  OfferTrack(
      long index,
      long intendedNanos,
      int user,
      int offerer,
      int devices,
      HandoffCounts counts,
      Stats stats,
      Consumer<OfferTrack> ended) {
    this.index = index;
    this.intendedNanos = intendedNanos;
    this.user = user;
    this.offerer = offerer;
    this.counts = counts;
    this.stats = stats;
    this.ended = ended;
    this.prompted = new boolean[devices];
    this.acceptSentNanos = new long[devices];
    this.answers = new byte[devices];
    this.withdrawnBy = new String[devices];
  }

  synchronized String offerId() {
    return offerId;
  }

  void created(Offer offer, Throwable error) {
    synchronized (this) {
      if (error == null) {
        offerId = offer.getOfferId();
        counts.created.increment();
        return;
      }
      refusedOffer = true;
    }
    counts.refused.increment();
    stats.sample("offer " + index + " refused: " + unwrap(error).getMessage());
    end(false);
  }

  void result(OfferResult r, Throwable error) {
    synchronized (this) {
      resultDone = true;
      result = r;
      resultError = error;
    }
    end(false);
  }

  /** Records the prompt at {@code slot}; false if it had arrived before. */
  synchronized boolean prompted(int slot, String id, long nowNanos) {
    if (prompted[slot] || over) {
      return false;
    }
    if (offerId == null) {
      offerId = id; // The prompt can overtake the offerer's OfferCreated (another event loop).
    }
    prompted[slot] = true;
    promptCount++;
    acceptSentNanos[slot] = nowNanos;
    return true;
  }

  void answered(Device target, Throwable error, long nowNanos) {
    int slot = target.slot;
    String failure = null;
    synchronized (this) {
      if (over) {
        return;
      }
      answerCount++;
      if (error == null) {
        answers[slot] = GRANTED;
        if (intendedNanos >= stats.measureFromNanos) {
          counts.acceptLatency.recordValue(Math.max(0, nowNanos - acceptSentNanos[slot]) / 1_000);
        }
      } else if (unwrap(error) instanceof HandoffException h
          && h.errorCode() == ErrorCode.OFFER_WITHDRAWN) {
        answers[slot] = WITHDRAWN;
      } else {
        answers[slot] = FAILED;
        failure = unwrap(error).toString();
      }
    }
    if (error != null && failure == null) {
      counts.withdrawnErrors.increment();
    }
    if (failure != null) {
      counts.acceptErrors.increment();
      stats.sample("accept of offer " + index + " on device " + target.index + ": " + failure);
    }
    end(false);
  }

  void withdrawn(int slot, OfferOutcome outcome, String byDevice) {
    synchronized (this) {
      if (over) {
        return;
      }
      withdrawnBy[slot] = outcome == OfferOutcome.ACCEPTED ? byDevice : "(" + outcome + ")";
    }
    counts.withdrawnPushes.increment();
  }

  /**
   * A withdrawal of this offer that reached {@code slot} after its client stopped showing the
   * prompt: if the offer is still going it is checked at the end as any other; after the end, one
   * that reaches the winner is counted wrong here. False if it is neither (a stray one).
   */
  boolean withdrawnAfterTheEnd(int slot, OfferOutcome outcome, String byDevice) {
    synchronized (this) {
      if (!over) {
        withdrawnBy[slot] = outcome == OfferOutcome.ACCEPTED ? byDevice : "(" + outcome + ")";
        return true;
      }
      if (slot != winner) {
        return false;
      }
    }
    counts.wrongWithdrawals.increment();
    stats.sample(this + ": the winner d" + slot + " was also told it was withdrawn");
    return true;
  }

  /**
   * Ends the offer if everything has arrived, or at once with {@code force}: checks the winner and
   * counts, then lets its user send the next offer.
   */
  void end(boolean force) {
    synchronized (this) {
      if (over) {
        return;
      }
      int targets = prompted.length - 1;
      boolean complete =
          refusedOffer || (resultDone && promptCount == targets && answerCount == targets);
      if (!complete && !force) {
        return;
      }
      over = true;
      check(force && !complete);
    }
    counts.finished.increment();
    ended.accept(this);
  }

  // Holds the monitor.
  private void check(boolean timeout) {
    if (timeout) {
      counts.timedOut.increment();
    }
    if (refusedOffer) {
      return;
    }
    int targets = prompted.length - 1;
    counts.missingPrompts.add(targets - promptCount);
    if (targets - promptCount > 0) {
      stats.sample(this + ": " + (targets - promptCount) + " targets never got the prompt");
    }
    int grants = 0;
    int winner = -1;
    for (int s = 0; s < answers.length; s++) {
      if (answers[s] == GRANTED) {
        grants++;
        winner = s;
      } else if (prompted[s] && answers[s] == NO_ANSWER) {
        counts.unanswered.increment();
        stats.sample(this + ": the accept of device d" + s + " was never answered");
      }
    }
    if (grants == 0) {
      counts.noWinner.increment();
      stats.sample(this + ": no accept won");
      return;
    }
    if (grants > 1) {
      counts.extraWinners.add(grants - 1);
      stats.sample(this + ": " + grants + " accepts won");
      return;
    }
    this.winner = winner;
    counts.winners.increment();
    if (intendedNanos >= stats.measureFromNanos && intendedNanos < stats.measureToNanos) {
      counts.winnersInWindow.increment();
    }
    String winnerId = Device.deviceIdOf(winner);
    if (withdrawnBy[winner] != null) {
      counts.wrongWithdrawals.increment();
      stats.sample(this + ": the winner d" + winner + " was also told it was withdrawn");
    }
    for (int s = 0; s < withdrawnBy.length; s++) {
      if (s != winner && withdrawnBy[s] != null && !withdrawnBy[s].equals(winnerId)) {
        counts.wrongWithdrawals.increment();
        stats.sample(
            this + ": d" + s + " was told " + withdrawnBy[s] + " took it, not " + winnerId);
      }
    }
    if (resultError != null) {
      counts.resultMismatches.increment();
      stats.sample(this + ": the offerer's result failed: " + unwrap(resultError).getMessage());
    } else if (!resultDone) {
      counts.resultMismatches.increment();
      stats.sample(this + ": the offerer never got its result");
    } else if (result.getOutcome() != OfferOutcome.ACCEPTED
        || !result.getByDevice().equals(winnerId)) {
      counts.resultMismatches.increment();
      stats.sample(
          this
              + ": the offerer's result is "
              + result.getOutcome()
              + " by "
              + result.getByDevice()
              + ", but "
              + winnerId
              + " won");
    }
  }

  @Override
  public String toString() {
    return "offer " + index + " (user " + user + ", from d" + offerer + ")";
  }

  private static Throwable unwrap(Throwable t) {
    return t instanceof CompletionException && t.getCause() != null ? t.getCause() : t;
  }
}
