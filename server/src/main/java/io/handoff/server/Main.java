package io.handoff.server;

import io.handoff.protocol.Durations;
import io.handoff.server.auth.DevTokens;
import io.handoff.server.engine.Engine;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.memory.MemoryEngine;
import io.handoff.server.engine.redis.RedisEngine;
import io.handoff.server.transport.IoTransport;
import io.handoff.server.transport.TransportConfig;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code java -jar handoff-server.jar [options]}: runs one node until SIGTERM or Ctrl-C. Every
 * configuration error is one line on stderr naming the flag, variable or file key that carried the
 * bad value, the value, and what is accepted (exit code 2; 3 when Redis or the identity provider
 * does not answer: {@link NodeStart}).
 */
@Command(
    name = "handoff-server",
    mixinStandardHelpOptions = true,
    version = "handoff-server " + Main.VERSION,
    customSynopsis = "handoff-server [OPTION]... | token ... | keygen ...",
    description =
        "Runs one Handoff node. Every option can also come from its HANDOFF_* variable or a --config file.",
    subcommands = {TokenCommand.class, KeygenCommand.class})
public final class Main implements Callable<Integer> {
  static final String VERSION = "0.2.0";
  static final int MIN_SECRET_BYTES = 32;
  private static final Logger log = LoggerFactory.getLogger(Main.class);

  @Option(
      names = "--config",
      paramLabel = "FILE",
      description =
          "Configuration file (Java properties: key=value, keys are these options' long names"
              + " without dashes, e.g. redis-url=redis://10.0.0.5:6379).")
  String configFile;

  @Option(names = "--node-id", description = "Name of this node in logs, metrics and Welcome.")
  String nodeId;

  @Option(
      names = "--jwt-secret",
      paramLabel = "SECRET",
      description = "HS256 secret for access tokens, at least 32 bytes.")
  String jwtSecret;

  @Option(
      names = "--redis-url",
      paramLabel = "URL",
      description = "Redis shared by many nodes, e.g. redis://127.0.0.1:6379.")
  String redisUrl;

  @Option(
      names = "--redis-cluster",
      defaultValue = "false",
      description = "--redis-url names seed nodes of a Redis Cluster, comma-separated.")
  boolean redisCluster;

  @Option(names = "--redis-prefix", defaultValue = "handoff:", description = "Prefix of every key.")
  String redisPrefix;

  @Option(
      names = "--heartbeat",
      defaultValue = "25s",
      paramLabel = "DURATION",
      description = "Ping interval; silence for two intervals closes a connection.")
  String heartbeat;

  @Option(
      names = "--drain-timeout",
      defaultValue = "10s",
      paramLabel = "DURATION",
      description = "On SIGTERM, how long writes in flight may take before devices go.")
  String drainTimeout;

  @Option(
      names = "--drain-delay",
      defaultValue = "0s",
      paramLabel = "DURATION",
      description =
          "On SIGTERM, how long /readyz answers 503 while the node still accepts and serves, before"
              + " it drains; --drain-timeout counts from its end.")
  String drainDelay;

  @Option(
      names = "--history-length",
      defaultValue = "1000",
      description = "Deltas kept per document for resumes.")
  int historyLength;

  @Option(
      names = "--durable-acks",
      defaultValue = "0",
      paramLabel = "N",
      description =
          "Ack a write only once N Redis replicas hold it (Redis WAIT); 0: once Redis applied it.")
  int durableAcks;

  @Option(
      names = "--durable-ack-timeout",
      defaultValue = "1s",
      paramLabel = "DURATION",
      description =
          "How long a write waits for --durable-acks replicas; then it is answered"
              + " OUTCOME_UNKNOWN (applied, not confirmed) and the device re-sends it.")
  String durableAckTimeout;

  @Option(
      names = "--max-frame-bytes",
      defaultValue = "524288",
      description = "Largest frame a device may send, in bytes (at least 65536).")
  int maxFrameBytes;

