package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import picocli.CommandLine;

/**
 * Every configuration mistake a person makes at the command line, in a variable or in the file gets
 * one line on stderr that names where the bad value came from, the value, and what is accepted,
 * with exit code 2 (3 for an unreachable Redis) and no stack trace.
 *
 * <p>Over 600 lines because it is one table of every start-up mistake and the line it gets; the
 * table reads best whole.
 */
class CommandLineErrorsTest {
  private static final String SECRET = "s".repeat(40);
  private static ServerSocket busy;
  @TempDir static Path dir;

  @BeforeAll
  static void holdAPort() throws Exception {
    busy = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
    Files.writeString(dir.resolve("bad-heartbeat.properties"), "heartbeat=25x\n");
    Files.writeString(dir.resolve("typo.properties"), "redis-ulr=redis://x:6379\n");
    Files.writeString(dir.resolve("nested.properties"), "config=/etc/other.properties\n");
    Files.writeString(dir.resolve("no-pending.properties"), "max-pending-sign-ins-per-user=0\n");
    Files.write(
        dir.resolve("latin1.properties"),
        "# r\u00e9glages\nnode-id=a\n".getBytes(StandardCharsets.ISO_8859_1));
    Files.writeString(
        dir.resolve("jwks.properties"), "identity-jwks=" + dir.resolve("missing-jwks.json") + "\n");
    // A templated file whose substitution came out empty.
    Files.writeString(dir.resolve("empty-url.properties"), "node-id=a\nredis-url=\n");
    Files.writeString(dir.resolve("twice.properties"), "node-id=a\nheartbeat=25s\nnode-id=b\n");
    Files.writeString(dir.resolve("bad.pem"), "not a certificate\n");
    Files.writeString(
        dir.resolve("args.txt"), "--config\n" + dir.resolve("bad-heartbeat.properties") + "\n");
  }

  @AfterAll
  static void release() throws Exception {
    busy.close();
  }

  /** What is run, with which variables, the exit code, and fragments the message must contain. */
  record Case(
      String name, List<String> args, Map<String, String> env, int exit, List<String> says) {
    @Override
    public String toString() {
      return name;
    }
  }

  private static Case c(
      String name, String args, Map<String, String> env, int exit, String... says) {
    return new Case(name, List.of(args.split(" ")), env, exit, List.of(says));
  }

