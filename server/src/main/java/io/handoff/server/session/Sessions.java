package io.handoff.server.session;

import io.handoff.protocol.v1.Ping;
import io.handoff.protocol.v1.Pong;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.protocol.v1.Welcome;
import io.handoff.server.Scheduler;
import io.handoff.server.ServerConfig;
import io.handoff.server.ServerStats;
import io.handoff.server.auth.Principal;
import io.handoff.server.auth.TokenVerifier;
import io.handoff.server.devices.ApprovalPrompts;
import io.handoff.server.devices.DeviceApprovals;
import io.handoff.server.devices.DeviceSessions;
import io.handoff.server.devices.TokenKeeper;
import io.handoff.server.engine.ResumeStore;
import io.handoff.server.handoff.HandoffService;
import io.handoff.server.handoff.HandoffSession;
import io.handoff.server.sync.DocumentSession;
import io.handoff.server.sync.DocumentStore;
import io.handoff.server.sync.WriteValidator;
import io.handoff.server.transport.Endpoint;
import io.netty.channel.EventLoop;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

/**
 * The node's side of every session: what each connection's {@link Session} shares (config, stats,
 * time, the {@link Hub}, the stores and services of each feature), and the factory the transport
 * calls for each new connection. Thread-safe and immutable.
 */
public final class Sessions implements Supplier<Endpoint> {
  private final ServerConfig config;
  private final ServerStats stats;
  private final Scheduler time;
  private final Hub hub;
  private final DocumentSession.Node documents;
  private final ResumeStore resumes;
  private final HandoffService handoff;
  private final DeviceSessions devices;
  private final TokenKeeper.Node tokens;
  // One per event loop that has had a connection: as many as the node has loops.
  private final ConcurrentHashMap<EventLoop, LoopDrainer> drainers = new ConcurrentHashMap<>();
  private final Outbox.Shared outboxes;
  private final ResumeSlots resumeSlots;
  private final AtomicLong opened = new AtomicLong();

  public Sessions(
      ServerConfig config,
      ServerStats stats,
      Scheduler time,
      Hub hub,
      DocumentStore documents,
      ResumeStore resumes,
      HandoffService handoff,
      DeviceSessions devices,
      TokenVerifier verifier,
      QueueBudget budget) {
    this.config = config;
    this.stats = stats;
    this.time = time;
    this.hub = hub;
    this.resumes = resumes;
    this.documents =
        new DocumentSession.Node(
            documents, new WriteValidator(config.storeLimits()), config, stats);
    this.handoff = handoff;
    this.devices = devices;
    this.tokens = new TokenKeeper.Node(verifier, devices, config);
    this.outboxes = new Outbox.Shared(config, stats, budget);
    this.resumeSlots =
        new ResumeSlots(
            config.maxResumesInFlight(),
            config.maxResumesWaiting(),
            stats.resumesRefused,
            stats.resumesFailed,
            resumes::shardOf,
            resumes::hasShard);
    stats.resumeShardsStalled(resumeSlots::stalledShards);
  }

  /** A session for a new connection. */
  @Override
  public Endpoint get() {
    return new Session(this);
  }

  ServerConfig config() {
    return config;
  }

  ServerStats stats() {
    return stats;
  }

  Scheduler time() {
    return time;
  }

  Hub hub() {
    return hub;
  }

  /** Reads everything a Hello needs in one store call. */
  ResumeStore resumes() {
    return resumes;
  }

  /**
   * The part of a Welcome that is the node's: who it is for, the node, its heartbeat and frames,
   * and that it reads a Hello in the upgrade.
   */
  Welcome.Builder welcome(String userId, String deviceId) {
    return Welcome.newBuilder()
        .setUserId(userId)
        .setDeviceId(deviceId)
        .setNodeId(config.nodeId())
        .setHeartbeatIntervalMs((int) config.heartbeatInterval().toMillis())
        .setMaxFrameBytes(config.maxFrameBytes())
        .setHelloInUpgrade(true);
  }

  /** The answer to a device's Ping, with the node's time. */
  ServerFrame pong(long requestId, Ping ping) {
    Pong pong =
        Pong.newBuilder().setNonce(ping.getNonce()).setServerTimeMs(time.clock().millis()).build();
    return ServerFrame.newBuilder().setRequestId(requestId).setPong(pong).build();
  }

  /**
   * The next connection's number, taken as a connection is set up on its event loop: one opened
   * after another's 101 has a larger one (connections opened close together may be set up out of
   * order).
   */
  long nextOpened() {
    return opened.incrementAndGet();
  }

  /** The node's bound on resumes being read. */
  ResumeSlots resumeSlots() {
    return resumeSlots;
  }

  /** The drain task of {@code loop}, shared by every connection on it. */
  LoopDrainer drainer(EventLoop loop) {
    return drainers.computeIfAbsent(loop, LoopDrainer::new);
  }

  /** What every connection's outbox shares. */
  Outbox.Shared outboxes() {
    return outboxes;
  }

  DocumentSession documents(Connection c) {
    return new DocumentSession(c, documents);
  }

  HandoffSession handoff(Connection c) {
    return handoff.session(c);
  }

  TokenKeeper tokens(Connection c, Principal principal) {
    return new TokenKeeper(c, principal, tokens);
  }

  /** {@code welcomed}: made after the connection's Welcome. */
  ApprovalPrompts approvals(Connection c, TokenKeeper tokens, boolean welcomed) {
    return new ApprovalPrompts(devices.approvals(), c, tokens, welcomed);
  }

  /** The node's device approvals; null when the node has none. */
  DeviceApprovals deviceApprovals() {
    return devices.approvals();
  }
}