  @Option(
      names = "--queue-budget",
      defaultValue = "auto",
      paramLabel = "BYTES",
      description =
          "Bytes queued towards all devices of this node (64m, 1g); past it the devices that read"
              + " the least are closed (SLOW_CONSUMER); at least 1m. auto: a quarter of the"
              + " smaller of the heap and direct memory (0 is refused).")
  String queueBudget;

  @Option(
      names = "--write-rate",
      defaultValue = "1000",
      description = "Writes per second per connection, sustained; 0 turns it off.")
  double writeRate;

  @Option(
      names = "--write-burst",
      defaultValue = "2000",
      description = "Writes a connection may send at once.")
  int writeBurst;

  @Option(
      names = "--sync-rate",
      defaultValue = "20",
      description =
          "Follow and Resync requests (each reads documents) per second per connection, sustained;"
              + " 0 turns it off.")
  double syncRate;

  @Option(
      names = "--sync-burst",
      defaultValue = "20",
      description = "Follow and Resync requests a connection may send at once.")
  int syncBurst;

  @Option(
      names = "--device-request-rate",
      defaultValue = "10",
      description =
          "ListDevices, RevokeDevice, RefreshToken, VerifyUserCode and AnswerApproval requests"
              + " per second per connection, sustained; 0 turns it off.")
  double deviceRequestRate;

  @Option(
      names = "--device-request-burst",
      defaultValue = "20",
      description = "Device requests a connection may send at once.")
  int deviceRequestBurst;

  @Option(
      names = "--max-device-requests-in-flight",
      defaultValue = "8",
      description = "Device requests a connection may have waiting for their answers.")
  int maxDeviceRequestsInFlight;

  @Option(
      names = "--api-request-rate",
      defaultValue = "20",
      description =
          "Requests to the HTTP API under /v1/ per second per caller (the user of the access token,"
              + " or the address where the route takes none), sustained; 0 turns it off.")
  double apiRequestRate;

  @Option(
      names = "--api-request-burst",
      defaultValue = "100",
      description = "Requests to the HTTP API a caller may make at once.")
  int apiRequestBurst;

  @Option(
      names = "--connect-rate",
      defaultValue = "1000",
      description = "WebSocket upgrades per second per remote address; 0 turns it off.")
  double connectRate;

  @Option(
      names = "--connect-burst",
      defaultValue = "10000",
      description = "Upgrades an address may make at once.")
  int connectBurst;

  @Option(
      names = "--max-connections-per-user",
      defaultValue = "100",
      description = "Live connections one user may hold on this node.")
  int maxConnectionsPerUser;

  @Option(
      names = "--compression",
      negatable = true,
      defaultValue = "false",
      fallbackValue = "true",
      description =
          "Offer permessage-deflate to devices that ask (off by default: browsers always ask,"
              + " and a connection that keeps compression contexts holds about 200 KB of native"
              + " memory for its life).")
  boolean compression;

  @Option(
      names = "--io-transport",
      defaultValue = "auto",
      description = "Socket I/O: auto (epoll, else io_uring, else nio), io_uring, epoll or nio.")
  String ioTransport;

  @Option(
      names = "--event-loops",
      defaultValue = "0",
      description = "Event loop threads serving connections; 0: two per core (Netty's default).")
  int eventLoops;

  @Option(
      names = "--user-loops",
      negatable = true,
      defaultValue = "true",
      fallbackValue = "true",
      description =
          "Serve all of a user's connections on one event loop (moved there at the upgrade).")
  boolean userLoops;

  @Option(
      names = "--redis-on-loops",
      negatable = true,
      defaultValue = "true",
      fallbackValue = "true",
      description =
          "With a standalone Redis: one Redis connection and subscriber per event loop, on it"
              + " (epoll only).")
  boolean redisOnLoops;

