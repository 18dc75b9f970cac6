package io.handoff.server;

import io.handoff.server.auth.DevTokens;
import io.handoff.server.engine.Engine;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.memory.MemoryEngine;
import io.handoff.server.engine.redis.RedisEngine;
import io.handoff.server.handoff.HandoffLimits;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code java -jar handoff-server.jar [options]}: runs one node until SIGTERM or Ctrl-C. */
@Command(
    name = "handoff-server",
    mixinStandardHelpOptions = true,
    version = "handoff-server 0.1.0",
    description = "Runs one Handoff node.",
    subcommands = {Main.Token.class, Main.Keygen.class})
public final class Main implements Callable<Integer> {
  private static final Logger log = LoggerFactory.getLogger(Main.class);

  @Option(
      names = "--config",
      description =
          "Configuration file (Java properties: key=value, keys are these options' long names"
              + " without dashes, e.g. redis-url=redis://10.0.0.5:6379). Also HANDOFF_CONFIG.")
  String configFile;

  @Option(names = "--port", description = "TCP port (default ${DEFAULT-VALUE}).")
  int port = ServerConfig.DEFAULT_PORT;

  @Option(names = "--host", description = "Address to bind (default ${DEFAULT-VALUE}).")
  String host = ServerConfig.DEFAULT_HOST;

  @Option(names = "--node-id", description = "Name of this node in logs, metrics and Welcome.")
  String nodeId;

  @Option(
      names = "--jwt-secret",
      description =
          "HS256 secret for access tokens, at least 32 bytes."
              + " Without one a development secret is generated and printed.")
  String jwtSecret;

  @Option(
      names = "--redis-url",
      description =
          "Redis for many nodes, e.g. redis://127.0.0.1:6379."
              + " Without it the embedded in-memory engine runs one node.")
  String redisUrl;

  @Option(
      names = "--redis-cluster",
      description = "--redis-url names seed nodes of a Redis Cluster, comma-separated.")
  boolean redisCluster;

  @Option(
      names = "--redis-prefix",
      description = "Prefix of every Redis key (default ${DEFAULT-VALUE}).")
  String redisPrefix = "handoff:";

  @Option(
      names = "--tls-cert",
      description = "PEM certificate chain: serve wss:// (needs --tls-key).")
  Path tlsCert;

  @Option(names = "--tls-key", description = "PEM (PKCS#8) private key of --tls-cert.")
  Path tlsKey;

  @Option(
      names = "--heartbeat",
      description = "Heartbeat interval, ISO-8601 or e.g. 25s (default 25s).")
  String heartbeat;

  @Option(
      names = "--drain-timeout",
      description = "On SIGTERM, how long writes in flight may take before devices go (10s).")
  String drainTimeout;

  @Option(names = "--history-length", description = "Deltas kept per document (default 1000).")
  Integer historyLength;

  @Option(names = "--max-frame-bytes", description = "Largest frame a device may send (512 KiB).")
  Integer maxFrameBytes;

  @Option(
      names = "--write-rate",
      description = "Writes per second per connection, sustained; 0 turns it off (1000).")
  Double writeRate;

  @Option(names = "--write-burst", description = "Writes a connection may send at once (2000).")
  Integer writeBurst;

  @Option(
      names = "--connect-rate",
      description = "WebSocket upgrades per second per remote address; 0 turns it off (1000).")
  Double connectRate;

  @Option(names = "--connect-burst", description = "Upgrades an address may make at once (10000).")
  Integer connectBurst;

  @Option(
      names = "--max-connections-per-user",
      description = "Live connections one user may hold on this node (100).")
  Integer maxConnectionsPerUser;

  @Option(
      names = "--compression",
      negatable = true,
      description = "Offer permessage-deflate to devices that ask (default on).")
  Boolean compression;

  // Activities, offers and presence (docs/protocol.md flows 9-11).
  @Option(
      names = "--activity-payload-max",
      description = "Largest activity payload in bytes (default 4096).")
  Integer activityPayloadMax;

