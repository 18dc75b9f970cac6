package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.server.auth.TokenConfig;
import io.handoff.server.session.QueueBudget;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** Flags over HANDOFF_* variables over the config file over defaults; unknown keys are errors. */
class ConfigTest {
  private static final String SECRET = "s".repeat(40);
  @TempDir Path dir;

  private static ServerConfig configure(Map<String, String> env, String... args) {
    Main main = new Main();
    CommandLine cl = new CommandLine(main);
    cl.setDefaultValueProvider(ConfigSources.load(cl.getCommandSpec(), args, env));
    cl.parseArgs(args);
    return main.toConfig();
  }

  @Test
  void flagsBeatEnvironmentWhichBeatsTheFileWhichBeatsDefaults() throws Exception {
    Path file = dir.resolve("handoff.properties");
    Files.writeString(
        file,
        "port=7001\nnode-id=from-file\nheartbeat=40s\nwrite-rate=50\njwt-secret=" + SECRET + "\n");
    ServerConfig c =
        configure(
            Map.of("HANDOFF_NODE_ID", "from-env", "HANDOFF_HEARTBEAT", "30s"),
            "--config",
            file.toString(),
            "--heartbeat",
            "20s");
    assertEquals(7001, c.port(), "from the file");
    assertEquals("from-env", c.nodeId(), "the environment beats the file");
    assertEquals(Duration.ofSeconds(20), c.heartbeatInterval(), "a flag beats both");
    assertEquals(50, c.writeRatePerSecond(), "from the file");
    assertEquals(ServerConfig.DEFAULT_WRITE_BURST, c.writeBurst(), "a default");
    assertEquals(SECRET, c.jwtSecret());
    assertFalse(c.developmentSecret());
    assertFalse(c.transport().compression(), "compression is off by default");
    assertEquals(
        Duration.ofSeconds(12),
        configure(Map.of("HANDOFF_PRESENCE_TTL", "12s"), "--jwt-secret", SECRET)
            .handoffLimits()
            .presenceTtl(),
        "handoff limits come from the same sources");
    assertTrue(
        configure(Map.of(), "--compression", "--jwt-secret", SECRET).transport().compression(),
        "and can be turned on");
    assertTrue(
        configure(Map.of("HANDOFF_COMPRESSION", "true"), "--jwt-secret", SECRET)
            .transport()
            .compression(),
        "also from the environment");
  }