  static Stream<Arguments> cases() {
    String port = Integer.toString(busy.getLocalPort());
    String heartbeatFile = dir.resolve("bad-heartbeat.properties").toString();
    String typoFile = dir.resolve("typo.properties").toString();
    String pendingFile = dir.resolve("no-pending.properties").toString();
    List<Case> all = new ArrayList<>();
    all.add(
        c(
            "durable acks without Redis",
            "--durable-acks 1",
            Map.of(),
            2,
            "--durable-acks needs --redis-url",
            "the in-memory engine has no replicas"));
    all.add(
        c(
            "durable acks out of range",
            "--durable-acks 99 --redis-url redis://127.0.0.1:1",
            Map.of(),
            2,
            "--durable-acks: '99' is refused",
            "between 0 (off) and 16"));
    all.add(
        c(
            "queue budget that is not a size",
            "--queue-budget 64x",
            Map.of(),
            2,
            "--queue-budget",
            "'64x' is not a size",
            "64m, 1g"));
    all.add(
        c(
            "queue budget below its least",
            "--queue-budget 100k",
            Map.of(),
            2,
            "--queue-budget: '100k' is refused",
            "at least 1 MiB"));
    all.add(
        c(
            "event loops out of range",
            "--event-loops -1",
            Map.of(),
            2,
            "--event-loops: '-1' is refused",
            "0 (two per core) or 1..1024"));
    all.add(
        c(
            "socket send buffer out of range",
            "--socket-send-buffer 1g",
            Map.of(),
            2,
            "--socket-send-buffer: '1g' is refused",
            "0 (the kernel's choice) or 4 KiB to 64 MiB"));
    all.add(
        c(
            "port in use",
            "--host 127.0.0.1 --port " + port,
            Map.of(),
            2,
            "cannot listen on 127.0.0.1:" + port,
            "(--port)",
            "already in use",
            "choose a free port with --port"));
    all.add(
        c(
            "port in use, from the variable",
            "--host 127.0.0.1",
            Map.of("HANDOFF_PORT", port),
            2,
            "HANDOFF_PORT (--port)",
            "already in use"));
    all.add(
        c(
            "admin port in use",
            "--host 127.0.0.1 --port 0 --admin-port " + port,
            Map.of(),
            2,
            "cannot listen on 127.0.0.1:" + port,
            "(--admin-port)",
            "already in use"));
    all.add(
        c(
            "token with a short secret",
            "token --jwt-secret short --user alice --device phone",
            Map.of(),
            2,
            "--jwt-secret is 5 bytes long",
            "at least 32 bytes",
            "openssl rand -hex 32"));
    all.add(
        c(
            "token with a bad lifetime",
            "token --jwt-secret " + SECRET + " --user alice --device phone --ttl 1y",
            Map.of(),
            2,
            "--ttl",
            "'1y'",
            "1m30s"));
    all.add(
        c(
            "redis url without a scheme",
            "--redis-url localhost:6379",
            Map.of(),
            2,
            "--redis-url",
            "'localhost:6379' is not a Redis URL",
            "expected redis://host:port"));
    all.add(
        c(
            "redis url from the variable without a host",
            "",
            Map.of("HANDOFF_REDIS_URL", "redis://"),
            2,
            "HANDOFF_REDIS_URL (--redis-url)",
            "'redis://'",
            "expected redis://host:port"));
    all.add(
        c(
            "redis host that does not resolve",
            "--redis-url redis://nosuchhost.invalid:6379",
            Map.of(),
            3,
            "cannot connect to Redis at redis://nosuchhost.invalid:6379 (--redis-url)",
            "unknown host nosuchhost.invalid"));
    all.add(
        c(
            "heartbeat that is no duration",
            "--heartbeat 25x",
            Map.of(),
            2,
            "--heartbeat: '25x' is not a duration",
            "500ms, 25s, 1m30s",
            "PT25S"));
    all.add(
        c(
            "heartbeat that is no duration, in the file",
            "--config " + heartbeatFile,
            Map.of(),
            2,
            "heartbeat in " + heartbeatFile + " (--heartbeat): '25x' is not a duration",
            "1m30s"));
    all.add(
        c(
            "heartbeat below its minimum, from the variable",
            "",
            Map.of("HANDOFF_HEARTBEAT", "5ms"),
            2,
            "HANDOFF_HEARTBEAT (--heartbeat): '5ms' is refused",
            ">= 10ms"));
    all.add(
        c(
            "short secret",
            "--jwt-secret short",
            Map.of(),
            2,
            "--jwt-secret is 5 bytes long",
            "at least 32 bytes"));
    all.add(
        c(
            "short secret from the variable",
            "",
            Map.of("HANDOFF_JWT_SECRET", "short"),
            2,
            "HANDOFF_JWT_SECRET (--jwt-secret) is 5 bytes long",
            "at least 32 bytes"));
    all.add(
        c(
            "port that is not a number, from the variable",
            "",
            Map.of("HANDOFF_PORT", "eighty"),
            2,
            "'--port'",
            "'eighty' is not an int",
            "HANDOFF_PORT"));
    all.add(
        c(
            "port out of range",
            "--port 70000",
            Map.of(),
            2,
            "--port: '70000' is refused",
            "0..65535"));
    all.add(
        c(
            "a typo of a known variable",
            "",
            Map.of("HANDOFF_REDIS_ULR", "redis://x:6379"),
            2,
            "unknown environment variable HANDOFF_REDIS_ULR",
            "did you mean HANDOFF_REDIS_URL?"));
    all.add(
        c(
            "a typo of a known key in the file",
            "--config " + typoFile,
            Map.of(),
            2,
            "unknown key 'redis-ulr' in " + typoFile,
            "did you mean redis-url?"));
    all.add(
        c(
            "a configuration file naming another",
            "--config " + dir.resolve("nested.properties"),
            Map.of(),
            2,
            "a configuration file cannot name another; give --config"));
    all.add(
        c(
            "an identity key set that cannot be read",
            "--identity-jwks " + dir.resolve("missing-jwks.json"),
            Map.of(),
            2,
            "cannot load the JWKS (--identity-jwks) from"));
    all.add(
        c(
            "an identity algorithm the node does not take",
            "--identity-jwks " + dir.resolve("missing-jwks.json") + " --identity-algorithms HS256",
            Map.of(),
            2,
            "--identity-algorithms: 'HS256' is refused",
            "the node takes ES256, RS256, EdDSA"));
    all.add(
        c(
            "an admin host without a port",
            "--admin-host 127.0.0.1",
            Map.of(),
            2,
            "--admin-host needs --admin-port"));
    all.add(
        c(
            "device code lifetime below its minimum",
            "--device-code-ttl 5s",
            Map.of(),
            2,
            "--device-code-ttl: '5s' is refused",
            "10s to 30m"));
    all.add(
        c(
            "poll interval not shorter than the code's life, from the variable",
            "--device-code-ttl 30s",
            Map.of("HANDOFF_DEVICE_POLL_INTERVAL", "45s"),
            2,
            "HANDOFF_DEVICE_POLL_INTERVAL (--device-poll-interval): '45s' is refused",
            "must be shorter than the device code's life (30 s)"));
    all.add(
        c(
            "no pending sign-ins allowed, in the file",
            "--config " + pendingFile,
            Map.of(),
            2,
            "max-pending-sign-ins-per-user in " + pendingFile,
            "'0' is refused",
            "1 to 1000"));
    all.add(
        c(
            "a held sign-in timeout that is no duration",
            "--new-device-approval-timeout forever",
            Map.of(),
            2,
            "--new-device-approval-timeout: 'forever' is not a duration"));
    all.add(
        c(
            "wrong-code limit per address that is no number",
            "--max-user-code-failures-per-address many",
            Map.of(),
            2,
            "--max-user-code-failures-per-address",
            "'many' is not an int"));
    // Each of these names the busy port too: a node that took the mistake would fail to listen
    // (and say so) instead of serving.
    String busyPort = " --host 127.0.0.1 --port " + port;
    all.add(
        c(
            "an argument file, whose --config would never be read",
            "@" + dir.resolve("args.txt") + busyPort,
            Map.of(),
            2,
            "'@" + dir.resolve("args.txt") + "'",
            "argument files are not read",
            "--config FILE"));
    all.add(
        c(
            "a key twice in the file",
            "--config " + dir.resolve("twice.properties") + busyPort,
            Map.of(),
            2,
            "configuration file " + dir.resolve("twice.properties"),
            "sets node-id more than once"));
    all.add(
        c(
            "a Redis Cluster without its seed nodes",
            "--redis-cluster" + busyPort,
            Map.of(),
            2,
            "--redis-cluster needs --redis-url",
            "its own memory"));
    all.add(
        c(
            "a Redis Cluster without its seed nodes, from the variable",
            busyPort.strip(),
            Map.of("HANDOFF_REDIS_CLUSTER", "true"),
            2,
            "HANDOFF_REDIS_CLUSTER (--redis-cluster) needs --redis-url"));
    all.add(
        c(
            "an empty secret from the variable (an empty Kubernetes secret)",
            busyPort.strip(),
            Map.of("HANDOFF_JWT_SECRET", ""),
            2,
            "HANDOFF_JWT_SECRET is set but empty",
            "unset it or give it a value"));
    all.add(
        c(
            "an empty Redis URL in the file (a template's empty substitution)",
            "--config " + dir.resolve("empty-url.properties") + busyPort,
            Map.of(),
            2,
            "redis-url in " + dir.resolve("empty-url.properties") + " is empty",
            "remove the line or give it a value"));
    all.add(
        c(
            "an identity JWKS that cannot be loaded, from the variable",
            busyPort.strip(),
            Map.of("HANDOFF_IDENTITY_JWKS", dir.resolve("missing-jwks.json").toString()),
            2,
            "cannot load the JWKS (HANDOFF_IDENTITY_JWKS (--identity-jwks)) from "));
    all.add(
        c(
            "an identity JWKS that cannot be loaded, from the file",
            "--config " + dir.resolve("jwks.properties") + busyPort,
            Map.of(),
            2,
            "cannot load the JWKS (identity-jwks in " + dir.resolve("jwks.properties")));
    all.add(
        c(
            "a value with the carriage return of a CRLF env file",
            busyPort.strip(),
            Map.of("HANDOFF_HEARTBEAT", "25x\r"),
            2,
            "HANDOFF_HEARTBEAT (--heartbeat)",
            "'25x'"));
    all.add(
        c(
            "a frame limit below the largest field value",
            "--max-frame-bytes 2048" + busyPort,
            Map.of(),
            2,
            "--max-frame-bytes: '2048' is refused",
            "at least 65536 (64 KiB)"));
    all.add(
        c(
            "a previous-key grace that is no duration, before any key rotation",
            "--previous-key-grace 1hr" + busyPort,
            Map.of(),
            2,
            "--previous-key-grace: '1hr' is not a duration"));
    all.add(
        c(
            "a signing key that cannot be read, from the variable",
            busyPort.strip(),
            Map.of("HANDOFF_SIGNING_KEY", dir.resolve("missing.jwk").toString()),
            2,
            "HANDOFF_SIGNING_KEY (--signing-key)",
            "cannot read key file"));
    all.add(
        c(
            "an offer lifetime longer than the longest, from the variable",
            busyPort.strip(),
            Map.of("HANDOFF_OFFER_TTL", "20m"),
            2,
            "HANDOFF_OFFER_TTL (--offer-ttl): '20m' is refused",
            "not be longer than --offer-ttl-max (10m)"));
    all.add(
        c(
            "queue budget of 0, which reads as off as much as auto",
            "--queue-budget 0" + busyPort,
            Map.of(),
            2,
            "--queue-budget: '0' is refused",
            "write auto (the default)",
            "cannot be turned off"));
    all.add(
        c(
            "queue budget of 0 with a unit, from the variable",
            busyPort.strip(),
            Map.of("HANDOFF_QUEUE_BUDGET", "0m"),
            2,
            "HANDOFF_QUEUE_BUDGET (--queue-budget): '0m' is refused",
            "write auto"));
    all.add(
        c(
            "a longest offer lifetime past 24 days by a millisecond",
            "--offer-ttl-max 24d1ms" + busyPort,
            Map.of(),
            2,
            "--offer-ttl-max: '24d1ms' is refused",
            "10ms..24d"));
    all.add(
        c(
            "a longest offer lifetime past 24 days by less than a millisecond, in ISO-8601",
            "--offer-ttl-max PT576H0.0009S" + busyPort,
            Map.of(),
            2,
            "--offer-ttl-max: 'PT576H0.0009S' is refused"));
    all.add(
        c(
            "a configuration file in Latin-1",
            "--config " + dir.resolve("latin1.properties") + busyPort,
            Map.of(),
            2,
            "configuration file " + dir.resolve("latin1.properties"),
            "is not UTF-8 text (line 1)",
            "save it as UTF-8"));
    all.add(
        c(
            "a configuration file that does not exist, from the variable",
            busyPort.strip(),
            Map.of("HANDOFF_CONFIG", dir.resolve("missing.properties").toString()),
            2,
            "cannot read configuration file " + dir.resolve("missing.properties"),
            "there is no such file"));
    all.add(
        c(
            "a log level logback does not know, which it would take for DEBUG",
            busyPort.strip(),
            Map.of("HANDOFF_LOG_LEVEL", "WARNING"),
            2,
            "HANDOFF_LOG_LEVEL: 'WARNING' is not a log level",
            "ERROR, WARN, INFO, DEBUG"));
    all.add(
        c(
            "seed nodes of a cluster without --redis-cluster",
            "--redis-url redis://10.0.0.5:7000,10.0.0.6:7000",
            Map.of(),
            2,
            "--redis-url: 'redis://10.0.0.5:7000,10.0.0.6:7000' lists several Redis nodes",
            "add --redis-cluster"));
    all.add(
        c(
            "an identity algorithm the node does not take, from the variable",
            busyPort.strip(),
            Map.of("HANDOFF_IDENTITY_ALGORITHMS", "ES256,HS256"),
            2,
            "HANDOFF_IDENTITY_ALGORITHMS (--identity-algorithms): 'ES256,HS256' is refused",
            "identity algorithm HS256 is not supported"));
    all.add(
        c(
            "an access token that would outlive a session dead of inactivity",
            "--access-token-ttl 2h --refresh-inactivity 1h" + busyPort,
            Map.of(),
            2,
            "--access-token-ttl: '2h' is too long for --refresh-inactivity '1h'",
            "30 s clock skew plus --refresh-reuse-interval ('5s')"));
    all.add(
        c(
            "an access token that lives longer than the node accepts tokens",
            "--access-token-ttl 2d" + busyPort,
            Map.of("HANDOFF_MAX_TOKEN_LIFETIME", "1d"),
            2,
            "--access-token-ttl: '2d' is longer than"
                + " HANDOFF_MAX_TOKEN_LIFETIME (--max-token-lifetime) '1d'",
            "raise --max-token-lifetime"));
    all.add(
        c(
            "token with a lifetime the node would refuse",
            "token --jwt-secret " + SECRET + " --user alice --device phone --ttl 7d",
            Map.of(),
            2,
            "--ttl 7d is longer than --max-token-lifetime 24h",
            "a node would refuse the token"));
    all.add(
        c(
            "an inactivity limit that leaves no room for the clock skew, from the variable",
            "--access-token-ttl 10m" + busyPort,
            Map.of("HANDOFF_REFRESH_INACTIVITY", "10m30s"),
            2,
            "--access-token-ttl: '10m' is too long for"
                + " HANDOFF_REFRESH_INACTIVITY (--refresh-inactivity) '10m30s'"));
    all.add(
        c(
            "a drain timeout past 5 minutes by less than a second",
            "--drain-timeout 5m500ms" + busyPort,
            Map.of(),
            2,
            "--drain-timeout: '5m500ms' is refused",
            "between 0 and 5 minutes"));
    all.add(
        c(
            "a drain timeout past 5 minutes by a nanosecond, in ISO-8601",
            "--drain-timeout PT300.000000001S" + busyPort,
            Map.of(),
            2,
            "--drain-timeout: 'PT300.000000001S' is refused"));
    all.add(
        c(
            "a drain delay past 5 minutes, from the variable",
            busyPort.strip(),
            Map.of("HANDOFF_DRAIN_DELAY", "5m1s"),
            2,
            "HANDOFF_DRAIN_DELAY (--drain-delay): '5m1s' is refused",
            "between 0 and 5 minutes"));
    all.add(
        c(
            "a drain delay without a unit",
            "--drain-delay 5" + busyPort,
            Map.of(),
            2,
            "--drain-delay: "));
    all.add(
        c(
            "a write rate so small its wait overflows",
            "--write-rate 1e-300" + busyPort,
            Map.of(),
            2,
            "--write-rate: '1.0E-300' is refused",
            "0 (no limit) or at least 0.001 a second"));
    all.add(
        c(
            "a sync rate below the least, from the variable",
            busyPort.strip(),
            Map.of("HANDOFF_SYNC_RATE", "0.0001"),
            2,
            "HANDOFF_SYNC_RATE (--sync-rate): '1.0E-4' is refused",
            "at least 0.001"));
    all.add(
        c(
            "a TLS certificate that does not exist",
            "--tls-cert "
                + dir.resolve("missing-cert.pem")
                + " --tls-key "
                + dir.resolve("bad.pem")
                + busyPort,
            Map.of(),
            2,
            "--tls-cert: cannot read the TLS certificate chain " + dir.resolve("missing-cert.pem"),
            "there is no such file"));
    all.add(
        c(
            "a TLS key that is a directory, from the variable",
            "--tls-cert " + dir.resolve("bad.pem") + busyPort,
            Map.of("HANDOFF_TLS_KEY", dir.toString()),
            2,
            "HANDOFF_TLS_KEY (--tls-key): cannot read the TLS private key",
            "it is a directory"));
    all.add(
        c(
            "a TLS certificate that is no certificate, from the variable",
            "--tls-key " + dir.resolve("bad.pem") + busyPort,
            Map.of("HANDOFF_TLS_CERT", dir.resolve("bad.pem").toString()),
            2,
            "cannot use TLS certificate "
                + dir.resolve("bad.pem")
                + " (HANDOFF_TLS_CERT (--tls-cert))",
            "(--tls-key)"));
    // A free port: a node that took it twice would bind it and blame "another process".
    String free = Integer.toString(freePort());
    all.add(
        c(
            "the admin port on the public port",
            "--host 127.0.0.1 --port " + free + " --admin-port " + free,
            Map.of(),
            2,
            "--admin-port is " + free + ", the port --port gives the public listener",
            "a port of its own"));
    return all.stream().map(Arguments::of);
  }

