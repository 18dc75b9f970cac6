package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.nimbusds.jose.jwk.ECKey;
import com.nimbusds.jose.jwk.JWKSet;
import io.handoff.server.auth.SigningKeys;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A node that signs devices in with its own keys (a signing key and the app's identity JWKS) but
 * was given no {@code --jwt-secret} must not print the secret it generated: whoever reads its log
 * could mint HS256 tokens for any user with it. Runs the launcher ({@link Main#main}) in a JVM of
 * its own, with the jar's logging configuration, as an operator would.
 */
class DevelopmentSecretLogTest {
  @TempDir Path dir;

  @Test
  void aNodeWithItsOwnKeysPrintsNoSecretToItsLog() throws Exception {
    Path key = dir.resolve("node.jwk");
    ECKey nodeKey = SigningKeys.generate("node-1");
    Files.writeString(key, nodeKey.toJSONString());
    Path jwks = dir.resolve("identity.jwks.json");
    Files.writeString(jwks, new JWKSet(SigningKeys.generate("app-1").toPublicJWK()).toString());

    Process p =
        LauncherProcess.start(
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--signing-key",
            key.toString(),
            "--identity-jwks",
            jwks.toString(),
            "--identity-audience",
            "app");
    List<String> output = new ArrayList<>();
    try (BufferedReader out =
        new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
      boolean listening = false;
      boolean told = false;
      String line;
      // What the node says about development tokens comes after the line that it listens.
      while (!(listening && told) && (line = out.readLine()) != null) {
        output.add(line);
        listening |= line.contains("Handoff node");
        told |= line.contains("DEVELOPMENT secret") || line.contains("development tokens are off");
      }
      assertTrue(listening && told, "the node started and said it: " + output);
    } finally {
      p.destroy();
      if (!p.waitFor(30, TimeUnit.SECONDS)) {
        p.destroyForcibly();
      }
    }
    String log = String.join("\n", output);
    assertFalse(log.contains("DEVELOPMENT secret"), log);
    assertFalse(log.contains("Example token"), log);
    assertTrue(log.contains("development tokens are off"), log);
    assertEquals(143, p.exitValue(), "SIGTERM ends it through the shutdown hook:\n" + log);
  }
}