  @Option(names = "--offer-ttl", description = "Offer lifetime when a device names none (1m).")
  String offerTtl;

  @Option(names = "--offer-ttl-max", description = "Longest offer lifetime a device may ask (10m).")
  String offerTtlMax;

  @Option(
      names = "--presence-ttl",
      description = "A device's presence turns offline this long after its node stops (30s).")
  String presenceTtl;

  /** Runs the server with the real environment; exits with the command's code. */
  // Device sessions and tokens (docs/security.md).
  @Option(
      names = "--identity-jwks",
      description =
          "JWKS file or http(s) URL with the keys of the app's identity tokens; enables sign-in"
              + " (POST /v1/sessions).")
  String identityJwks;

  @Option(
      names = "--identity-algorithms",
      defaultValue = "ES256,RS256",
      split = ",",
      description =
          "Accepted identity token algorithms: ES256, RS256, EdDSA (default ES256,RS256).")
  java.util.Set<String> identityAlgorithms;

  @Option(names = "--identity-issuer", description = "Required iss of identity tokens.")
  String identityIssuer;

  @Option(names = "--identity-audience", description = "Required aud of identity tokens.")
  String identityAudience;

  @Option(
      names = "--signing-key",
      description =
          "P-256 private JWK file (with kid) that signs access tokens; every node of a deployment"
              + " needs the same one. Without it an ephemeral key is generated"
              + ".")
  java.nio.file.Path signingKey;

  @Option(
      names = "--previous-signing-key",
      description =
          "The key --signing-key replaced: its tokens stay valid for --previous-key-grace" + ".")
  java.nio.file.Path previousSigningKey;

  @Option(
      names = "--previous-key-grace",
      defaultValue = "1h",
      description = "How long after start the previous key is accepted (default 1h).")
  String previousKeyGrace;

  @Option(
      names = "--access-token-ttl",
      defaultValue = "10m",
      description = "Lifetime of access tokens (default 10m).")
  String accessTokenTtl;

  @Option(
      names = "--refresh-inactivity",
      defaultValue = "30d",
      description = "A refresh token unused this long stops working (default 30d).")
  String refreshInactivity;

  @Option(
      names = "--refresh-reuse-interval",
      defaultValue = "5s",
      description =
          "The previous refresh token used again this soon gets the same successor instead of"
              + " revoking the session (a retry); 0s turns it off (default 5s).")
  String refreshReuseInterval;

  @Option(
      names = "--new-device-approval",
      description =
          "Hold a sign-in from a device the user never used until one of the user's signed-in"
              + " devices approves it.")
  boolean newDeviceApproval;

  @Option(
      names = "--device-verification-uri",
      defaultValue = "/device",
      description = "The app's page where people type a device's user code (default /device).")
  String deviceVerificationUri;

  @Option(
      names = "--idle-ttl",
      defaultValue = "30d",
      description = "Documents, history and device sessions idle this long expire (default 30d).")
  String idleTtl;

  @Option(
      names = "--max-devices",
      defaultValue = "64",
      description = "Signed-in devices per user (default 64).")
  int maxDevices;

  public static void main(String[] args) {
    System.exit(run(args, System.getenv()));
  }