  @Mixin ListenOptions listen = new ListenOptions();
  @Mixin HandoffOptions handoff = new HandoffOptions();
  @Mixin TokenOptions tokens = new TokenOptions();
  @Mixin ApprovalOptions approvals = new ApprovalOptions();
  @Mixin SocketOptions sockets = new SocketOptions();

  @Option(
      names = "--idle-ttl",
      defaultValue = "30d",
      paramLabel = "DURATION",
      description = "Documents, history and device sessions idle this long expire.")
  String idleTtl;

  @Option(names = "--max-devices", defaultValue = "64", description = "Signed-in devices per user.")
  int maxDevices;

  @Spec CommandSpec spec;

  // Where each value came from, for error messages; null when built without run().
  private ConfigSources sources;
  private String[] args = new String[0];

  public static void main(String[] args) {
    LeakDetection.apply(System.getProperties()); // Off unless -Dio.netty.leakDetection.level.
    System.exit(run(args, System.getenv()));
  }

  /** Runs the command with the real environment, printing to stdout and stderr. */
  static int run(String[] args, Map<String, String> env) {
    return run(
        args,
        env,
        new PrintWriter(System.out, true, StandardCharsets.UTF_8),
        new PrintWriter(System.err, true, StandardCharsets.UTF_8));
  }

  /** Runs the command; returns its exit code (2 for any configuration error). */
  static int run(String[] args, Map<String, String> env, PrintWriter out, PrintWriter err) {
    Main main = new Main();
    CommandLine cl = new CommandLine(main).setOut(out).setErr(err);
    // Picocli would read an argument @FILE as more arguments, which ConfigSources never sees: a
    // --config in it would be taken and its file never read, and its flags named by the wrong
    // source.
    cl.setExpandAtFiles(false);
    HelpLayout.install(cl);
    try {
      main.sources = ConfigSources.load(cl.getCommandSpec(), args, env);
    } catch (IllegalArgumentException e) {
      err.println("handoff-server: " + e.getMessage());
      return 2;
    }
    main.args = args.clone();
    cl.setDefaultValueProvider(main.sources);
    cl.setParameterExceptionHandler(
        (e, given) -> {
          String where = "";
          if (e.getArgSpec() instanceof OptionSpec o && !main.fromFlag(key(o))) {
            String source = main.sources.source(key(o));
            where = source == null ? "" : " (the value came from " + source + ")";
          }
          if (e instanceof CommandLine.UnmatchedArgumentException u
              && u.getUnmatched().stream().anyMatch(a -> a.startsWith("@"))) {
            where =
                " (argument files are not read: give the options as flags, HANDOFF_* variables or"
                    + " a --config FILE)";
          }
          err.println("handoff-server: " + e.getMessage() + where);
          err.println("Run with --help to see every option.");
          return 2;
        });
    cl.setExecutionExceptionHandler(
        (e, c, parsed) -> {
          err.println("handoff-server: " + e.getMessage());
          log.debug("command failed", e);
          return 1;
        });
    return cl.execute(args);
  }

  private static String key(OptionSpec o) {
    return o.longestName().replaceFirst("^--", "");
  }

  private boolean fromFlag(String key) {
    for (String a : args) {
      if (a.equals("--" + key) || a.startsWith("--" + key + "=") || a.equals("--no-" + key)) {
        return true;
      }
    }
    return false;
  }

  /**
   * How to name option {@code key} in a message: the flag when given on the command line, else the
   * variable or file key that set it, else the flag (its default).
   */
  String origin(String key) {
    if (!fromFlag(key) && sources != null) {
      String source = sources.source(key);
      if (source != null) {
        return source;
      }
    }
    return "--" + key;
  }

  Duration duration(String key, String value) {
    Duration d;
    try {
      d = Durations.parse(value);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(origin(key) + ": " + e.getMessage());
    }
    try {
      d.toNanos(); // Timers, deadlines and clocks count in nanoseconds: about 292 years at most.
    } catch (ArithmeticException e) {
      throw new IllegalArgumentException(
          origin(key)
              + ": '"
              + value
              + "' is too long; expected "
              + Durations.ACCEPTED
              + ", at most 100000d");
    }
    return d;
  }

