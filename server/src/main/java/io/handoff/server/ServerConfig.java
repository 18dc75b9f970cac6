// Over 600 lines because every node setting has its constant, field, accessor, checked builder
// setter and toString entry here, one flat list; settings that form a group of their own are
// classes of their own (TransportConfig, StoreLimits, TokenConfig, HandoffLimits, ApprovalConfig).
package io.handoff.server;

import io.handoff.server.auth.TokenConfig;
import io.handoff.server.devices.ApprovalConfig;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.handoff.HandoffLimits;
import io.handoff.server.transport.TransportConfig;
import java.time.Duration;
import java.util.Objects;

/**
 * Immutable configuration of one Handoff node. Built with {@link #builder()}; every limit has a
 * {@code DEFAULT_*} constant and is validated when the config is built.
 */
public final class ServerConfig {
  public static final String DEFAULT_HOST = "0.0.0.0";
  public static final int DEFAULT_PORT = 8080;
  public static final int DEFAULT_MAX_FRAME_BYTES = 512 * 1024;
  public static final int DEFAULT_MAX_QUEUED_FRAMES = 4096;
  public static final long DEFAULT_MAX_QUEUED_BYTES = 4L * 1024 * 1024;
  public static final Duration DEFAULT_HEARTBEAT_INTERVAL = Duration.ofSeconds(25);
  public static final Duration DEFAULT_HANDSHAKE_TIMEOUT = Duration.ofSeconds(10);
  public static final Duration DEFAULT_CLOSE_TIMEOUT = Duration.ofSeconds(1);
  public static final Duration DEFAULT_DRAIN_TIMEOUT = Duration.ofSeconds(10);
  public static final Duration DEFAULT_DRAIN_DELAY = Duration.ZERO;
  public static final double DEFAULT_WRITE_RATE_PER_SECOND = 1000;
  public static final int DEFAULT_WRITE_BURST = 2000;
  public static final double DEFAULT_SYNC_RATE_PER_SECOND = 20;
  public static final int DEFAULT_SYNC_BURST = 20;
  public static final double DEFAULT_DEVICE_REQUEST_RATE_PER_SECOND = 10;
  public static final int DEFAULT_DEVICE_REQUEST_BURST = 20;
  public static final int DEFAULT_MAX_DEVICE_REQUESTS_IN_FLIGHT = 8;

  /** Resumes whose store read is under way at once on a node, and more that may wait for one. */
  public static final int DEFAULT_MAX_RESUMES_IN_FLIGHT = 1024;

  public static final int DEFAULT_MAX_RESUMES_WAITING = 4096;
  public static final double DEFAULT_API_REQUEST_RATE_PER_SECOND = 20;
  public static final int DEFAULT_API_REQUEST_BURST = 100;
  public static final double DEFAULT_CONNECT_RATE_PER_ADDRESS = 1000;
  public static final int DEFAULT_CONNECT_BURST_PER_ADDRESS = 10_000;
  public static final int DEFAULT_MAX_CONNECTIONS_PER_USER = 100;
  public static final int DEFAULT_MAX_IN_FLIGHT_WRITES = 1000;
  public static final long DEFAULT_MAX_IN_FLIGHT_WRITE_BYTES = 8L * 1024 * 1024;
  public static final long DEFAULT_MAX_NODE_IN_FLIGHT_WRITE_BYTES = 256L * 1024 * 1024;
  public static final int DEFAULT_MAX_FOLLOW_ENTRIES = 256;
  public static final int DEFAULT_MAX_HTTP_HEADER_BYTES = 8 * 1024;
  public static final Duration DEFAULT_CLOCK_SKEW = Duration.ofSeconds(30);

  /**
   * The least rate a limit may be given (one request every 1000 s) other than 0, which turns it
   * off: below it the wait a refusal states ("retry in N ms") grows without bound.
   */
  public static final double MIN_RATE_PER_SECOND = 0.001;