  private static int freePort() {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void badConfigurationGetsOneLineThatSaysWhatToChange(Case c) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    Map<String, String> env = new HashMap<>(c.env());
    if (!c.args().contains("token")
        && !c.args().contains("--jwt-secret")
        && !env.containsKey("HANDOFF_JWT_SECRET")) {
      env.put("HANDOFF_JWT_SECRET", SECRET);
    }
    String[] args = c.args().stream().filter(a -> !a.isEmpty()).toArray(String[]::new);
    int exit = Main.run(args, env, new PrintWriter(out, true), new PrintWriter(err, true));
    String said = err.toString();
    assertEquals(c.exit(), exit, said);
    for (String fragment : c.says()) {
      assertTrue(said.contains(fragment), "expected '" + fragment + "' in: " + said);
    }
    assertFalse(said.contains("\tat "), "no stack trace: " + said);
    assertFalse(said.contains("Exception"), "no exception names: " + said);
  }

  @Test
  void anEmptyValueOfAFlagIsNoValueLeftOut() {
    // --jwt-secret "$SECRET" with SECRET unset: taken as not given, the node made up a development
    // secret, printed it and served token minting; --redis-url= ran it on the memory engine.
    String port = Integer.toString(busy.getLocalPort());
    for (String[] args :
        List.of(
            new String[] {"--host", "127.0.0.1", "--port", port, "--jwt-secret", ""},
            new String[] {
              "--host", "127.0.0.1", "--port", port, "--redis-url=", "--jwt-secret", SECRET
            },
            new String[] {"--node-id", " ", "--host", "127.0.0.1", "--port", port})) {
      StringWriter err = new StringWriter();
      int exit =
          Main.run(
              args,
              Map.of(),
              new PrintWriter(new StringWriter(), true),
              new PrintWriter(err, true));
      String said = err.toString();
      assertEquals(2, exit, said);
      assertTrue(said.contains("is given an empty value: leave it out or give it a value"), said);
      assertTrue(
          said.contains("--jwt-secret")
              || said.contains("--redis-url")
              || said.contains("--node-id"),
          said);
    }
  }