  private io.handoff.server.auth.TokenConfig tokenConfig() {
    io.handoff.server.auth.TokenConfig.Builder t =
        io.handoff.server.auth.TokenConfig.builder()
            .identityJwks(identityJwks)
            .identityAlgorithms(identityAlgorithms)
            .identityIssuer(identityIssuer)
            .identityAudience(identityAudience)
            .accessTokenTtl(parseDuration(accessTokenTtl))
            .refreshInactivity(parseDuration(refreshInactivity))
            .refreshReuseInterval(parseDuration(refreshReuseInterval));
    if (signingKey == null && previousSigningKey != null) {
      throw new IllegalArgumentException("--previous-signing-key needs --signing-key");
    }
    if (signingKey != null) {
      com.nimbusds.jose.jwk.ECKey current = io.handoff.server.auth.SigningKeys.read(signingKey);
      com.nimbusds.jose.jwk.ECKey previous =
          previousSigningKey == null
              ? null
              : io.handoff.server.auth.SigningKeys.read(previousSigningKey);
      t.signingKeys(
          io.handoff.server.auth.SigningKeys.of(
              current,
              previous,
              System.currentTimeMillis() + parseDuration(previousKeyGrace).toMillis()));
    }
    if (identityJwks != null && !identityJwks.isBlank() && identityAudience == null) {
      log.warn("identity tokens are accepted for any audience: set --identity-audience");
    }
    return t.build();
  }

  static int run(String[] args, Map<String, String> env) {
    CommandLine cl = new CommandLine(new Main());
    try {
      cl.setDefaultValueProvider(ConfigSources.load(cl.getCommandSpec(), args, env));
    } catch (IllegalArgumentException e) {
      cl.getErr().println("handoff-server: " + e.getMessage());
      return 2;
    }
    return cl.execute(args);
  }

  /** The node's configuration from the parsed options; a generated secret when none is given. */
  ServerConfig toConfig() {
    ServerConfig.Builder b = ServerConfig.builder().port(port).host(host).nodeId(nodeId);
    if (jwtSecret == null || jwtSecret.isEmpty()) {
      b.developmentSecret(DevTokens.randomSecret());
    } else {
      b.jwtSecret(jwtSecret);
    }
    if (heartbeat != null) {
      b.heartbeatInterval(parseDuration(heartbeat));
    }
    if (drainTimeout != null) {
      b.drainTimeout(parseDuration(drainTimeout));
    }
    if (maxFrameBytes != null) {
      b.maxFrameBytes(maxFrameBytes);
    }
    if (writeRate != null || writeBurst != null) {
      b.writeRate(
          writeRate == null ? ServerConfig.DEFAULT_WRITE_RATE_PER_SECOND : writeRate,
          writeBurst == null ? ServerConfig.DEFAULT_WRITE_BURST : writeBurst);
    }
    if (connectRate != null || connectBurst != null) {
      b.connectRatePerAddress(
          connectRate == null ? ServerConfig.DEFAULT_CONNECT_RATE_PER_ADDRESS : connectRate,
          connectBurst == null ? ServerConfig.DEFAULT_CONNECT_BURST_PER_ADDRESS : connectBurst);
    }
    if (maxConnectionsPerUser != null) {
      b.maxConnectionsPerUser(maxConnectionsPerUser);
    }
    if (compression != null) {
      b.compression(compression);
    }
    if (tlsCert != null || tlsKey != null) {
      b.tls(tlsCert, tlsKey);
    }
    HandoffLimits.Builder handoff = HandoffLimits.builder();
    if (activityPayloadMax != null) {
      handoff.maxActivityPayloadBytes(activityPayloadMax);
    }
    if (offerTtl != null) {
      handoff.defaultOfferTtl(parseDuration(offerTtl));
    }
    if (offerTtlMax != null) {
      handoff.maxOfferTtl(parseDuration(offerTtlMax));
    }
    if (presenceTtl != null) {
      handoff.presenceTtl(parseDuration(presenceTtl));
    }
    b.handoffLimits(handoff.build());
    StoreLimits.Builder limits = StoreLimits.builder();
    limits.idleTtl(parseDuration(idleTtl)).maxDevicesPerUser(maxDevices);
    b.tokens(tokenConfig());
    b.approvals(
        io.handoff.server.devices.ApprovalConfig.builder()
            .newDeviceApproval(newDeviceApproval)
            .verificationUri(deviceVerificationUri)
            .build());
    if (historyLength != null) {
      limits.historyLength(historyLength);
    }
    b.storeLimits(limits.build());
    return b.build();
  }