  private final String host;
  private final int port;
  private final String nodeId;
  private final String jwtSecret;
  private final boolean developmentSecret;
  private final int maxFrameBytes;
  private final int maxQueuedFrames;
  private final long maxQueuedBytes;
  private final long queueBudgetBytes;
  private final Duration heartbeatInterval;
  private final Duration handshakeTimeout;
  private final Duration closeTimeout;
  private final Duration drainTimeout;
  private final Duration drainDelay;
  private final double writeRatePerSecond;
  private final int writeBurst;
  private final double syncRatePerSecond;
  private final int syncBurst;
  private final double deviceRequestRatePerSecond;
  private final int deviceRequestBurst;
  private final int maxDeviceRequestsInFlight;
  private final int maxResumesInFlight;
  private final int maxResumesWaiting;
  private final double apiRequestRatePerSecond;
  private final int apiRequestBurst;
  private final double connectRatePerAddress;
  private final int connectBurstPerAddress;
  private final int maxConnectionsPerUser;
  private final boolean userLoops;
  private final boolean redisOnLoops;
  private final int maxInFlightWrites;
  private final long maxInFlightWriteBytes;
  private final long maxNodeInFlightWriteBytes;
  private final int maxFollowEntries;
  private final int maxHttpHeaderBytes;
  private final Duration clockSkew;
  private final TransportConfig transport;
  private final StoreLimits storeLimits;
  private final TokenConfig tokens;
  private final HandoffLimits handoffLimits;
  private final ApprovalConfig approvals;
  private final String adminHost;
  private final int adminPort;

  private ServerConfig(Builder b) {
    this.host = b.host;
    this.port = b.port;
    this.nodeId = b.nodeId;
    this.jwtSecret = b.jwtSecret;
    this.developmentSecret = b.developmentSecret;
    this.maxFrameBytes = b.maxFrameBytes;
    this.maxQueuedFrames = b.maxQueuedFrames;
    this.maxQueuedBytes = b.maxQueuedBytes;
    this.queueBudgetBytes = b.queueBudgetBytes;
    this.heartbeatInterval = b.heartbeatInterval;
    this.handshakeTimeout = b.handshakeTimeout;
    this.closeTimeout = b.closeTimeout;
    this.drainTimeout = b.drainTimeout;
    this.drainDelay = b.drainDelay;
    this.writeRatePerSecond = b.writeRatePerSecond;
    this.writeBurst = b.writeBurst;
    this.syncRatePerSecond = b.syncRatePerSecond;
    this.syncBurst = b.syncBurst;
    this.deviceRequestRatePerSecond = b.deviceRequestRatePerSecond;
    this.deviceRequestBurst = b.deviceRequestBurst;
    this.maxDeviceRequestsInFlight = b.maxDeviceRequestsInFlight;
    this.maxResumesInFlight = b.maxResumesInFlight;
    this.maxResumesWaiting = b.maxResumesWaiting;
    this.apiRequestRatePerSecond = b.apiRequestRatePerSecond;
    this.apiRequestBurst = b.apiRequestBurst;
    this.connectRatePerAddress = b.connectRatePerAddress;
    this.connectBurstPerAddress = b.connectBurstPerAddress;
    this.maxConnectionsPerUser = b.maxConnectionsPerUser;
    this.userLoops = b.userLoops;
    this.redisOnLoops = b.redisOnLoops;
    this.maxInFlightWrites = b.maxInFlightWrites;
    this.maxInFlightWriteBytes = b.maxInFlightWriteBytes;
    this.maxNodeInFlightWriteBytes = b.maxNodeInFlightWriteBytes;
    this.maxFollowEntries = b.maxFollowEntries;
    this.maxHttpHeaderBytes = b.maxHttpHeaderBytes;
    this.clockSkew = b.clockSkew;
    this.transport = b.transport;
    this.storeLimits = b.storeLimits;
    this.tokens = b.tokens;
    this.handoffLimits = b.handoffLimits;
    this.approvals = b.approvals;
    this.adminHost = b.adminHost == null ? b.host : b.adminHost;
    this.adminPort = b.adminPort;
  }

  public static Builder builder() {
    return new Builder();
  }

  public String host() {
    return host;
  }

  /** The TCP port; 0 picks a free one (see {@link HandoffServer#port()}). */
  public int port() {
    return port;
  }

  public String nodeId() {
    return nodeId;
  }

  /** The HS256 secret that signs development and test tokens (UTF-8 bytes are the key). */
  public String jwtSecret() {
    return jwtSecret;
  }

  /** True when {@link #jwtSecret()} was generated at start because none was configured. */
  public boolean developmentSecret() {
    return developmentSecret;
  }

