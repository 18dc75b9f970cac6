package io.handoff.server;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAccumulator;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.IntSupplier;

/**
 * Counters of one node, updated from any thread without locks, and registered with a Micrometer
 * registry so that {@code /metrics} exports them (names in docs/operations.md). Tests read the
 * fields directly.
 */
public final class ServerStats {
  public final LongAdder connectionsOpened = new LongAdder();
  public final LongAdder connectionsClosed = new LongAdder();
  public final LongAdder authFailures = new LongAdder();
  public final LongAdder writesApplied = new LongAdder();
  public final LongAdder writesRefused = new LongAdder();
  public final LongAdder writesRateLimited = new LongAdder();

  /** Writes answered OUTCOME_UNKNOWN: no answer from the store in time, or replicas unconfirmed. */
  public final LongAdder writesOutcomeUnknown = new LongAdder();

  public final LongAdder connectsRateLimited = new LongAdder();

  /**
   * Follow and Resync requests refused: over the connection's rate (RATE_LIMITED), and with too
   * many already waiting behind the one being read (TOO_MANY_IN_FLIGHT).
   */
  public final LongAdder syncRequestsRateLimited = new LongAdder();

  public final LongAdder syncRequestsOverWaiting = new LongAdder();

  /**
   * Device requests (ListDevices, RevokeDevice, RefreshToken, VerifyUserCode, AnswerApproval)
   * refused: over the connection's rate (RATE_LIMITED), and with the most already waiting for their
   * answers, or a RefreshToken while the connection's previous one is still checked
   * (TOO_MANY_IN_FLIGHT).
   */
  public final LongAdder deviceRequestsRateLimited = new LongAdder();

  public final LongAdder deviceRequestsOverInFlight = new LongAdder();

  /**
   * Requests to the HTTP API under /v1/ refused with 429 for their caller's rate: a user's (routes
   * with an access token), and an address's (routes without, and requests whose token is refused).
   */
  public final LongAdder apiRequestsRefusedForUser = new LongAdder();

  public final LongAdder apiRequestsRefusedForAddress = new LongAdder();

  /** Documents read from the store to answer Follow and Resync requests. */
  public final LongAdder syncDocumentReads = new LongAdder();

  public final LongAdder deltasOut = new LongAdder();
  public final LongAdder snapshotsOut = new LongAdder();
  public final LongAdder resumesWithDeltas = new LongAdder();
  public final LongAdder resumesWithSnapshot = new LongAdder();

  /** Hellos closed with UNAVAILABLE, unread, because the node's resume reads and line were full. */
  public final LongAdder resumesRefused = new LongAdder();

  /** Hellos closed with UNAVAILABLE because the store failed their resume (timeout, error). */
  public final LongAdder resumesFailed = new LongAdder();

  // The node's line of resumes, once it is made: its shards read one at a time now.
  private volatile IntSupplier resumeShardsStalled = () -> 0;

  /**
   * Catch-up reads (a connection's read of one followed document from its cursor) sent again after
   * a timeout; see {@code ReadRetry}.
   */
  public final LongAdder catchUpReadsRetried = new LongAdder();

  /**
   * Reads of a Follow or Resync (one document's, or the listing a prefix needs) sent again after a
   * timeout; see {@code ReadRetry}.
   */
  public final LongAdder syncReadsRetried = new LongAdder();

  /**
   * Devices closed for not reading: over their own bound, by the node's queue budget, and with a
   * socket full and unread for two heartbeat intervals.
   */
  public final LongAdder slowConsumerCloses = new LongAdder();

  public final LongAdder slowConsumerBudgetCloses = new LongAdder();
  public final LongAdder slowConsumerStalledCloses = new LongAdder();
  public final LongAdder protocolErrorCloses = new LongAdder();

  /**
   * Upgrades refused for what they sent (a Hello in the upgrade that cannot be used, a request that
   * is no handshake), each closed with its HTTP status: the same family as the frames that close a
   * connection after the 101, under another stage.
   */
  public final LongAdder upgradesRefused = new LongAdder();

  public final LongAdder idleCloses = new LongAdder();

  /**
   * Snapshots sent because the device's copy was not the store's: same epoch but another history
   * (the store lost writes the device had), and a new epoch (the store lost the whole history).
   */
  public final LongAdder divergenceResyncs = new LongAdder();