  @Test
  void aMalformedRedisUrlIsReportedWithoutItsPassword() {
    for (String[] args :
        List.of(
            new String[] {"--redis-url", "redis://:pa/ss@127.0.0.1:6379"},
            new String[] {"--redis-url", "redis://:p@ss@127.0.0.1:6379"},
            new String[] {
              "--redis-cluster", "--redis-url", "redis://10.0.0.5:7000,redis://:pa ss@10.0.0.6:7000"
            })) {
      StringWriter err = new StringWriter();
      int exit =
          Main.run(
              args,
              Map.of("HANDOFF_JWT_SECRET", SECRET),
              new PrintWriter(new StringWriter(), true),
              new PrintWriter(err, true));
      String said = err.toString();
      assertEquals(2, exit, said);
      assertTrue(said.contains("is not a Redis URL"), said);
      assertTrue(said.contains("****@"), "the host is still named: " + said);
      assertTrue(said.contains("percent-encode @, /"), said);
      assertFalse(said.contains("pa/ss") || said.contains("p@ss") || said.contains("pa ss"), said);
    }
  }

  private static ServerConfig configure(Map<String, String> env, String... args) {
    Main main = new Main();
    CommandLine cl = new CommandLine(main);
    cl.setDefaultValueProvider(ConfigSources.load(cl.getCommandSpec(), args, env));
    cl.parseArgs(args);
    return main.toConfig();
  }