  /**
   * True when the node is for development only: a generated secret, and neither a signing key nor
   * an identity provider. Only such a node prints its secret and serves the demo.
   */
  public boolean developmentOnly() {
    return developmentSecret && tokens.signingKeys() == null && tokens.identityJwks() == null;
  }

  /** Largest accepted WebSocket message from a client, in bytes. */
  public int maxFrameBytes() {
    return maxFrameBytes;
  }

  /**
   * Frames waiting for one connection (document events, pushes and answers to its requests; not the
   * frames of a document sync) beyond this count close it with SLOW_CONSUMER.
   */
  public int maxQueuedFrames() {
    return maxQueuedFrames;
  }

  /** Pushes queued for one connection beyond this many bytes close it with SLOW_CONSUMER. */
  public long maxQueuedBytes() {
    return maxQueuedBytes;
  }

  /** Bytes queued towards all devices of the node (0: derived from the JVM, see QueueBudget). */
  public long queueBudgetBytes() {
    return queueBudgetBytes;
  }

  /** Silence after which the server pings; twice this closes with IDLE_TIMEOUT. */
  public Duration heartbeatInterval() {
    return heartbeatInterval;
  }

  public Duration handshakeTimeout() {
    return handshakeTimeout;
  }

  /** How long a closing connection may take to flush its close frame before it is cut. */
  public Duration closeTimeout() {
    return closeTimeout;
  }

  /**
   * How long a draining node waits for each device's writes in flight to be acked before it tells
   * the device to reconnect elsewhere.
   */
  public Duration drainTimeout() {
    return drainTimeout;
  }

  /**
   * How long a node told to stop keeps accepting and serving, {@code /readyz} answering 503, before
   * it drains: the time a load balancer needs to see the 503 and stop sending it new connections.
   * The drain timeout counts from the end of this delay. Zero drains at once.
   */
  public Duration drainDelay() {
    return drainDelay;
  }

  /** Writes one connection may send per second, sustained (token bucket); 0 means no limit. */
  public double writeRatePerSecond() {
    return writeRatePerSecond;
  }

  /** Writes one connection may send at once after a quiet spell. */
  public int writeBurst() {
    return writeBurst;
  }

  /**
   * Follow and Resync requests one connection may send per second, sustained (token bucket); 0
   * means no limit. Each of them reads documents from the store.
   */
  public double syncRatePerSecond() {
    return syncRatePerSecond;
  }

  /** Follow and Resync requests one connection may send at once after a quiet spell. */
  public int syncBurst() {
    return syncBurst;
  }

  /**
   * Device requests (ListDevices, RevokeDevice, RefreshToken, VerifyUserCode, AnswerApproval: the
   * requests of the device-sessions and approvals features, each a store round trip) one connection
   * may send per second, sustained (token bucket); 0 means no limit.
   */
  public double deviceRequestRatePerSecond() {
    return deviceRequestRatePerSecond;
  }

  /** Device requests one connection may send at once after a quiet spell. */
  public int deviceRequestBurst() {
    return deviceRequestBurst;
  }

  /** Device requests one connection may have waiting for their answers at once. */
  public int maxDeviceRequestsInFlight() {
    return maxDeviceRequestsInFlight;
  }

  /**
   * Resumes (a Hello's fan-out subscription and store read) under way at once on this node; past
   * it, up to {@link #maxResumesWaiting()} more wait for one to end, and a Hello past both is
   * closed with UNAVAILABLE before the store is asked. The same number bounds the upgrades waiting
   * for the store's check of their device session (past it, HTTP 503 at once).
   */
  public int maxResumesInFlight() {
    return maxResumesInFlight;
  }

  /** Hellos that may wait for one of {@link #maxResumesInFlight()} to end. */
  public int maxResumesWaiting() {
    return maxResumesWaiting;
  }

  /**
   * Requests to the HTTP API under {@code /v1/} one caller may make per second on this node,
   * sustained (token bucket); 0 means no limit. The caller is the user of the access token on the
   * routes that take one, and the address's group ({@link io.handoff.server.util.AddressGroups}) on
   * the others and for a request whose token is refused.
   */
  public double apiRequestRatePerSecond() {
    return apiRequestRatePerSecond;
  }

  /** Requests to the HTTP API one caller may make at once after a quiet spell. */
  public int apiRequestBurst() {
    return apiRequestBurst;
  }

