package io.handoff.server.handoff;

import io.handoff.protocol.bus.v1.UserSignal;
import io.handoff.protocol.v1.DevicePresence;
import io.handoff.server.ServerConfig;
import io.handoff.server.ServerStats;
import io.handoff.server.engine.Engine;
import io.handoff.server.session.Hub;
import io.handoff.server.session.SessionHandler;
import io.handoff.server.sync.Broker;
import io.handoff.server.sync.DocumentStore;
import io.handoff.server.sync.WriteValidator;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The node's part of activities, offers and presence: what every {@link HandoffSession} shares, and
 * the presence keeper.
 *
 * <p>The keeper runs on its own timer thread and keeps every user once every sixth of the presence
 * TTL, spread over twenty slices of that period so the store sees no burst. For each user with a
 * session here it refreshes the presence entries of this node's live devices (deadline: half the
 * TTL ahead, so two missed refreshes are fine), then re-reads the user's presence and hands it to
 * the user's sessions, which push what changed. So a device of a node that died reads offline
 * everywhere within the TTL, without any message from the dead node. {@link #stop()} ends the
 * keeper and every store write of this node's sessions, as a crash would.
 */
public final class HandoffService {
  private static final Logger log = LoggerFactory.getLogger(HandoffService.class);
  private static final int KEEPER_BATCH = 256;
  private static final int KEEPER_SLICES = 20;

  final ServerConfig config;
  final HandoffLimits limits;
  final HandoffStore store;
  final DocumentStore documents;
  final Broker broker;
  final ServerStats stats;
  final WriteValidator validator;
  private final SecureRandom random = new SecureRandom();
  private final AtomicLong connections = new AtomicLong();
  private final ScheduledExecutorService timer;
  private volatile Hub hub;
  // The keeper's current round: users still to keep this period, and how many per slice. Keeper
  // thread only.
  private final java.util.ArrayDeque<String> round = new java.util.ArrayDeque<>();
  private int perSlice;
  private volatile boolean stopped;

  public HandoffService(ServerConfig config, Engine engine, ServerStats stats) {
    this.config = config;
    this.limits = config.handoffLimits();
    this.store = engine.handoff();
    this.documents = engine.store();
    this.broker = engine.broker();
    this.stats = stats;
    this.validator = new WriteValidator(config.storeLimits());
    this.timer =
        Executors.newSingleThreadScheduledExecutor(
            r -> {
              Thread t = new Thread(r, "handoff-presence-" + config.nodeId());
              t.setDaemon(true);
              return t;
            });
  }

  /** Starts the presence keeper over {@code hub}'s sessions. */
  public void start(Hub hub) {
    this.hub = hub;
    // Every user is kept once a period, a slice at a time, so the store sees a steady trickle
    // instead of a burst per period that would queue the writes behind it.
    long period = Math.max(10, limits.presenceTtl().toMillis() / 6);
    long slice = Math.max(1, period / KEEPER_SLICES);
    timer.scheduleWithFixedDelay(this::keepSlice, slice, slice, TimeUnit.MILLISECONDS);
  }

  /** Stops the keeper; this node's sessions no longer write to the store. Idempotent. */
  public void stop() {
    stopped = true;
    timer.shutdownNow();
  }

  boolean stopped() {
    return stopped;
  }

  /**
   * How far ahead a presence refresh sets the deadline: half the TTL. With a refresh every sixth, a
   * dead node's devices read offline everywhere within two thirds of the TTL.
   */
  Duration entryTtl() {
    return limits.presenceTtl().dividedBy(2);
  }

  String newConnectionId() {
    return config.nodeId() + "/" + connections.incrementAndGet();
  }

  String newOfferId() {
    byte[] b = new byte[16];
    random.nextBytes(b);
    return HexFormat.of().formatHex(b);
  }

  void signal(String userId, UserSignal.Builder signal) {
    if (!stopped) {
      broker.signal(userId, signal.setOriginNode(config.nodeId()).build());
    }
  }

  /** Keeps the next slice of this node's users: over KEEPER_SLICES calls, every user once. */
  private void keepSlice() {
    Hub h = hub;
    if (h == null || stopped) {
      return;
    }
    try {
      if (round.isEmpty()) {
        round.addAll(h.userIds());
        perSlice = Math.max(1, (round.size() + KEEPER_SLICES - 1) / KEEPER_SLICES);
      }
      for (int done = 0; done < perSlice && !round.isEmpty() && !stopped; ) {
        List<CompletableFuture<?>> batch = new ArrayList<>();
        while (batch.size() < KEEPER_BATCH && done < perSlice && !round.isEmpty()) {
          batch.add(keepUser(h, round.poll()));
          done++;
        }
        CompletableFuture.allOf(batch.toArray(new CompletableFuture<?>[0]))
            .orTimeout(limits.presenceTtl().toMillis(), TimeUnit.MILLISECONDS)
            .exceptionally(e -> null)
            .join();
      }
    } catch (RuntimeException e) {
      log.warn("presence refresh failed: {}", e.toString());
    }
  }

  private CompletableFuture<?> keepUser(Hub h, String user) {
    List<SessionHandler> sessions = h.sessionsOf(user);
    List<CompletableFuture<?>> refreshes = new ArrayList<>();
    for (SessionHandler s : sessions) {
      HandoffSession hs = s.handoff();
      if (hs.isOnline()) {
        refreshes.add(
            store.online(
                user,
                s.deviceId(),
                hs.connectionId(),
                entryTtl(),
                config.storeLimits().maxDevicesPerUser()));
      }
    }
    return CompletableFuture.allOf(refreshes.toArray(new CompletableFuture<?>[0]))
        .thenCompose(v -> store.presence(user))
        .thenAccept(
            (List<DevicePresence> all) -> {
              for (SessionHandler s : sessions) {
                s.handoff().presenceRead(all);
              }
            })
        .exceptionally(
            e -> {
              log.debug("presence refresh of {} failed: {}", user, e.toString());
              return null;
            });
  }
}