  public final LongAdder epochResyncs = new LongAdder();

  // Device sessions and tokens.
  public final LongAdder signIns = new LongAdder();
  public final LongAdder signInsRefused = new LongAdder();
  public final LongAdder refreshes = new LongAdder();
  public final LongAdder refreshesRefused = new LongAdder();

  /** Refreshes that presented the previous token within the reuse interval (a retry). */
  public final LongAdder refreshRetries = new LongAdder();

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

  public final LongAdder activitiesPublished = new LongAdder();
  public final LongAdder offersCreated = new LongAdder();

  /** Offers by outcome, counted once each by the node whose request ended the offer. */
  public final LongAdder offersAccepted = new LongAdder();

  public final LongAdder offersDeclined = new LongAdder();
  public final LongAdder offersCancelled = new LongAdder();
  public final LongAdder offersExpired = new LongAdder();

  /** Handoff transition time: offer created to accepted. */
  private final Timer handoffTransition;

  /** The most bytes ever queued for one connection at once. */
  public final LongAccumulator maxQueuedBytes = new LongAccumulator(Math::max, 0);

  /**
   * Bytes of write frames the node's connections have handed to the store and not yet had answered
   * (bounded by {@link ServerConfig#maxNodeInFlightWriteBytes()}).
   */
  public final AtomicLong writeBytesInFlight = new AtomicLong();

  /** From a write accepted (its delta's timestamp) to its live delta handed to another device. */
  private final Timer syncLag;

  /** Stats that nothing exports (tests, tools). */
  public ServerStats() {
    this(new SimpleMeterRegistry());
  }