  /** WebSocket upgrades one remote address may make per second, sustained; 0 means no limit. */
  public double connectRatePerAddress() {
    return connectRatePerAddress;
  }

  public int connectBurstPerAddress() {
    return connectBurstPerAddress;
  }

  /** The device sockets: I/O transport, event loops, TLS, compression, buffers. */
  public TransportConfig transport() {
    return transport;
  }

  /**
   * Whether every connection of a user is served by the same event loop (moved there at its
   * upgrade), so that a user's fan-out stays on one thread; false leaves each on the loop that
   * accepted it.
   */
  public boolean userLoops() {
    return userLoops;
  }

  /**
   * Whether a standalone Redis is reached through a connection and a subscriber per event loop,
   * each on its loop, instead of two connections on Lettuce's own threads (epoll only).
   */
  public boolean redisOnLoops() {
    return redisOnLoops;
  }

  /** Live connections one user may hold on this node. */
  public int maxConnectionsPerUser() {
    return maxConnectionsPerUser;
  }

  public int maxInFlightWrites() {
    return maxInFlightWrites;
  }

  /**
   * Bytes of write frames one connection may have waiting for the store's answer; a write past it
   * is refused TOO_MANY_IN_FLIGHT, except the connection's only one (so a frame of the largest size
   * always passes).
   */
  public long maxInFlightWriteBytes() {
    return maxInFlightWriteBytes;
  }

  /** The same bound for all of this node's connections together. */
  public long maxNodeInFlightWriteBytes() {
    return maxNodeInFlightWriteBytes;
  }

  /** Most exact names plus prefixes one connection may follow. */
  public int maxFollowEntries() {
    return maxFollowEntries;
  }

  public int maxHttpHeaderBytes() {
    return maxHttpHeaderBytes;
  }

  /** Tolerance on token {@code exp} and {@code nbf}. */
  public Duration clockSkew() {
    return clockSkew;
  }

  public StoreLimits storeLimits() {
    return storeLimits;
  }

  /** Sign-in, access and refresh tokens, signing keys. */
  public TokenConfig tokens() {
    return tokens;
  }

  /** Activities, offers and presence. */
  public HandoffLimits handoffLimits() {
    return handoffLimits;
  }

  /** Device codes and new-device approval. */
  public ApprovalConfig approvals() {
    return approvals;
  }

  /** Address of the management listener (defaults to {@link #host()}). */
  public String adminHost() {
    return adminHost;
  }

  /**
   * Port of the management listener serving {@code /metrics}, {@code /healthz} and {@code /readyz};
   * 0 picks a free one, -1 (the default) runs none and serves them on {@link #port()}.
   */
  public int adminPort() {
    return adminPort;
  }

  @Override
  public String toString() {
    return "ServerConfig{host="
        + host
        + ", port="
        + port
        + ", admin="
        + (adminPort < 0 ? "off" : adminHost + ":" + adminPort)
        + ", nodeId="
        + nodeId
        + ", jwtSecret="
        + (developmentSecret ? "<development>" : "****")
        + ", maxFrameBytes="
        + maxFrameBytes
        + ", maxQueuedFrames="
        + maxQueuedFrames
        + ", maxQueuedBytes="
        + maxQueuedBytes
        + ", heartbeatInterval="
        + heartbeatInterval
        + ", handshakeTimeout="
        + handshakeTimeout
        + ", closeTimeout="
        + closeTimeout
        + ", drainTimeout="
        + drainTimeout
        + ", drainDelay="
        + drainDelay
        + ", writeRate="
        + writeRatePerSecond
        + "/s burst "
        + writeBurst
        + ", syncRate="
        + syncRatePerSecond
        + "/s burst "
        + syncBurst
        + ", deviceRequestRate="
        + deviceRequestRatePerSecond
        + "/s burst "
        + deviceRequestBurst
        + ", maxDeviceRequestsInFlight="
        + maxDeviceRequestsInFlight
        + ", maxResumes="
        + maxResumesInFlight
        + " in flight, "
        + maxResumesWaiting
        + " waiting"
        + ", apiRequestRate="
        + apiRequestRatePerSecond
        + "/s burst "
        + apiRequestBurst
        + ", connectRatePerAddress="
        + connectRatePerAddress
        + "/s burst "
        + connectBurstPerAddress
        + ", maxConnectionsPerUser="
        + maxConnectionsPerUser
        + ", "
        + transport
        + ", userLoops="
        + userLoops
        + ", redisOnLoops="
        + redisOnLoops
        + ", maxInFlightWrites="
        + maxInFlightWrites
        + ", maxInFlightWriteBytes="
        + maxInFlightWriteBytes
        + ", maxNodeInFlightWriteBytes="
        + maxNodeInFlightWriteBytes
        + ", maxFollowEntries="
        + maxFollowEntries
        + ", maxHttpHeaderBytes="
        + maxHttpHeaderBytes
        + ", clockSkew="
        + clockSkew
        + ", "
        + storeLimits
        + ", "
        + tokens
        + ", "
        + handoffLimits
        + ", approvals="
        + approvals
        + "}";
  }

