package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.ServerFrame;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;

/**
 * The packaged jar, started as the README's demo says (no options, no secret): one node on port
 * 8080 with the embedded engine and a printed development secret, answering /healthz. Each test
 * starts its own process; they run side by side, as nothing else runs in the module by then.
 */
@Execution(ExecutionMode.CONCURRENT)
class ServerJarIT {
  /**
   * {@code java -jar JAR ARGS}, the JVM on C1 and the serial collector as every JVM of the build
   * (docs/decisions.md): nothing the tests look at depends on them, and a JVM with C2 and G1 costs
   * twice the CPU to start, beside the TypeScript tests.
   */
  private static List<String> command(String java, Path jar, String... args) {
    List<String> command =
        new ArrayList<>(
            List.of(java, "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-jar", jar.toString()));
    command.addAll(List.of(args));
    return command;
  }

  @Test
  void jarWithNoOptionsStartsOneNodeThatAnswersHealthz() throws Exception {
    Path jar = Path.of("target", "handoff-server.jar");
    assertTrue(Files.isRegularFile(jar), "build the jar first: " + jar.toAbsolutePath());
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    Process p = new ProcessBuilder(command(java, jar)).redirectErrorStream(true).start();
    List<String> output = new ArrayList<>();
    try (BufferedReader out =
        new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
      String line;
      boolean listening = false;
      while (!listening && (line = out.readLine()) != null) {
        output.add(line);
        listening = line.contains("Handoff node") && line.endsWith("on port 8080");
      }
      assertTrue(listening, "server did not report port 8080; output: " + output);
      HttpResponse<String> res =
          HttpClient.newHttpClient()
              .send(
                  HttpRequest.newBuilder(URI.create("http://127.0.0.1:8080/healthz")).build(),
                  HttpResponse.BodyHandlers.ofString());
      assertEquals(200, res.statusCode());
      assertEquals("ok\n", res.body());
      for (int i = 0; i < 3 && (line = out.readLine()) != null; i++) {
        output.add(line);
      }
      assertTrue(
          output.stream().anyMatch(l -> l.contains("DEVELOPMENT secret")),
          "prints its development secret: " + output);
      assertTrue(
          output.stream().anyMatch(l -> l.contains("nothing survives a restart")),
          "says what survives a restart: " + output);
    } finally {
      p.destroy();
      if (!p.waitFor(10, TimeUnit.SECONDS)) {
        p.destroyForcibly();
      }
    }
    assertEquals(143, p.exitValue(), "SIGTERM ends it through the shutdown hook");
  }

  /**
   * {@code HANDOFF_LOG_LEVEL}, which the jar's logback.xml reads, sets the level; it does not stop
   * the node as an unknown variable.
   */
  @Test
  void handoffLogLevelSetsTheLogLevelInsteadOfStoppingTheNode() throws Exception {
    Path jar = Path.of("target", "handoff-server.jar");
    assertTrue(Files.isRegularFile(jar), "build the jar first: " + jar.toAbsolutePath());
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    ProcessBuilder pb =
        new ProcessBuilder(command(java, jar, "--host", "127.0.0.1", "--port", "0"))
            .redirectErrorStream(true);
    pb.environment().put("HANDOFF_JWT_SECRET", TestServer.SECRET);
    pb.environment().put("HANDOFF_LOG_LEVEL", "DEBUG");
    Process p = pb.start();
    List<String> output = new ArrayList<>();
    boolean started = false;
    boolean debug = false;
    try (BufferedReader out =
        new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
      String line;
      while ((line = out.readLine()) != null) {
        output.add(line);
        debug |= line.contains(" DEBUG ");
        if (line.contains("Handoff node") && line.contains("on port")) {
          started = true;
          break;
        }
      }
    } finally {
      p.destroy();
      if (!p.waitFor(20, TimeUnit.SECONDS)) {
        p.destroyForcibly();
      }
    }
    assertTrue(started, "the node starts with HANDOFF_LOG_LEVEL set: " + output);
    assertTrue(debug, "and logs at DEBUG: " + output.subList(0, Math.min(5, output.size())));
  }

  /**
   * SIGTERM drains the real process: a device connected to it gets its writes acked, then
   * Disconnect with SHUTDOWN (a reconnect code) and the close code 4000, before the process exits.
   */
  @Test
  void sigtermTellsConnectedDevicesToReconnectElsewhereBeforeTheProcessExits() throws Exception {
    Path jar = Path.of("target", "handoff-server.jar");
    assertTrue(Files.isRegularFile(jar), "build the jar first: " + jar.toAbsolutePath());
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    ProcessBuilder pb =
        new ProcessBuilder(command(java, jar, "--host", "127.0.0.1", "--port", "0"))
            .redirectErrorStream(true);
    pb.environment().put("HANDOFF_JWT_SECRET", TestServer.SECRET);
    Process p = pb.start();
    List<String> output = Collections.synchronizedList(new ArrayList<>());
    try (BufferedReader out =
        new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
      int port = -1;
      String line;
      while (port < 0 && (line = out.readLine()) != null) {
        output.add(line);
        Matcher m = Pattern.compile("Handoff node .* on port (\\d+)$").matcher(line);
        if (m.find()) {
          port = Integer.parseInt(m.group(1));
        }
      }
      assertTrue(port > 0, "the node did not report its port: " + output);
      Thread drainLog =
          new Thread(
              () -> {
                try {
                  String l;
                  while ((l = out.readLine()) != null) {
                    output.add(l);
                  }
                } catch (IOException ignored) {
                  // The process is gone.
                }
              });
      drainLog.setDaemon(true);
      drainLog.start();
      try (TestDevice d = TestDevice.connect(port, TestServer.token("ida", "phone"))) {
        d.hello();
        d.send(Writes.frame("draft", 1, "text", "before the stop"));
        assertEquals(1, d.next(ServerFrame::hasAck).getAck().getVersion());
        p.destroy(); // SIGTERM
        ServerFrame f = d.next(x -> x.hasDisconnect());
        assertEquals(CloseCode.SHUTDOWN.code(), f.getDisconnect().getCode());
        assertTrue(f.getDisconnect().getReconnect(), "told to reconnect elsewhere: " + f);
        assertEquals(CloseCode.SHUTDOWN.code(), d.awaitClose());
      }
      assertTrue(p.waitFor(30, TimeUnit.SECONDS), "the drained process exits: " + output);
    } finally {
      if (p.isAlive()) {
        p.destroyForcibly();
      }
    }
    assertEquals(143, p.exitValue(), "SIGTERM ends it through the shutdown hook: " + output);
  }
}