  public ServerStats(MeterRegistry registry) {
    counter(
        registry,
        "handoff.connections.opened",
        connectionsOpened,
        "WebSocket connections opened (upgrades)");
    counter(registry, "handoff.connections.closed", connectionsClosed, "connections closed");
    counter(registry, "handoff.auth.failures", authFailures, "upgrades refused for their token");
    counter(registry, "handoff.writes.applied", writesApplied, "writes accepted (deltas in)");
    counter(
        registry,
        "handoff.writes.refused",
        writesRefused,
        "writes answered with an error that says they were not applied (not RATE_LIMITED)");
    counter(
        registry,
        "handoff.writes.outcome.unknown",
        writesOutcomeUnknown,
        "writes answered OUTCOME_UNKNOWN (applied or not: the device re-sends them)");
    counter(
        registry,
        "handoff.writes.rate.limited",
        writesRateLimited,
        "writes refused for the per-connection rate");
    counter(
        registry,
        "handoff.connects.rate.limited",
        connectsRateLimited,
        "upgrades refused for the per-address rate");
    FunctionCounter.builder(
            "handoff.sync.requests.refused", syncRequestsRateLimited, LongAdder::doubleValue)
        .tag("reason", "rate")
        .description("Follow and Resync requests refused")
        .register(registry);
    FunctionCounter.builder(
            "handoff.sync.requests.refused", syncRequestsOverWaiting, LongAdder::doubleValue)
        .tag("reason", "waiting")
        .description("Follow and Resync requests refused")
        .register(registry);
    FunctionCounter.builder(
            "handoff.device.requests.refused", deviceRequestsRateLimited, LongAdder::doubleValue)
        .tag("reason", "rate")
        .description("device and approval requests refused")
        .register(registry);
    FunctionCounter.builder(
            "handoff.device.requests.refused", deviceRequestsOverInFlight, LongAdder::doubleValue)
        .tag("reason", "in_flight")
        .description("device and approval requests refused")
        .register(registry);
    FunctionCounter.builder(
            "handoff.api.requests.refused", apiRequestsRefusedForUser, LongAdder::doubleValue)
        .tag("caller", "user")
        .description("HTTP API requests refused for their caller's rate")
        .register(registry);
    FunctionCounter.builder(
            "handoff.api.requests.refused", apiRequestsRefusedForAddress, LongAdder::doubleValue)
        .tag("caller", "address")
        .description("HTTP API requests refused for their caller's rate")
        .register(registry);
    counter(
        registry,
        "handoff.sync.document.reads",
        syncDocumentReads,
        "documents read from the store to answer Follow and Resync requests");
    counter(registry, "handoff.deltas.out", deltasOut, "deltas sent to devices");
    counter(registry, "handoff.snapshots.out", snapshotsOut, "snapshots sent to devices");
    FunctionCounter.builder("handoff.resumes", resumesWithDeltas, LongAdder::doubleValue)
        .tag("mode", "deltas")
        .description("documents resumed with only the missed deltas")
        .register(registry);
    FunctionCounter.builder("handoff.resumes", resumesWithSnapshot, LongAdder::doubleValue)
        .tag("mode", "snapshot")
        .description("documents resumed with a snapshot (history did not reach back)")
        .register(registry);
    counter(
        registry,
        "handoff.resumes.refused",
        resumesRefused,
        "Hellos closed with UNAVAILABLE before their resume was read: the node's resume reads in"
            + " flight and waiting were at their limits");
    counter(
        registry,
        "handoff.resumes.failed",
        resumesFailed,
        "Hellos closed with UNAVAILABLE because the store failed their resume (a timeout, an"
            + " error)");
    Gauge.builder("handoff.resume.shards.stalled", this, ServerStats::resumeShardsStalled)
        .description(
            "shards of the store (Cluster masters) whose resume reads the node sends one at a time"
                + " now, their last one having timed out")
        .register(registry);
    counter(
        registry,
        "handoff.catch.up.reads.retried",
        catchUpReadsRetried,
        "catch-up reads of a followed document sent again after the store did not answer in time");
    counter(
        registry,
        "handoff.sync.reads.retried",
        syncReadsRetried,
        "reads of a Follow or Resync sent again after the store did not answer in time");
    FunctionCounter.builder(
            "handoff.slow.consumer.disconnects", slowConsumerCloses, LongAdder::doubleValue)
        .tag("reason", "connection_limit")
        .description("devices closed for not reading")
        .register(registry);
    FunctionCounter.builder(
            "handoff.slow.consumer.disconnects", slowConsumerBudgetCloses, LongAdder::doubleValue)
        .tag("reason", "node_budget")
        .description("devices closed for not reading")
        .register(registry);
    FunctionCounter.builder(
            "handoff.slow.consumer.disconnects", slowConsumerStalledCloses, LongAdder::doubleValue)
        .tag("reason", "stalled")
        .description("devices closed for not reading")
        .register(registry);
    FunctionCounter.builder(
            "handoff.protocol.error.closes", protocolErrorCloses, LongAdder::doubleValue)
        .tag("stage", "websocket")
        .description("connections closed for what they sent")
        .register(registry);
    FunctionCounter.builder(
            "handoff.protocol.error.closes", upgradesRefused, LongAdder::doubleValue)
        .tag("stage", "upgrade")
        .description("connections closed for what they sent")
        .register(registry);
    counter(registry, "handoff.idle.closes", idleCloses, "connections closed for silence");
    FunctionCounter.builder("handoff.divergence.resyncs", divergenceResyncs, LongAdder::doubleValue)
        .tag("reason", "diverged")
        .description("snapshots sent to devices whose copy differed from the store's history")
        .register(registry);
    FunctionCounter.builder("handoff.divergence.resyncs", epochResyncs, LongAdder::doubleValue)
        .tag("reason", "epoch_changed")
        .description("snapshots sent to devices whose copy differed from the store's history")
        .register(registry);
    counter(registry, "handoff.sign.ins", signIns, "device sessions created (POST /v1/sessions)");
    counter(registry, "handoff.sign.ins.refused", signInsRefused, "sign-ins refused");
    counter(registry, "handoff.refreshes", refreshes, "refresh-token rotations (POST /v1/token)");
    counter(registry, "handoff.refreshes.refused", refreshesRefused, "refresh grants refused");
    counter(
        registry,
        "handoff.refresh.retries",
        refreshRetries,
        "refreshes answered with the same successor within the reuse interval");
    counter(registry, "handoff.in.band.refreshes", inBandRefreshes, "tokens renewed on a socket");
    counter(
        registry,
        "handoff.token.expired.closes",
        tokenExpiredCloses,
        "sockets closed for an unrenewed token");
    counter(registry, "handoff.devices.revoked", devicesRevoked, "device sessions revoked");
    counter(registry, "handoff.users.erased", usersErased, "users erased (DELETE /v1/me)");
    FunctionCounter.builder("handoff.anomalies", anomalyRefreshTokenReuse, LongAdder::doubleValue)
        .tag("kind", "refresh_token_reuse")
        .description("security anomalies by kind")
        .register(registry);
    FunctionCounter.builder("handoff.anomalies", anomalyRevokedTokenUse, LongAdder::doubleValue)
        .tag("kind", "revoked_token_use")
        .description("security anomalies by kind")
        .register(registry);
    FunctionCounter.builder("handoff.anomalies", anomalySignInBurst, LongAdder::doubleValue)
        .tag("kind", "sign_in_burst")
        .description("security anomalies by kind")
        .register(registry);
    Gauge.builder("handoff.connections", this, ServerStats::openConnections)
        .description("connections open now")
        .register(registry);
    Gauge.builder("handoff.queued.bytes.max", maxQueuedBytes, LongAccumulator::doubleValue)
        .description("the most bytes ever queued for one connection")
        .register(registry);
    Gauge.builder("handoff.writes.in.flight.bytes", writeBytesInFlight, AtomicLong::doubleValue)
        .description("bytes of writes handed to the store and not yet answered")
        .register(registry);
    counter(registry, "handoff.activities.published", activitiesPublished, "activities published");
    counter(registry, "handoff.offers.created", offersCreated, "handoff offers created");
    offers(registry, "accepted", offersAccepted);
    offers(registry, "declined", offersDeclined);
    offers(registry, "cancelled", offersCancelled);
    offers(registry, "expired", offersExpired);
    handoffTransition =
        Timer.builder("handoff.transition")
            .description("handoff offer created to accepted")
            .publishPercentileHistogram()
            .minimumExpectedValue(Duration.ofMillis(1))
            .maximumExpectedValue(Duration.ofMinutes(10))
            .register(registry);
    syncLag =
        Timer.builder("handoff.sync.lag")
            .description("write accepted to its delta handed to another device's connection")
            .publishPercentileHistogram()
            .minimumExpectedValue(Duration.ofNanos(100_000))
            .maximumExpectedValue(Duration.ofSeconds(10))
            .register(registry);
  }