  @Override
  public Integer call() throws Exception {
    ServerConfig config;
    try {
      config = toConfig();
    } catch (IllegalArgumentException e) {
      log.error("invalid configuration: {}", e.getMessage());
      return 2;
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
        log.error("cannot connect to Redis: {}", e.getMessage());
        return 3;
      }
    }
    HandoffServer server;
    try {
      server = HandoffServer.start(config, engine);
    } catch (IllegalArgumentException e) {
      log.error("invalid configuration: {}", e.getMessage());
      engine.close();
      return 2;
    }
    log.info("Handoff node {} on port {}", config.nodeId(), server.port());
    log.info("Durability: {}", engine.durability());
    if (config.developmentSecret()) {
      log.warn("DEVELOPMENT secret (pass --jwt-secret for a real one): {}", config.jwtSecret());
      log.info(
          "Example token (user demo, device laptop, 24 h): {}",
          DevTokens.mint(config.jwtSecret(), "demo", "laptop", Duration.ofHours(24)));
    }
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  log.info("draining: devices are told to reconnect elsewhere");
                  server.close();
                  engine.close();
                  stopped.countDown();
                },
                "handoff-shutdown"));
    stopped.await();
    return 0;
  }

  static Duration parseDuration(String s) {
    String t = s.trim().toLowerCase(java.util.Locale.ROOT);
    if (t.startsWith("p")) {
      return Duration.parse(t.toUpperCase(java.util.Locale.ROOT));
    }
    if (t.endsWith("ms")) {
      return Duration.ofMillis(Long.parseLong(t.substring(0, t.length() - 2)));
    }
    long n = Long.parseLong(t.substring(0, t.length() - 1));
    return switch (t.charAt(t.length() - 1)) {
      case 's' -> Duration.ofSeconds(n);
      case 'm' -> Duration.ofMinutes(n);
      case 'h' -> Duration.ofHours(n);
      case 'd' -> Duration.ofDays(n);
      default -> throw new IllegalArgumentException("not a duration: " + s);
    };
  }

  /** {@code handoff-server token}: mints an HS256 development token. */
  @Command(
      name = "token",
      mixinStandardHelpOptions = true,
      description = "Prints an HS256 access token for development and tests.")
  static final class Token implements Callable<Integer> {
    @Option(names = "--jwt-secret", required = true, description = "The server's secret.")
    String secret;

    @Option(names = "--user", required = true, description = "The sub claim.")
    String user;

    @Option(names = "--device", required = true, description = "The did claim.")
    String device;

    @Option(names = "--ttl", defaultValue = "24h", description = "Lifetime (default 24h).")
    String ttl;

    @Spec CommandSpec spec;

    @Override
    public Integer call() {
      // The token is this command's output, for scripts: stdout, not the log.
      spec.commandLine().getOut().println(DevTokens.mint(secret, user, device, parseDuration(ttl)));
      return 0;
    }
  }

  /** {@code handoff-server keygen}: prints a new P-256 private JWK for {@code --signing-key}. */
  @Command(
      name = "keygen",
      mixinStandardHelpOptions = true,
      description = "Prints a new ES256 (P-256) private JWK for --signing-key.")
  static final class Keygen implements Callable<Integer> {
    @Option(
        names = "--kid",
        description = "Key id (default: handoff- and the current date and time).")
    String kid;

    @Spec CommandSpec spec;

    @Override
    public Integer call() {
      String id =
          kid != null
              ? kid
              : "handoff-"
                  + java.time.format.DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")
                      .withZone(java.time.ZoneOffset.UTC)
                      .format(java.time.Instant.now());
      // The key is this command's output, for scripts: stdout, not the log.
      spec.commandLine()
          .getOut()
          .println(io.handoff.server.auth.SigningKeys.generate(id).toJSONString());
      return 0;
    }
  }
}