  /** A rate as people write it in messages: 1000, 0.5, 0.001 (no trailing ".0", no exponent). */
  public static String rate(double perSecond) {
    return java.math.BigDecimal.valueOf(perSecond).stripTrailingZeros().toPlainString();
  }

  /** Builds a {@link ServerConfig}; not thread-safe. */
  public static final class Builder {
    private String host = DEFAULT_HOST;
    private int port = DEFAULT_PORT;
    private String nodeId;
    private String jwtSecret;
    private boolean developmentSecret;
    private int maxFrameBytes = DEFAULT_MAX_FRAME_BYTES;
    private int maxQueuedFrames = DEFAULT_MAX_QUEUED_FRAMES;
    private long maxQueuedBytes = DEFAULT_MAX_QUEUED_BYTES;
    private long queueBudgetBytes;
    private Duration heartbeatInterval = DEFAULT_HEARTBEAT_INTERVAL;
    private Duration handshakeTimeout = DEFAULT_HANDSHAKE_TIMEOUT;
    private Duration closeTimeout = DEFAULT_CLOSE_TIMEOUT;
    private Duration drainTimeout = DEFAULT_DRAIN_TIMEOUT;
    private Duration drainDelay = DEFAULT_DRAIN_DELAY;
    private double writeRatePerSecond = DEFAULT_WRITE_RATE_PER_SECOND;
    private int writeBurst = DEFAULT_WRITE_BURST;
    private double syncRatePerSecond = DEFAULT_SYNC_RATE_PER_SECOND;
    private int syncBurst = DEFAULT_SYNC_BURST;
    private double deviceRequestRatePerSecond = DEFAULT_DEVICE_REQUEST_RATE_PER_SECOND;
    private int deviceRequestBurst = DEFAULT_DEVICE_REQUEST_BURST;
    private int maxDeviceRequestsInFlight = DEFAULT_MAX_DEVICE_REQUESTS_IN_FLIGHT;
    private int maxResumesInFlight = DEFAULT_MAX_RESUMES_IN_FLIGHT;
    private int maxResumesWaiting = DEFAULT_MAX_RESUMES_WAITING;
    private double apiRequestRatePerSecond = DEFAULT_API_REQUEST_RATE_PER_SECOND;
    private int apiRequestBurst = DEFAULT_API_REQUEST_BURST;
    private double connectRatePerAddress = DEFAULT_CONNECT_RATE_PER_ADDRESS;
    private int connectBurstPerAddress = DEFAULT_CONNECT_BURST_PER_ADDRESS;
    private int maxConnectionsPerUser = DEFAULT_MAX_CONNECTIONS_PER_USER;
    private boolean userLoops = true;
    private boolean redisOnLoops = true;
    private int maxInFlightWrites = DEFAULT_MAX_IN_FLIGHT_WRITES;
    private long maxInFlightWriteBytes = DEFAULT_MAX_IN_FLIGHT_WRITE_BYTES;
    private long maxNodeInFlightWriteBytes = DEFAULT_MAX_NODE_IN_FLIGHT_WRITE_BYTES;
    private int maxFollowEntries = DEFAULT_MAX_FOLLOW_ENTRIES;
    private int maxHttpHeaderBytes = DEFAULT_MAX_HTTP_HEADER_BYTES;
    private Duration clockSkew = DEFAULT_CLOCK_SKEW;
    private TransportConfig transport = TransportConfig.builder().build();
    private StoreLimits storeLimits = StoreLimits.builder().build();
    private HandoffLimits handoffLimits = HandoffLimits.builder().build();
    private ApprovalConfig approvals = ApprovalConfig.builder().build();
    private String adminHost;
    private int adminPort = -1;
    private TokenConfig tokens = TokenConfig.builder().build();

