package io.handoff.server;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The launcher ({@link Main}) in a JVM of its own, as an operator starts it: the jar's logging
 * setup, no {@code HANDOFF_*} variable of the test's environment, stderr merged into stdout. A
 * watchdog kills it after a minute, which also ends a test's read of its output should it never say
 * what the test waits for.
 */
final class LauncherProcess {
  private LauncherProcess() {}

  static Process start(String... args) throws IOException {
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    command.add("-Xmx96m");
    command.add("-cp");
    command.add(System.getProperty("java.class.path"));
    command.add(
        "-Dlogback.configurationFile="
            + Path.of("src/main/resources/logback.xml").toAbsolutePath());
    command.add(Main.class.getName());
    command.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
    pb.environment().keySet().removeIf(k -> k.startsWith(ConfigSources.ENV_PREFIX));
    Process p = pb.start();
    ScheduledExecutorService watchdog =
        Executors.newSingleThreadScheduledExecutor(
            r -> {
              Thread t = new Thread(r, "launcher-watchdog");
              t.setDaemon(true);
              return t;
            });
    watchdog.schedule(p::destroyForcibly, 60, TimeUnit.SECONDS);
    p.onExit().thenRun(watchdog::shutdownNow);
    return p;
  }
}
