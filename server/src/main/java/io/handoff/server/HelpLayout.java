package io.handoff.server;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import picocli.CommandLine;
import picocli.CommandLine.Help;
import picocli.CommandLine.Model.OptionSpec;

/**
 * The server's {@code --help}: options grouped by what they are about (network, engine, tokens,
 * handoff, limits, TLS, operations) instead of alphabetically, each with its default written one
 * way and the {@code HANDOFF_*} variable and configuration-file key that set it too.
 */
final class HelpLayout {
  /** Group heading to the options' long names, in the order shown. */
  static final Map<String, List<String>> GROUPS = new LinkedHashMap<>();

  static {
    GROUPS.put(
        "Network",
        List.of(
            "host", "port", "node-id", "compression", "io-transport", "event-loops", "user-loops"));
    GROUPS.put(
        "Engine",
        List.of(
            "redis-url",
            "redis-cluster",
            "redis-prefix",
            "redis-on-loops",
            "history-length",
            "durable-acks",
            "durable-ack-timeout"));
    GROUPS.put(
        "Tokens",
        List.of(
            "jwt-secret",
            "signing-key",
            "previous-signing-key",
            "previous-key-grace",
            "access-token-ttl",
            "max-token-lifetime",
            "refresh-inactivity",
            "refresh-reuse-interval",
            "identity-jwks",
            "identity-algorithms",
            "identity-issuer",
            "identity-audience",
            "max-devices",
            "idle-ttl"));
    GROUPS.put("Signing in new devices", ApprovalOptions.KEYS);
    GROUPS.put(
        "Handoff", List.of("activity-payload-max", "offer-ttl", "offer-ttl-max", "presence-ttl"));
    GROUPS.put(
        "Limits",
        List.of(
            "max-frame-bytes",
            "queue-budget",
            "socket-send-buffer",
            "write-rate",
            "write-burst",
            "sync-rate",
            "sync-burst",
            "device-request-rate",
            "device-request-burst",
            "max-device-requests-in-flight",
            "api-request-rate",
            "api-request-burst",
            "connect-rate",
            "connect-burst",
            "max-connections-per-user"));
    GROUPS.put("TLS", List.of("tls-cert", "tls-key"));
    GROUPS.put(
        "Operations",
        List.of("admin-host", "admin-port", "heartbeat", "drain-delay", "drain-timeout", "config"));
  }

  /** What happens without a value, for options whose default is no value. */
  private static final Map<String, String> NO_VALUE =
      Map.ofEntries(
          Map.entry("node-id", "random"),
          Map.entry("jwt-secret", "a development secret, generated and printed at start"),
          Map.entry("redis-url", "none: the in-memory engine, one node"),
          Map.entry("signing-key", "an ephemeral key"),
          Map.entry("previous-signing-key", "none"),
          Map.entry("identity-jwks", "none: sign-in is off"),
          Map.entry("identity-issuer", "any"),
          Map.entry("identity-audience", "any"),
          Map.entry("tls-cert", "none: plain ws://"),
          Map.entry("tls-key", "none"),
          Map.entry("admin-host", "the --host address"),
          Map.entry("admin-port", "none: /metrics, /healthz and /readyz on --port"),
          Map.entry("config", "none"));

  private HelpLayout() {}

  /** Replaces the alphabetical option list of {@code cl}'s own help (not its subcommands'). */
  static void install(CommandLine cl) {
    cl.getHelpSectionMap()
        .put(CommandLine.Model.UsageMessageSpec.SECTION_KEY_OPTION_LIST, HelpLayout::render);
    cl.getCommandSpec().usageMessage().sortOptions(false);
  }

  /** The long names of every option the layout shows, to check that none is left out. */
  static Set<String> shown() {
    Set<String> all = new TreeSet<>();
    GROUPS.values().forEach(all::addAll);
    return all;
  }

  private static String render(Help help) {
    Map<String, OptionSpec> byKey = new LinkedHashMap<>();
    for (OptionSpec o : help.commandSpec().options()) {
      if (o.longestName().startsWith("--")) {
        byKey.put(o.longestName().substring(2), o);
      }
    }
    StringBuilder b = new StringBuilder();
    List<String> left = new ArrayList<>(byKey.keySet());
    for (Map.Entry<String, List<String>> g : GROUPS.entrySet()) {
      b.append('\n').append(g.getKey()).append(":\n");
      for (String key : g.getValue()) {
        OptionSpec o = byKey.get(key);
        if (o != null) {
          option(b, key, o);
          left.remove(key);
        }
      }
    }
    left.remove("help");
    left.remove("version");
    if (!left.isEmpty()) {
      b.append("\nOther:\n");
      for (String key : left) {
        option(b, key, byKey.get(key));
      }
    }
    b.append("\n  -h, --help      Show this help and exit.\n");
    b.append("  -V, --version   Print the version and exit.\n");
    return b.toString();
  }

  private static void option(StringBuilder b, String key, OptionSpec o) {
    String label = o.paramLabel();
    b.append("  --").append(key);
    if (o.negatable()) {
      b.append(", --no-").append(key);
    } else if (o.arity().max() > 0) {
      b.append(' ').append(label.startsWith("<") ? label : "<" + label + ">");
    }
    b.append('\n');
    for (String line : o.description()) {
      wrap(b, line);
    }
    String def = o.defaultValue();
    String env = ConfigSources.envName(key);
    wrap(
        b,
        "Default: "
            + (def == null ? NO_VALUE.getOrDefault(key, "none") : def)
            + ".  Env: "
            + env
            + (key.equals("config") ? "." : ".  File key: " + key + "."));
  }

  private static void wrap(StringBuilder b, String text) {
    int width = 100 - 6;
    StringBuilder line = new StringBuilder();
    for (String word : text.split(" ")) {
      if (line.length() > 0 && line.length() + 1 + word.length() > width) {
        b.append("      ").append(line).append('\n');
        line.setLength(0);
      }
      if (line.length() > 0) {
        line.append(' ');
      }
      line.append(word);
    }
    if (line.length() > 0) {
      b.append("      ").append(line).append('\n');
    }
  }
}
