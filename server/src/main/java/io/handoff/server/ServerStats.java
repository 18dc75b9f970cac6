package io.handoff.server;

import java.util.concurrent.atomic.LongAccumulator;
import java.util.concurrent.atomic.LongAdder;

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

  // Device sessions and tokens (issue 4).
  public final LongAdder signIns = new LongAdder();
  public final LongAdder signInsRefused = new LongAdder();
  public final LongAdder refreshes = new LongAdder();
  public final LongAdder refreshesRefused = new LongAdder();
  public final LongAdder inBandRefreshes = new LongAdder();
  public final LongAdder tokenExpiredCloses = new LongAdder();
  public final LongAdder devicesRevoked = new LongAdder();
  public final LongAdder usersErased = new LongAdder();

  /** Anomaly: a rotated-out refresh token came back (its session was revoked). */
  public final LongAdder anomalyRefreshTokenReuse = new LongAdder();

  /** Anomaly: a token of a revoked device session was used (refresh, upgrade or API). */
  public final LongAdder anomalyRevokedTokenUse = new LongAdder();

  /** Anomaly: more sign-ins for one user than the burst limit allows within its window. */
  public final LongAdder anomalySignInBurst = new LongAdder();

  /** The most bytes ever queued for one connection at once. */
  public final LongAccumulator maxQueuedBytes = new LongAccumulator(Math::max, 0);

  /** Connections open now (upgraded or still in HTTP). */
  public long openConnections() {
    return connectionsOpened.sum() - connectionsClosed.sum();
  }
}
