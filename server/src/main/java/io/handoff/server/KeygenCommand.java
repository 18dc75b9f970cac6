package io.handoff.server;

import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code handoff-server keygen}: prints a new P-256 private JWK for {@code --signing-key}. */
@Command(
    name = "keygen",
    mixinStandardHelpOptions = true,
    description = "Prints a new ES256 (P-256) private JWK for --signing-key.")
final class KeygenCommand implements Callable<Integer> {
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