  /**
   * The rule the launcher states with its options holds for a configuration built in code too, on
   * the configuration's own clock skew.
   */
  @Test
  void aConfigurationBuiltInCodeRefusesAnAccessTokenThatOutlivesItsRefreshToken() {
    IllegalArgumentException longer =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                ServerConfig.builder()
                    .jwtSecret(SECRET)
                    .tokens(
                        TokenConfig.builder()
                            .accessTokenTtl(Duration.ofHours(2))
                            .refreshInactivity(Duration.ofHours(1))
                            .build())
                    .build());
    assertTrue(longer.getMessage().contains("must not be longer than"), longer.getMessage());
    TokenConfig justFits =
        TokenConfig.builder()
            .accessTokenTtl(Duration.ofMinutes(10))
            .refreshReuseInterval(Duration.ofSeconds(5))
            .refreshInactivity(Duration.ofMinutes(10).plusSeconds(35))
            .build();
    ServerConfig.builder().jwtSecret(SECRET).tokens(justFits).build();
    assertThrows(
        IllegalArgumentException.class,
        () ->
            ServerConfig.builder()
                .jwtSecret(SECRET)
                .tokens(justFits)
                .clockSkew(Duration.ofSeconds(31))
                .build(),
        "the configuration's own clock skew counts");
  }

  @Test
  void theLongestOfferLifetimeMayBeExactly24Days() {
    assertEquals(
        Duration.ofDays(24),
        configure(Map.of(), "--offer-ttl-max", "24d", "--jwt-secret", SECRET)
            .handoffLimits()
            .maxOfferTtl());
    assertEquals(
        Duration.ofMillis(10),
        configure(
                Map.of(), "--offer-ttl-max", "10ms", "--offer-ttl", "10ms", "--jwt-secret", SECRET)
            .handoffLimits()
            .maxOfferTtl());
  }

  @Test
  void queueBudgetIsAQuarterOfTheSmallerOfHeapAndDirectMemoryUnlessConfigured() {
    assertEquals(0, configure(Map.of(), "--jwt-secret", SECRET).queueBudgetBytes(), "auto");
    assertEquals(
        64L << 20,
        configure(Map.of("HANDOFF_QUEUE_BUDGET", "64m"), "--jwt-secret", SECRET)
            .queueBudgetBytes());
    assertEquals(
        3L << 30,
        configure(Map.of(), "--queue-budget", "3GiB", "--jwt-secret", SECRET).queueBudgetBytes());
    IllegalArgumentException zero =
        assertThrows(
            IllegalArgumentException.class, () -> ServerConfig.builder().queueBudgetBytes(0));
    assertTrue(zero.getMessage().contains("leave it unset"), zero.getMessage());
    assertEquals(64L << 20, QueueBudget.derive(256L << 20, 256L << 20));
    assertEquals(32L << 20, QueueBudget.derive(1L << 30, 128L << 20), "direct memory is smaller");
    assertEquals(1L << 20, QueueBudget.derive(2L << 20, 2L << 20), "never below 1 MiB");
  }

  @Test
  void aQueueBudgetLargerThanTheJvmsMemoryIsTakenWithOneWarningNamingBoth() throws Exception {
    ch.qos.logback.classic.Logger logger =
        (ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger(QueueBudget.class);
    ch.qos.logback.core.read.ListAppender<ch.qos.logback.classic.spi.ILoggingEvent> logged =
        new ch.qos.logback.core.read.ListAppender<>();
    logged.start();
    logger.addAppender(logged);
    long heap = Runtime.getRuntime().maxMemory();
    long direct = io.netty.util.internal.PlatformDependent.maxDirectMemory();
    long smaller = direct > 0 ? Math.min(heap, direct) : heap;
    try {
      try (QueueBudget fits = new QueueBudget(1L << 20, "n1")) {
        assertEquals(1L << 20, fits.limit());
      }
      assertTrue(logged.list.isEmpty(), "a budget that fits says nothing: " + logged.list);
      long tooMuch = smaller + (1L << 30);
      try (QueueBudget budget = new QueueBudget(tooMuch, "n2")) {
        assertEquals(tooMuch, budget.limit(), "taken as given");
      }
      assertEquals(1, logged.list.size(), logged.list.toString());
      String said = logged.list.get(0).getFormattedMessage();
      assertEquals(ch.qos.logback.classic.Level.WARN, logged.list.get(0).getLevel());
      assertTrue(said.contains("queue-budget " + (tooMuch >> 20) + " MiB"), said);
      assertTrue(said.contains((smaller >> 20) + " MiB"), said);
    } finally {
      logger.detachAppender(logged);
    }
    assertEquals(
        null, QueueBudget.tooLarge(64L << 20, 128L << 20, 128L << 20), "a quarter of the heap");
    assertTrue(
        QueueBudget.tooLarge(1L << 30, 128L << 20, 0).contains("heap, 128 MiB (-Xmx)"),
        "1g on -Xmx128m");
    assertTrue(
        QueueBudget.tooLarge(1L << 30, 4L << 30, 256L << 20)
            .contains("direct-memory limit, 256 MiB"),
        "direct memory is the smaller");
  }

  @Test
  void anAccessTokenLifetimeThatFitsInTheInactivityLimitIsTaken() {
    ServerConfig c =
        configure(
            Map.of(),
            "--access-token-ttl",
            "1h",
            "--refresh-inactivity",
            "1h35s",
            "--jwt-secret",
            SECRET);
    assertEquals(Duration.ofHours(1), c.tokens().accessTokenTtl());
    assertThrows(
        IllegalArgumentException.class,
        () ->
            configure(
                Map.of(),
                "--access-token-ttl",
                "1h",
                "--refresh-inactivity",
                "1h34s",
                "--jwt-secret",
                SECRET),
        "one second short of the skew and the reuse interval");
    assertEquals(
        Duration.ofHours(1),
        configure(
                Map.of(),
                "--access-token-ttl",
                "1h",
                "--refresh-inactivity",
                "1h30s",
                "--refresh-reuse-interval",
                "0s",
                "--jwt-secret",
                SECRET)
            .tokens()
            .accessTokenTtl(),
        "no reuse interval, no room needed for it");
  }

  @Test
  void deviceSocketSendBufferIsBoundedUnlessLeftToTheKernel() {
    assertEquals(
        128 * 1024,
        configure(Map.of(), "--jwt-secret", SECRET).transport().socketSendBufferBytes(),
        "bounded by default");
    assertEquals(
        64 * 1024,
        configure(Map.of("HANDOFF_SOCKET_SEND_BUFFER", "64k"), "--jwt-secret", SECRET)
            .transport()
            .socketSendBufferBytes());
    assertEquals(
        0,
        configure(Map.of(), "--socket-send-buffer", "0", "--jwt-secret", SECRET)
            .transport()
            .socketSendBufferBytes(),
        "the kernel's autotuning");
  }

  @Test
  void signInLimitsComeFromFlagsVariablesAndTheFile() throws Exception {
    io.handoff.server.devices.ApprovalConfig defaults =
        configure(Map.of(), "--jwt-secret", SECRET).approvals();
    assertFalse(defaults.newDeviceApproval());
    assertEquals(Duration.ofMinutes(10), defaults.codeTtl());
    assertEquals(Duration.ofSeconds(5), defaults.pollInterval());
    assertEquals(Duration.ofMinutes(2), defaults.approvalTtl());
    assertEquals(5, defaults.maxPendingPerUser());
    assertEquals(10, defaults.maxPendingPerAddress());
    assertEquals(100_000, defaults.maxPendingTotal());
    assertEquals(10, defaults.maxFailedAttemptsPerUser());
    assertEquals(30, defaults.maxFailedAttemptsPerAddress());
    assertEquals(Duration.ofMinutes(15), defaults.attemptWindow());

    Path file = dir.resolve("sign-in.properties");
    Files.writeString(
        file,
        "new-device-approval=true\ndevice-code-ttl=5m\nmax-pending-sign-ins-per-address=40\n"
            + "user-code-failure-window=1h\njwt-secret="
            + SECRET
            + "\n");
    io.handoff.server.devices.ApprovalConfig a =
        configure(
                Map.of(
                    "HANDOFF_DEVICE_POLL_INTERVAL", "2s",
                    "HANDOFF_MAX_USER_CODE_FAILURES_PER_USER", "4"),
                "--config",
                file.toString(),
                "--new-device-approval-timeout",
                "90s",
                "--max-pending-sign-ins-per-user",
                "2",
                "--max-pending-sign-ins",
                "500",
                "--max-user-code-failures-per-address",
                "12",
                "--device-verification-uri",
                "https://app.example/link")
            .approvals();
    assertTrue(a.newDeviceApproval(), "from the file");
    assertEquals(Duration.ofMinutes(5), a.codeTtl(), "from the file");
    assertEquals(40, a.maxPendingPerAddress(), "from the file");
    assertEquals(Duration.ofHours(1), a.attemptWindow(), "from the file");
    assertEquals(Duration.ofSeconds(2), a.pollInterval(), "from the environment");
    assertEquals(4, a.maxFailedAttemptsPerUser(), "from the environment");
    assertEquals(Duration.ofSeconds(90), a.approvalTtl(), "a flag");
    assertEquals(2, a.maxPendingPerUser(), "a flag");
    assertEquals(500, a.maxPendingTotal(), "a flag");
    assertEquals(12, a.maxFailedAttemptsPerAddress(), "a flag");
    assertEquals("https://app.example/link", a.verificationUri(), "a flag");
  }

  @Test
  void unknownKeyInTheFileIsAnErrorThatNamesIt() throws Exception {
    Path file = dir.resolve("typo.properties");
    Files.writeString(file, "port=7001\nredis-ulr=redis://x\n");
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class, () -> configure(Map.of(), "--config", file.toString()));
    assertTrue(e.getMessage().contains("'redis-ulr'"), e.getMessage());
    assertTrue(e.getMessage().contains("redis-url"), "and lists the known keys");
  }

  @Test
  void unknownHandoffVariableIsAnErrorThatNamesIt() {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> configure(Map.of("HANDOFF_PROT", "1")));
    assertTrue(e.getMessage().contains("HANDOFF_PROT"), e.getMessage());
  }

  @Test
  void commandLineReportsBadConfigurationWithExitCode2AndAMessage() {
    StringWriter err = new StringWriter();
    Main main = new Main();
    CommandLine cl = new CommandLine(main).setErr(new PrintWriter(err));
    assertEquals(
        2,
        Main.run(new String[] {"--config", dir.resolve("absent.properties").toString()}, Map.of()));
    assertEquals(2, cl.execute("--port", "-5", "--jwt-secret", SECRET));
  }

  @Test
  void effectiveConfigurationHidesTheSecret() {
    String shown = configure(Map.of(), "--jwt-secret", SECRET).toString();
    assertFalse(shown.contains(SECRET), shown);
    assertTrue(shown.contains("jwtSecret=****"), shown);
  }
}