  @Test
  void kubernetesServiceVariablesDoNotStopANode() {
    Map<String, String> env = new HashMap<>();
    env.put("HANDOFF_JWT_SECRET", SECRET);
    // What Kubernetes injects for a Service "handoff" with ports "ws" 8080 and "admin" 9090,
    // and for a Service "handoff-admin".
    env.put("HANDOFF_SERVICE_HOST", "10.96.0.11");
    env.put("HANDOFF_SERVICE_PORT", "8080");
    env.put("HANDOFF_SERVICE_PORT_WS", "8080");
    env.put("HANDOFF_SERVICE_PORT_ADMIN", "9090");
    env.put("HANDOFF_PORT", "tcp://10.96.0.11:8080");
    env.put("HANDOFF_PORT_8080_TCP", "tcp://10.96.0.11:8080");
    env.put("HANDOFF_PORT_8080_TCP_PROTO", "tcp");
    env.put("HANDOFF_PORT_8080_TCP_PORT", "8080");
    env.put("HANDOFF_PORT_8080_TCP_ADDR", "10.96.0.11");
    env.put("HANDOFF_PORT_9090_TCP", "tcp://10.96.0.11:9090");
    env.put("HANDOFF_ADMIN_SERVICE_HOST", "10.96.0.12");
    env.put("HANDOFF_ADMIN_SERVICE_PORT", "9090");
    env.put("HANDOFF_ADMIN_PORT", "tcp://10.96.0.12:9090");
    env.put("HANDOFF_ADMIN_PORT_9090_TCP_ADDR", "10.96.0.12");
    ServerConfig c = configure(env);
    assertEquals(ServerConfig.DEFAULT_PORT, c.port(), "a service link is no port");
    assertEquals(-1, c.adminPort(), "nor an admin port");

    env.put("HANDOFF_PORT", "9000");
    env.put("HANDOFF_HEARTBEAT", " 25 s ");
    ServerConfig set = configure(env);
    assertEquals(9000, set.port(), "a real HANDOFF_PORT is still read");
    assertEquals(Duration.ofSeconds(25), set.heartbeatInterval(), "spaces are tolerated");
  }

