package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What a supervisor and an operator are told when a node cannot start for something outside its
 * configuration: the identity provider does not answer, exit code 3, as for an unreachable Redis,
 * so that a supervisor starts it again; in the style of {@link CommandLineErrorsTest}, one line
 * naming the option and where its value came from.
 */
class StartUpRefusalsTest {
  private static final String SECRET = "s".repeat(40);
  @TempDir static Path dir;
  private static ServerSocket busy;
  private static HttpServer idp;
  private static String idpUrl;

  @BeforeAll
  static void start() throws Exception {
    busy = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
    idp = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    answer("/unavailable", 503, "upstream down");
    answer("/overloaded", 429, "slow down");
    answer("/missing", 404, "no such page");
    answer("/garbage", 200, "this is no JWKS");
    idp.start();
    idpUrl = "http://127.0.0.1:" + idp.getAddress().getPort();
  }

  private static void answer(String path, int status, String body) {
    idp.createContext(
        path,
        exchange -> {
          byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
          exchange.sendResponseHeaders(status, bytes.length);
          exchange.getResponseBody().write(bytes);
          exchange.close();
        });
  }

  @AfterAll
  static void stop() throws Exception {
    idp.stop(0);
    busy.close();
  }

  private record Outcome(int exit, String said) {}

  private static Outcome run(Map<String, String> env, String... args) {
    StringWriter err = new StringWriter();
    Map<String, String> withSecret = new HashMap<>(env);
    withSecret.put("HANDOFF_JWT_SECRET", SECRET);
    // A busy port: a node that got past what is tested stops at the listen, never serves.
    String[] all = Arrays.copyOf(args, args.length + 4);
    all[args.length] = "--host";
    all[args.length + 1] = "127.0.0.1";
    all[args.length + 2] = "--port";
    all[args.length + 3] = Integer.toString(busy.getLocalPort());
    int exit =
        Main.run(all, withSecret, new PrintWriter(new StringWriter(), true), new PrintWriter(err));
    String said = err.toString();
    assertFalse(said.contains("\tat "), "no stack trace: " + said);
    assertFalse(said.contains("Exception"), "no exception names: " + said);
    assertEquals(1, said.strip().lines().count(), "one line: " + said);
    return new Outcome(exit, said);
  }

  private static void says(Outcome o, String... fragments) {
    for (String f : fragments) {
      assertTrue(o.said().contains(f), "expected '" + f + "' in: " + o.said());
    }
  }

  @Test
  void anIdentityProviderAnswering503AtStartIsTemporaryExitCode3() {
    Outcome o = run(Map.of(), "--identity-jwks", idpUrl + "/unavailable");
    assertEquals(3, o.exit(), o.said());
    says(o, "cannot load the JWKS (--identity-jwks) from " + idpUrl + "/unavailable", "503");
  }

  @Test
  void anIdentityProviderAnswering429AtStartIsTemporaryExitCode3() {
    Outcome o = run(Map.of("HANDOFF_IDENTITY_JWKS", idpUrl + "/overloaded"), new String[] {});
    assertEquals(3, o.exit(), o.said());
    says(o, "cannot load the JWKS (HANDOFF_IDENTITY_JWKS (--identity-jwks)) from ", "429");
  }

  @Test
  void anIdentityProviderThatRefusesConnectionsAtStartIsTemporaryExitCode3() throws Exception {
    int closed;
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      closed = s.getLocalPort();
    }
    String url = "http://127.0.0.1:" + closed + "/.well-known/jwks.json";
    Outcome o = run(Map.of(), "--identity-jwks", url);
    assertEquals(3, o.exit(), o.said());
    says(o, "cannot load the JWKS (--identity-jwks) from " + url);
  }

  @Test
  void aJwksUrlAnswering404IsTemporaryAsAWrongRedisPasswordIs() {
    // The node cannot tell a wrong path from an identity provider being redeployed; an unreachable
    // Redis, a name that does not resolve and a refused password are exit code 3 too.
    Outcome o = run(Map.of(), "--identity-jwks", idpUrl + "/missing");
    assertEquals(3, o.exit(), o.said());
    says(o, "cannot load the JWKS (--identity-jwks) from " + idpUrl + "/missing", "404");
  }

  @Test
  void aJwksThatIsNoKeySetOrAFileThatIsMissingIsInvalidConfigurationExitCode2() {
    Outcome garbage = run(Map.of(), "--identity-jwks", idpUrl + "/garbage");
    assertEquals(2, garbage.exit(), garbage.said());
    says(
        garbage,
        "invalid configuration: cannot load the JWKS (--identity-jwks) from "
            + idpUrl
            + "/garbage");
    Path missing = dir.resolve("no-such-jwks.json");
    Outcome file = run(Map.of(), "--identity-jwks", missing.toString());
    assertEquals(2, file.exit(), file.said());
    says(file, "cannot load the JWKS (--identity-jwks) from " + missing, "there is no such file");
  }
}