    private Builder() {}

    public Builder host(String host) {
      this.host = Objects.requireNonNull(host, "host");
      return this;
    }

    public Builder port(int port) {
      checkArgument(port >= 0 && port <= 65535, "port must be 0..65535, got " + port);
      this.port = port;
      return this;
    }

    /**
     * Serves {@code /metrics}, {@code /healthz} and {@code /readyz} on {@code host:port} too, and
     * {@code /metrics} there only; host null means {@link #host(String)}, port -1 means none.
     */
    public Builder admin(String host, int port) {
      checkArgument(port >= -1 && port <= 65535, "admin port must be 0..65535, got " + port);
      this.adminHost = host;
      this.adminPort = port;
      return this;
    }

    public Builder nodeId(String nodeId) {
      this.nodeId = nodeId;
      return this;
    }

    /** A configured secret; it must be at least 32 bytes (HS256 needs a 256-bit key). */
    public Builder jwtSecret(String jwtSecret) {
      this.jwtSecret = jwtSecret;
      this.developmentSecret = false;
      return this;
    }

    /** A secret generated at start for local development; printed by {@link Main}. */
    public Builder developmentSecret(String jwtSecret) {
      this.jwtSecret = jwtSecret;
      this.developmentSecret = true;
      return this;
    }

    public Builder maxFrameBytes(int maxFrameBytes) {
      checkArgument(maxFrameBytes >= 1024, "maxFrameBytes must be >= 1024, got " + maxFrameBytes);
      this.maxFrameBytes = maxFrameBytes;
      return this;
    }

    public Builder maxQueuedFrames(int maxQueuedFrames) {
      checkArgument(maxQueuedFrames >= 16, "maxQueuedFrames must be >= 16, got " + maxQueuedFrames);
      this.maxQueuedFrames = maxQueuedFrames;
      return this;
    }

    public Builder maxQueuedBytes(long maxQueuedBytes) {
      checkArgument(
          maxQueuedBytes >= 16 * 1024, "maxQueuedBytes must be >= 16384, got " + maxQueuedBytes);
      this.maxQueuedBytes = maxQueuedBytes;
      return this;
    }

    /**
     * The node-wide budget of queued bytes (at least 1 MiB). Not called: derived from the JVM (see
     * QueueBudget); 0 is refused rather than read as that, since it reads as "no budget" too.
     */
    public Builder queueBudgetBytes(long bytes) {
      checkArgument(
          bytes >= 1 << 20,
          "queue budget must be at least 1 MiB, got "
              + bytes
              + (bytes == 0 ? " (leave it unset for the budget derived from the JVM)" : ""));
      this.queueBudgetBytes = bytes;
      return this;
    }

    public Builder heartbeatInterval(Duration heartbeatInterval) {
      // At most 24 days: the Welcome states it in milliseconds, which clients keep in 32-bit
      // signed integers (Java's int, JavaScript's timers), and the node doubles it in nanoseconds.
      checkArgument(
          heartbeatInterval.compareTo(Duration.ofMillis(10)) >= 0
              && heartbeatInterval.compareTo(Duration.ofDays(24)) <= 0,
          "heartbeatInterval must be >= 10ms and at most 24 days, got " + heartbeatInterval);
      this.heartbeatInterval = heartbeatInterval;
      return this;
    }

    public Builder handshakeTimeout(Duration handshakeTimeout) {
      checkArgument(
          handshakeTimeout.toMillis() >= 10,
          "handshakeTimeout must be >= 10ms, got " + handshakeTimeout);
      this.handshakeTimeout = handshakeTimeout;
      return this;
    }

    /** Sustained writes per second per connection and the burst; a rate of 0 turns it off. */
    public Builder writeRate(double perSecond, int burst) {
      checkRate("writeRate", perSecond);
      checkArgument(burst >= 1, "writeBurst must be >= 1, got " + burst);
      this.writeRatePerSecond = perSecond;
      this.writeBurst = burst;
      return this;
    }

