package io.handoff.server;

import io.handoff.protocol.Durations;
import io.handoff.server.auth.DevTokens;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code handoff-server token}: mints an HS256 development token. */
@Command(
    name = "token",
    mixinStandardHelpOptions = true,
    description = "Prints an HS256 access token for development and tests.")
final class TokenCommand implements Callable<Integer> {
  @Option(
      names = "--jwt-secret",
      required = true,
      paramLabel = "SECRET",
      description =
          "The server's secret (its --jwt-secret; HANDOFF_JWT_SECRET when not given), at least 32 bytes.")
  String secret;

  @Option(names = "--user", required = true, description = "The sub claim.")
  String user;

  @Option(names = "--device", required = true, description = "The did claim.")
  String device;

  @Option(
      names = "--ttl",
      defaultValue = "24h",
      paramLabel = "DURATION",
      description = "Lifetime (default ${DEFAULT-VALUE}), at most --max-token-lifetime.")
  String ttl;

  @Option(
      names = "--max-token-lifetime",
      defaultValue = "24h",
      paramLabel = "DURATION",
      description =
          "The node's --max-token-lifetime (default ${DEFAULT-VALUE}): a node refuses a token"
              + " that lives longer.")
  String maxLifetime;

  @Spec CommandSpec spec;

  @Override
  public Integer call() {
    int bytes = secret.getBytes(StandardCharsets.UTF_8).length;
    if (bytes < Main.MIN_SECRET_BYTES) {
      spec.commandLine()
          .getErr()
          .println(
              "handoff-server token: --jwt-secret is "
                  + bytes
                  + " bytes long; it must be at least "
                  + Main.MIN_SECRET_BYTES
                  + " bytes (HS256 needs a 256-bit key), the same secret the server runs with;"
                  + " generate one with: openssl rand -hex 32");
      return 2;
    }
    java.time.Duration lifetime;
    java.time.Duration max;
    try {
      lifetime = Durations.parse(ttl);
    } catch (IllegalArgumentException e) {
      spec.commandLine().getErr().println("handoff-server token: --ttl: " + e.getMessage());
      return 2;
    }
    try {
      max = Durations.parse(maxLifetime);
    } catch (IllegalArgumentException e) {
      spec.commandLine()
          .getErr()
          .println("handoff-server token: --max-token-lifetime: " + e.getMessage());
      return 2;
    }
    if (lifetime.compareTo(max) > 0) {
      spec.commandLine()
          .getErr()
          .println(
              "handoff-server token: --ttl "
                  + ttl.strip()
                  + " is longer than --max-token-lifetime "
                  + maxLifetime.strip()
                  + ", so a node would refuse the token; pass a shorter --ttl, or start the node"
                  + " with a longer --max-token-lifetime and pass the same one here");
      return 2;
    }
    // The token is this command's output, for scripts: stdout, not the log.
    spec.commandLine().getOut().println(DevTokens.mint(secret, user, device, lifetime));
    return 0;
  }
}
