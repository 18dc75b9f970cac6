package io.handoff.server;

import io.handoff.server.auth.DevTokens;
import io.handoff.server.engine.Engine;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.memory.MemoryEngine;
import io.handoff.server.engine.redis.RedisEngine;
import java.time.Duration;
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

  @Option(names = "--port", description = "TCP port (default ${DEFAULT-VALUE}).")
  int port = ServerConfig.DEFAULT_PORT;

  @Option(names = "--host", description = "Address to bind (default ${DEFAULT-VALUE}).")
  String host = ServerConfig.DEFAULT_HOST;

  @Option(names = "--node-id", description = "Name of this node in logs and Welcome frames.")
  String nodeId;

  @Option(
      names = "--jwt-secret",
      defaultValue = "${env:HANDOFF_JWT_SECRET}",
      description =
          "HS256 secret for access tokens, at least 32 bytes (env HANDOFF_JWT_SECRET)."
              + " Without one a development secret is generated and printed.")
  String jwtSecret;

  @Option(
      names = "--redis-url",
      defaultValue = "${env:HANDOFF_REDIS_URL}",
      description =
          "Redis for many nodes, e.g. redis://127.0.0.1:6379 (env HANDOFF_REDIS_URL)."
              + " Without it the embedded in-memory engine runs one node.")
  String redisUrl;

  @Option(
      names = "--redis-prefix",
      defaultValue = "handoff:",
      description = "Prefix of every Redis key (default ${DEFAULT-VALUE}).")
  String redisPrefix;

  @Option(names = "--config", description = "Configuration file (not available yet).")
  String configFile;

  @Option(
      names = "--heartbeat",
      description = "Heartbeat interval, ISO-8601 or e.g. 25s (default 25s).")
  String heartbeat;

  @Option(names = "--history-length", description = "Deltas kept per document (default 1000).")
  Integer historyLength;

  // Device sessions and tokens (docs/security.md).
  @Option(
      names = "--identity-jwks",
      defaultValue = "${env:HANDOFF_IDENTITY_JWKS}",
      description =
          "JWKS file or http(s) URL with the keys of the app's identity tokens; enables sign-in"
              + " (POST /v1/sessions) (env HANDOFF_IDENTITY_JWKS).")
  String identityJwks;

  @Option(
      names = "--identity-algorithms",
      defaultValue = "${env:HANDOFF_IDENTITY_ALGORITHMS:-ES256,RS256}",
      split = ",",
      description =
          "Accepted identity token algorithms: ES256, RS256, EdDSA (default ES256,RS256).")
  java.util.Set<String> identityAlgorithms;

  @Option(
      names = "--identity-issuer",
      defaultValue = "${env:HANDOFF_IDENTITY_ISSUER}",
      description = "Required iss of identity tokens (env HANDOFF_IDENTITY_ISSUER).")
  String identityIssuer;

  @Option(
      names = "--identity-audience",
      defaultValue = "${env:HANDOFF_IDENTITY_AUDIENCE}",
      description = "Required aud of identity tokens (env HANDOFF_IDENTITY_AUDIENCE).")
  String identityAudience;

  @Option(
      names = "--signing-key",
      defaultValue = "${env:HANDOFF_SIGNING_KEY}",
      description =
          "P-256 private JWK file (with kid) that signs access tokens; every node of a deployment"
              + " needs the same one. Without it an ephemeral key is generated"
              + " (env HANDOFF_SIGNING_KEY).")
  java.nio.file.Path signingKey;

  @Option(
      names = "--previous-signing-key",
      defaultValue = "${env:HANDOFF_PREVIOUS_SIGNING_KEY}",
      description =
          "The key --signing-key replaced: its tokens stay valid for --previous-key-grace"
              + " (env HANDOFF_PREVIOUS_SIGNING_KEY).")
  java.nio.file.Path previousSigningKey;

  @Option(
      names = "--previous-key-grace",
      defaultValue = "${env:HANDOFF_PREVIOUS_KEY_GRACE:-1h}",
      description = "How long after start the previous key is accepted (default 1h).")
  String previousKeyGrace;

  @Option(
      names = "--access-token-ttl",
      defaultValue = "${env:HANDOFF_ACCESS_TOKEN_TTL:-10m}",
      description = "Lifetime of access tokens (default 10m).")
  String accessTokenTtl;

  @Option(
      names = "--refresh-inactivity",
      defaultValue = "${env:HANDOFF_REFRESH_INACTIVITY:-30d}",
      description = "A refresh token unused this long stops working (default 30d).")
  String refreshInactivity;

  @Option(
      names = "--idle-ttl",
      defaultValue = "${env:HANDOFF_IDLE_TTL:-30d}",
      description = "Documents, history and device sessions idle this long expire (default 30d).")
  String idleTtl;

  @Option(
      names = "--max-devices",
      defaultValue = "${env:HANDOFF_MAX_DEVICES:-64}",
      description = "Signed-in devices per user (default 64).")
  int maxDevices;

  public static void main(String[] args) {
    System.exit(new CommandLine(new Main()).execute(args));
  }

  private io.handoff.server.auth.TokenConfig tokenConfig() {
    io.handoff.server.auth.TokenConfig.Builder t =
        io.handoff.server.auth.TokenConfig.builder()
            .identityJwks(identityJwks)
            .identityAlgorithms(identityAlgorithms)
            .identityIssuer(identityIssuer)
            .identityAudience(identityAudience)
            .accessTokenTtl(parseDuration(accessTokenTtl))
            .refreshInactivity(parseDuration(refreshInactivity));
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

  @Override
  public Integer call() throws Exception {
    if (configFile != null) {
      log.error("--config: configuration files are not supported yet.");
      return 2;
    }
    ServerConfig.Builder b = ServerConfig.builder().port(port).host(host).nodeId(nodeId);
    boolean dev = jwtSecret == null || jwtSecret.isEmpty();
    String secret = dev ? DevTokens.randomSecret() : jwtSecret;
    if (dev) {
      b.developmentSecret(secret);
    } else {
      b.jwtSecret(secret);
    }
    if (heartbeat != null) {
      b.heartbeatInterval(parseDuration(heartbeat));
    }
    StoreLimits.Builder limits = StoreLimits.builder();
    try {
      limits.idleTtl(parseDuration(idleTtl)).maxDevicesPerUser(maxDevices);
      b.tokens(tokenConfig());
    } catch (IllegalArgumentException e) {
      log.error("invalid token configuration: {}", e.getMessage());
      return 2;
    }
    if (historyLength != null) {
      limits.historyLength(historyLength);
    }
    b.storeLimits(limits.build());
    ServerConfig config;
    try {
      config = b.build();
    } catch (IllegalArgumentException e) {
      log.error("invalid configuration: {}", e.getMessage());
      return 2;
    }
    Engine engine;
    if (redisUrl == null || redisUrl.isBlank()) {
      engine = new MemoryEngine(config.storeLimits());
    } else {
      try {
        engine = RedisEngine.connect(redisUrl, redisPrefix, config.storeLimits());
      } catch (RuntimeException e) {
        log.error("cannot connect to Redis at {}: {}", redisUrl, e.getMessage());
        return 3;
      }
    }
    HandoffServer server = HandoffServer.start(config, engine);
    log.info("Handoff node {} on port {}", config.nodeId(), server.port());
    log.info("Durability: {}", engine.durability());
    if (dev) {
      log.warn("DEVELOPMENT secret (pass --jwt-secret for a real one): {}", secret);
      log.info(
          "Example token (user demo, device laptop, 24 h): {}",
          DevTokens.mint(secret, "demo", "laptop", Duration.ofHours(24)));
    }
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
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
    @Option(
        names = "--jwt-secret",
        required = true,
        defaultValue = "${env:HANDOFF_JWT_SECRET}",
        description = "The server's secret (env HANDOFF_JWT_SECRET).")
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
