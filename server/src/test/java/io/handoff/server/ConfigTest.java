package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
    assertTrue(c.compression(), "compression is on by default");
    assertEquals(
        Duration.ofSeconds(12),
        configure(Map.of("HANDOFF_PRESENCE_TTL", "12s"), "--jwt-secret", SECRET)
            .handoffLimits()
            .presenceTtl(),
        "handoff limits come from the same sources");
    assertFalse(
        configure(Map.of(), "--no-compression", "--jwt-secret", SECRET).compression(),
        "and can be turned off");
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
    assertEquals(64L << 20, QueueBudget.derive(256L << 20, 256L << 20));
    assertEquals(32L << 20, QueueBudget.derive(1L << 30, 128L << 20), "direct memory is smaller");
    assertEquals(1L << 20, QueueBudget.derive(2L << 20, 2L << 20), "never below 1 MiB");
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