  @Test
  void aByteOrderMarkBeforeTheFirstKeyIsNoPartOfIt() throws Exception {
    // What Windows editors save as "UTF-8".
    Path file = dir.resolve("bom.properties");
    Files.writeString(file, "\uFEFFnode-id=a\njwt-secret=" + SECRET + "\n");
    assertEquals("a", configure(Map.of(), "--config", file.toString()).nodeId());
  }

  @Test
  void durationsInTheFileTolerateSpaces() throws Exception {
    Path file = dir.resolve("spaces.properties");
    Files.writeString(file, "heartbeat=25 s \ndrain-timeout = 1m30s\njwt-secret=" + SECRET + "\n");
    ServerConfig c = configure(Map.of(), "--config", file.toString());
    assertEquals(Duration.ofSeconds(25), c.heartbeatInterval());
    assertEquals(Duration.ofSeconds(90), c.drainTimeout());
  }

  @Test
  void theDrainDelayComesFromItsVariableAndIsOffByDefault() throws Exception {
    assertEquals(Duration.ZERO, configure(Map.of("HANDOFF_JWT_SECRET", SECRET)).drainDelay());
    assertEquals(
        Duration.ofSeconds(15),
        configure(Map.of("HANDOFF_JWT_SECRET", SECRET, "HANDOFF_DRAIN_DELAY", "15s")).drainDelay());
  }