  /** Runs a builder step; a refusal is reworded to name the option and the value given. */
  void set(String key, Object value, Runnable step) {
    try {
      step.run();
    } catch (IllegalArgumentException | ArithmeticException e) {
      throw new IllegalArgumentException(
          origin(key) + ": '" + value + "' is refused (" + e.getMessage() + ")");
    }
  }

  /** The node's configuration from the parsed options; a generated secret when none is given. */
  ServerConfig toConfig() {
    ServerConfig.Builder b = ServerConfig.builder();
    listen.apply(this, b);
    b.nodeId(nodeId);
    if (jwtSecret == null || jwtSecret.isEmpty()) {
      b.developmentSecret(DevTokens.randomSecret());
    } else {
      int bytes = jwtSecret.getBytes(StandardCharsets.UTF_8).length;
      if (bytes < MIN_SECRET_BYTES) {
        throw new IllegalArgumentException(
            origin("jwt-secret")
                + " is "
                + bytes
                + " bytes long; it must be at least "
                + MIN_SECRET_BYTES
                + " bytes (HS256 needs a 256-bit key); generate one with: openssl rand -hex 32");
      }
      b.jwtSecret(jwtSecret);
    }
    Duration hb = duration("heartbeat", heartbeat);
    set("heartbeat", heartbeat, () -> b.heartbeatInterval(hb));
    Duration drain = duration("drain-timeout", drainTimeout);
    set("drain-timeout", drainTimeout, () -> b.drainTimeout(drain));
    Duration delay = duration("drain-delay", drainDelay);
    set("drain-delay", drainDelay, () -> b.drainDelay(delay));
    set(
        "max-frame-bytes",
        maxFrameBytes,
        () -> {
          ServerConfig.Builder.checkArgument(
              maxFrameBytes >= StoreLimits.DEFAULT_MAX_VALUE_BYTES,
              "it must be at least "
                  + StoreLimits.DEFAULT_MAX_VALUE_BYTES
                  + " (64 KiB), the largest field value a write may carry");
          b.maxFrameBytes(maxFrameBytes);
        });
    if (!"auto".equalsIgnoreCase(queueBudget.trim())) {
      set(
          "queue-budget",
          queueBudget,
          () -> {
            long bytes = ByteSizes.parse(queueBudget);
            // 0 reads as "no budget" next to --write-rate 0 (off) and as "the default" next to
            // --socket-send-buffer 0; neither is what the node would do, so neither is guessed.
            ServerConfig.Builder.checkArgument(
                bytes != 0,
                "0 is no size: write auto (the default) for a quarter of the smaller of the heap"
                    + " and direct memory, or a size of at least 1 MiB; the budget cannot be"
                    + " turned off");
            b.queueBudgetBytes(bytes);
          });
    }
    set("write-rate", writeRate, () -> b.writeRate(writeRate, ServerConfig.DEFAULT_WRITE_BURST));
    set("write-burst", writeBurst, () -> b.writeRate(writeRate, writeBurst));
    set("sync-rate", syncRate, () -> b.syncRate(syncRate, ServerConfig.DEFAULT_SYNC_BURST));
    set("sync-burst", syncBurst, () -> b.syncRate(syncRate, syncBurst));
    set(
        "device-request-rate",
        deviceRequestRate,
        () -> b.deviceRequestRate(deviceRequestRate, ServerConfig.DEFAULT_DEVICE_REQUEST_BURST));
    set(
        "device-request-burst",
        deviceRequestBurst,
        () -> b.deviceRequestRate(deviceRequestRate, deviceRequestBurst));
    set(
        "max-device-requests-in-flight",
        maxDeviceRequestsInFlight,
        () -> b.maxDeviceRequestsInFlight(maxDeviceRequestsInFlight));
    set(
        "api-request-rate",
        apiRequestRate,
        () -> b.apiRequestRate(apiRequestRate, ServerConfig.DEFAULT_API_REQUEST_BURST));
    set(
        "api-request-burst",
        apiRequestBurst,
        () -> b.apiRequestRate(apiRequestRate, apiRequestBurst));
    set(
        "connect-rate",
        connectRate,
        () -> b.connectRatePerAddress(connectRate, ServerConfig.DEFAULT_CONNECT_BURST_PER_ADDRESS));
    set("connect-burst", connectBurst, () -> b.connectRatePerAddress(connectRate, connectBurst));
    set(
        "max-connections-per-user",
        maxConnectionsPerUser,
        () -> b.maxConnectionsPerUser(maxConnectionsPerUser));
    TransportConfig.Builder transport = TransportConfig.builder();
    transport.compression(compression);
    set("io-transport", ioTransport, () -> transport.ioTransport(IoTransport.parse(ioTransport)));
    set("event-loops", eventLoops, () -> transport.eventLoops(eventLoops));
    sockets.apply(this, transport);
    b.transport(transport.build());
    b.userLoops(userLoops);
    b.redisOnLoops(redisOnLoops);
    b.handoffLimits(handoff.toLimits(this));
    StoreLimits.Builder limits = StoreLimits.builder();
    Duration idle = duration("idle-ttl", idleTtl);
    set("idle-ttl", idleTtl, () -> limits.idleTtl(idle));
    set("max-devices", maxDevices, () -> limits.maxDevicesPerUser(maxDevices));
    set("history-length", historyLength, () -> limits.historyLength(historyLength));
    set("durable-acks", durableAcks, () -> limits.durableAcks(durableAcks));
    Duration durableWait = duration("durable-ack-timeout", durableAckTimeout);
    set("durable-ack-timeout", durableAckTimeout, () -> limits.durableAckTimeout(durableWait));
    if (redisCluster && (redisUrl == null || redisUrl.isBlank())) {
      throw new IllegalArgumentException(
          origin("redis-cluster")
              + " needs --redis-url (HANDOFF_REDIS_URL), the cluster's seed nodes; without it the"
              + " node would keep everything in its own memory");
    }
    if (durableAcks > 0 && (redisUrl == null || redisUrl.isBlank())) {
      throw new IllegalArgumentException(
          origin("durable-acks")
              + " needs --redis-url (HANDOFF_REDIS_URL): the in-memory engine has no replicas");
    }
    b.tokens(tokens.toConfig(this));
    b.approvals(approvals.toConfig(this));
    b.storeLimits(limits.build());
    return b.build();
  }

  @Override
  public Integer call() throws Exception {
    PrintWriter err = spec.commandLine().getErr();
    ServerConfig config;
    try {
      config = toConfig();
      if (redisUrl != null && !redisUrl.isBlank()) {
        RedisUrls.check(origin("redis-url"), redisUrl, redisCluster);
      }
    } catch (IllegalArgumentException e) {
      err.println("handoff-server: invalid configuration: " + e.getMessage());
      return NodeStart.INVALID;
    }
    log.info("Configuration: {}", config);
    Engine engine;
    if (redisUrl == null || redisUrl.isBlank()) {
      engine = new MemoryEngine(config.storeLimits());
    } else {
      try {
        engine =
            redisCluster
                ? RedisEngine.connectCluster(
                    List.of(redisUrl.split(",")), redisPrefix, config.storeLimits())
                : RedisEngine.connect(redisUrl, redisPrefix, config.storeLimits());
      } catch (RuntimeException e) {
        err.println(
            "handoff-server: " + RedisUrls.connectFailure(origin("redis-url"), redisUrl, e));
        return NodeStart.UNAVAILABLE;
      }
    }
    return NodeStart.run(config, engine, err, m -> sources.naming(m, this::fromFlag), this::origin);
  }
}