  private static void offers(MeterRegistry r, String outcome, LongAdder adder) {
    FunctionCounter.builder("handoff.offers.ended", adder, LongAdder::doubleValue)
        .tag("outcome", outcome)
        .description("handoff offers by how they ended")
        .register(r);
  }

  /** Counts a snapshot sent for {@code reason} if it was a resync after lost history. */
  public void countResync(io.handoff.protocol.v1.DocumentSync.Reason reason) {
    switch (reason) {
      case DIVERGED -> divergenceResyncs.increment();
      case EPOCH_CHANGED -> epochResyncs.increment();
      default -> {}
    }
  }

  /** Records one handoff: {@code millis} from the offer's creation to its accept. */
  public void recordHandoffTransition(long millis) {
    handoffTransition.record(Math.max(0, millis), TimeUnit.MILLISECONDS);
  }

  /** Handoffs recorded so far, for tests. */
  public long handoffTransitions() {
    return handoffTransition.count();
  }

  private static void counter(MeterRegistry r, String name, LongAdder adder, String description) {
    FunctionCounter.builder(name, adder, LongAdder::doubleValue)
        .description(description)
        .register(r);
  }

  /** Records the sync lag of a delta written at {@code writtenAtMillis} (the writer's clock). */
  public void recordSyncLag(long writtenAtMillis) {
    long lag = System.currentTimeMillis() - writtenAtMillis;
    syncLag.record(Math.max(0, lag), TimeUnit.MILLISECONDS);
  }

  /**
   * The shards of the store (a Redis Cluster's masters; the store itself otherwise) whose resume
   * reads the node's line sends one at a time now, the last of them having timed out.
   */
  public int resumeShardsStalled() {
    return resumeShardsStalled.getAsInt();
  }

  /** Has {@link #resumeShardsStalled} read {@code line}: the node's line of resumes. */
  public void resumeShardsStalled(IntSupplier line) {
    resumeShardsStalled = line;
  }

  /** WebSocket connections open now (HTTP requests such as the metrics scrape are not counted). */
  public long openConnections() {
    // Closes first: a close is counted after its connection's open, so every close this read sees
    // has its open in the later read. Opens first, a connection opened after that read and closed
    // before the next would count as -1.
    long closed = connectionsClosed.sum();
    return connectionsOpened.sum() - closed;
  }
}