  @Test
  void helpGroupsOptionsWithTheirDefaultsAndVariables() {
    StringWriter out = new StringWriter();
    int exit =
        Main.run(
            new String[] {"--help"},
            Map.of(),
            new PrintWriter(out, true),
            new PrintWriter(new StringWriter(), true));
    String help = out.toString();
    assertEquals(0, exit);
    int at = -1;
    for (String group : HelpLayout.GROUPS.keySet()) {
      int next = help.indexOf("\n" + group + ":\n");
      assertTrue(next > at, group + " after the one before it in:\n" + help);
      at = next;
    }
    assertTrue(help.contains("--heartbeat <DURATION>"), help);
    assertTrue(help.contains("Default: 25s.  Env: HANDOFF_HEARTBEAT."), help);
    assertTrue(help.contains("Env: HANDOFF_ADMIN_PORT."), help);
    assertFalse(help.contains("\nOther:\n"), "every option is in a group:\n" + help);
    Main main = new Main();
    for (var o : new CommandLine(main).getCommandSpec().options()) {
      String key = o.longestName().replaceFirst("^--", "");
      if (!key.equals("help") && !key.equals("version")) {
        assertTrue(HelpLayout.shown().contains(key), key + " is in a group");
        assertTrue(
            help.contains("Env: " + ConfigSources.envName(key)), key + " names its variable");
      }
    }
  }
}
