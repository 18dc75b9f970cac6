package io.handoff.server;

import java.util.concurrent.atomic.LongAccumulator;
import java.util.concurrent.atomic.LongAdder;
import org.HdrHistogram.Recorder;

/**
 * Counters of one node, updated from any thread without locks. Read by tests and, later, exported
 * through the metrics endpoint.
 */
public final class ServerStats {
  public final LongAdder connectionsOpened = new LongAdder();
  public final LongAdder connectionsClosed = new LongAdder();
  public final LongAdder authFailures = new LongAdder();
  public final LongAdder writesApplied = new LongAdder();
  public final LongAdder writesRefused = new LongAdder();
  public final LongAdder deltasOut = new LongAdder();
  public final LongAdder snapshotsOut = new LongAdder();
  public final LongAdder resumesWithDeltas = new LongAdder();
  public final LongAdder resumesWithSnapshot = new LongAdder();
  public final LongAdder slowConsumerCloses = new LongAdder();
  public final LongAdder protocolErrorCloses = new LongAdder();
  public final LongAdder idleCloses = new LongAdder();

  public final LongAdder activitiesPublished = new LongAdder();
  public final LongAdder offersCreated = new LongAdder();

  /** Offers by outcome, counted once each by the node whose request ended the offer. */
  public final LongAdder offersAccepted = new LongAdder();

  public final LongAdder offersDeclined = new LongAdder();
  public final LongAdder offersCancelled = new LongAdder();
  public final LongAdder offersExpired = new LongAdder();

  /** Handoff transition time: offer created to accepted, in milliseconds. */
  public final Recorder handoffTransitionMillis = new Recorder(3);

  /** The most bytes ever queued for one connection at once. */
  public final LongAccumulator maxQueuedBytes = new LongAccumulator(Math::max, 0);

  /** Connections open now (upgraded or still in HTTP). */
  public long openConnections() {
    return connectionsOpened.sum() - connectionsClosed.sum();
  }
}