    /**
     * Sustained Follow and Resync requests per second per connection and the burst; a rate of 0
     * turns it off.
     */
    public Builder syncRate(double perSecond, int burst) {
      checkRate("syncRate", perSecond);
      checkArgument(burst >= 1, "syncBurst must be >= 1, got " + burst);
      this.syncRatePerSecond = perSecond;
      this.syncBurst = burst;
      return this;
    }

    /**
     * Sustained device requests (ListDevices, RevokeDevice, RefreshToken, VerifyUserCode,
     * AnswerApproval) per second per connection and the burst; a rate of 0 turns it off.
     */
    public Builder deviceRequestRate(double perSecond, int burst) {
      checkRate("deviceRequestRate", perSecond);
      checkArgument(burst >= 1, "deviceRequestBurst must be >= 1, got " + burst);
      this.deviceRequestRatePerSecond = perSecond;
      this.deviceRequestBurst = burst;
      return this;
    }

    /** See {@link ServerConfig#maxResumesInFlight()}; at least 1 in flight, 0 or more waiting. */
    public Builder maxResumes(int inFlight, int waiting) {
      checkArgument(inFlight >= 1, "maxResumesInFlight must be >= 1, got " + inFlight);
      checkArgument(waiting >= 0, "maxResumesWaiting must be >= 0, got " + waiting);
      this.maxResumesInFlight = inFlight;
      this.maxResumesWaiting = waiting;
      return this;
    }

    /** Device requests one connection may have waiting for their answers (at least 1). */
    public Builder maxDeviceRequestsInFlight(int max) {
      checkArgument(max >= 1, "maxDeviceRequestsInFlight must be >= 1, got " + max);
      this.maxDeviceRequestsInFlight = max;
      return this;
    }

    /**
     * Sustained requests per second to the HTTP API under {@code /v1/} per caller (a user, or an
     * address's group) and the burst; a rate of 0 turns it off.
     */
    public Builder apiRequestRate(double perSecond, int burst) {
      checkRate("apiRequestRate", perSecond);
      checkArgument(burst >= 1, "apiRequestBurst must be >= 1, got " + burst);
      this.apiRequestRatePerSecond = perSecond;
      this.apiRequestBurst = burst;
      return this;
    }

    /** Sustained upgrades per second per remote address and the burst; 0 turns it off. */
    public Builder connectRatePerAddress(double perSecond, int burst) {
      checkRate("connectRatePerAddress", perSecond);
      checkArgument(burst >= 1, "connectBurstPerAddress must be >= 1, got " + burst);
      this.connectRatePerAddress = perSecond;
      this.connectBurstPerAddress = burst;
      return this;
    }

    /** How the device sockets are served (TLS, I/O transport, event loops, buffers). */
    public Builder transport(TransportConfig transport) {
      this.transport = Objects.requireNonNull(transport, "transport");
      return this;
    }

    public Builder redisOnLoops(boolean redisOnLoops) {
      this.redisOnLoops = redisOnLoops;
      return this;
    }

    public Builder userLoops(boolean userLoops) {
      this.userLoops = userLoops;
      return this;
    }

    public Builder maxConnectionsPerUser(int max) {
      checkArgument(max >= 1, "maxConnectionsPerUser must be >= 1, got " + max);
      this.maxConnectionsPerUser = max;
      return this;
    }

    public Builder drainTimeout(Duration drainTimeout) {
      checkArgument(
          !drainTimeout.isNegative() && drainTimeout.compareTo(Duration.ofMinutes(5)) <= 0,
          "drainTimeout must be between 0 and 5 minutes, got " + drainTimeout);
      this.drainTimeout = drainTimeout;
      return this;
    }

    /** See {@link ServerConfig#drainDelay()}; 0 to 5 minutes. */
    public Builder drainDelay(Duration drainDelay) {
      checkArgument(
          !drainDelay.isNegative() && drainDelay.compareTo(Duration.ofMinutes(5)) <= 0,
          "drainDelay must be between 0 and 5 minutes, got " + drainDelay);
      this.drainDelay = drainDelay;
      return this;
    }

    public Builder closeTimeout(Duration closeTimeout) {
      checkArgument(
          closeTimeout.toMillis() >= 1, "closeTimeout must be >= 1ms, got " + closeTimeout);
      this.closeTimeout = closeTimeout;
      return this;
    }

    public Builder maxInFlightWrites(int maxInFlightWrites) {
      checkArgument(
          maxInFlightWrites >= 1, "maxInFlightWrites must be >= 1, got " + maxInFlightWrites);
      this.maxInFlightWrites = maxInFlightWrites;
      return this;
    }

    public Builder maxInFlightWriteBytes(long perConnection, long perNode) {
      checkArgument(perConnection >= 1, "maxInFlightWriteBytes must be >= 1, got " + perConnection);
      checkArgument(
          perNode >= perConnection,
          "the node's in-flight write bytes ("
              + perNode
              + ") must be >= one connection's ("
              + perConnection
              + ")");
      this.maxInFlightWriteBytes = perConnection;
      this.maxNodeInFlightWriteBytes = perNode;
      return this;
    }

    public Builder maxFollowEntries(int maxFollowEntries) {
      checkArgument(
          maxFollowEntries >= 1, "maxFollowEntries must be >= 1, got " + maxFollowEntries);
      this.maxFollowEntries = maxFollowEntries;
      return this;
    }

    public Builder maxHttpHeaderBytes(int maxHttpHeaderBytes) {
      checkArgument(
          maxHttpHeaderBytes >= 1024,
          "maxHttpHeaderBytes must be >= 1024, got " + maxHttpHeaderBytes);
      this.maxHttpHeaderBytes = maxHttpHeaderBytes;
      return this;
    }

    public Builder clockSkew(Duration clockSkew) {
      checkArgument(!clockSkew.isNegative(), "clockSkew must not be negative");
      this.clockSkew = clockSkew;
      return this;
    }

    public Builder approvals(ApprovalConfig approvals) {
      this.approvals = Objects.requireNonNull(approvals);
      return this;
    }

    public Builder tokens(TokenConfig tokens) {
      this.tokens = Objects.requireNonNull(tokens, "tokens");
      return this;
    }

    public Builder storeLimits(StoreLimits storeLimits) {
      this.storeLimits = Objects.requireNonNull(storeLimits, "storeLimits");
      return this;
    }

    public Builder handoffLimits(HandoffLimits handoffLimits) {
      this.handoffLimits = Objects.requireNonNull(handoffLimits, "handoffLimits");
      return this;
    }

    public ServerConfig build() {
      checkArgument(jwtSecret != null, "a JWT secret (jwtSecret or developmentSecret) is required");
      checkArgument(
          jwtSecret.getBytes(java.nio.charset.StandardCharsets.UTF_8).length >= 32,
          "jwtSecret must be at least 32 bytes (HS256 needs a 256-bit key)");
      checkArgument(
          storeLimits.seqWindow() >= maxInFlightWrites,
          "storeLimits.seqWindow ("
              + storeLimits.seqWindow()
              + ") must be >= maxInFlightWrites ("
              + maxInFlightWrites
              + ") so that every re-sent write is still remembered");
      checkArgument(
          maxFrameBytes >= storeLimits.maxValueBytes(),
          "maxFrameBytes must be >= storeLimits.maxValueBytes");
      checkArgument(
          !tokens.accessOutlivesRefresh(clockSkew),
          "tokens.accessTokenTtl ("
              + tokens.accessTokenTtl()
              + ") plus clockSkew ("
              + clockSkew
              + ") plus tokens.refreshReuseInterval ("
              + tokens.refreshReuseInterval()
              + ") must not be longer than tokens.refreshInactivity ("
              + tokens.refreshInactivity()
              + "), or a session dies of inactivity while its device still holds a live access"
              + " token");
      if (nodeId == null || nodeId.isEmpty()) {
        nodeId = "node-" + Long.toHexString(new java.security.SecureRandom().nextLong() >>> 16);
      }
      return new ServerConfig(this);
    }

    /** A sustained rate: 0 (no limit), or finite and at least {@link #MIN_RATE_PER_SECOND}. */
    static void checkRate(String name, double perSecond) {
      checkArgument(
          perSecond == 0 || (perSecond >= MIN_RATE_PER_SECOND && Double.isFinite(perSecond)),
          name
              + " must be 0 (no limit) or at least "
              + MIN_RATE_PER_SECOND
              + " a second (one every 1000 s), got "
              + perSecond);
    }

    static void checkArgument(boolean ok, String message) {
      if (!ok) {
        throw new IllegalArgumentException(message);
      }
    }
  }
}
