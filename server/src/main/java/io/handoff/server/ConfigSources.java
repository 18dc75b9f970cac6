package io.handoff.server;

import java.io.IOException;
import java.io.StringReader;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.Predicate;
import picocli.CommandLine;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

/**
 * The configuration sources below the command line, for picocli: an option {@code --foo-bar} not
 * given as a flag takes {@code HANDOFF_FOO_BAR} from the environment, else {@code foo-bar} from the
 * configuration file (Java properties, {@code --config FILE} or {@code HANDOFF_CONFIG}), else its
 * built-in default. A key in the file, or a {@code HANDOFF_*} variable, that names no option is an
 * error that names it (and the closest known name), so a typo never passes silently; the variables
 * Kubernetes injects for a Service named {@code handoff} ({@link KubernetesServiceLinks}) are
 * skipped. Immutable once built.
 */
final class ConfigSources implements CommandLine.IDefaultValueProvider {
  static final String ENV_PREFIX = "HANDOFF_";

  /** Read by logback.xml (the root log level), not an option: skipped here. */
  static final String LOG_LEVEL_VARIABLE = "HANDOFF_LOG_LEVEL";

  /** The levels logback reads by name; it takes any other text for DEBUG. */
  static final List<String> LOG_LEVELS =
      List.of("OFF", "ERROR", "WARN", "INFO", "DEBUG", "TRACE", "ALL");

  private final Map<String, String> env;
  private final Map<String, String> file;
  private final Path filePath;

  private ConfigSources(Map<String, String> env, Map<String, String> file, Path filePath) {
    this.env = env;
    this.file = file;
    this.filePath = filePath;
  }

  /**
   * Reads the file named by {@code --config} in {@code args} (or {@code HANDOFF_CONFIG}) and checks
   * every key of the file and every {@code HANDOFF_*} variable against {@code spec}'s options.
   *
   * @throws IllegalArgumentException naming the unknown key, or the unreadable file
   */
  static ConfigSources load(CommandSpec spec, String[] args, Map<String, String> env) {
    refuseEmptyFlags(spec, args);
    Path path = null;
    for (int i = 0; i < args.length; i++) {
      if (args[i].equals("--config") && i + 1 < args.length) {
        path = Path.of(args[i + 1]);
      } else if (args[i].startsWith("--config=")) {
        path = Path.of(args[i].substring("--config=".length()));
      }
    }
    if (path == null && env.get(ENV_PREFIX + "CONFIG") != null) {
      path = Path.of(env.get(ENV_PREFIX + "CONFIG"));
    }
    Set<String> known = new TreeSet<>();
    for (OptionSpec o : spec.options()) {
      String key = key(o);
      if (key != null && !key.equals("help") && !key.equals("version")) {
        known.add(key);
      }
    }
    Map<String, String> fileValues = new TreeMap<>();
    if (path != null) {
      Set<String> twice = new TreeSet<>();
      // Properties keeps the last of a key given twice; which one a person meant is a guess.
      Properties p =
          new Properties() {
            private static final long serialVersionUID = 1L;

            @Override
            public synchronized Object put(Object key, Object value) {
              Object before = super.put(key, value);
              if (before != null) {
                twice.add(String.valueOf(key));
              }
              return before;
            }
          };
      try {
        p.load(new StringReader(text(path)));
      } catch (IOException e) {
        throw new IllegalArgumentException("cannot read configuration file " + path + ": " + e);
      } catch (IllegalArgumentException e) { // Properties.load: a malformed unicode escape.
        throw new IllegalArgumentException(
            "configuration file " + path + " is not a Java properties file: " + e.getMessage());
      }
      if (!twice.isEmpty()) {
        throw new IllegalArgumentException(
            "configuration file "
                + path
                + " sets "
                + String.join(", ", twice)
                + " more than once; keep one line for each key");
      }
      Set<String> fileKeys = new TreeSet<>(known);
      fileKeys.remove("config");
      for (String k : p.stringPropertyNames()) {
        if (k.equals("config")) {
          throw new IllegalArgumentException(
              "'config' in "
                  + path
                  + ": a configuration file cannot name another; give --config (or HANDOFF_CONFIG)"
                  + " once");
        }
        if (!fileKeys.contains(k)) {
          throw new IllegalArgumentException(
              "unknown key '"
                  + k
                  + "' in "
                  + path
                  + closest(k, fileKeys, false)
                  + "; known keys: "
                  + String.join(", ", fileKeys));
        }
        String value = p.getProperty(k).trim();
        if (value.isEmpty()) {
          // As for a variable: jwt-secret= would read as none, redis-url= as the memory engine.
          throw new IllegalArgumentException(
              k + " in " + path + " is empty: remove the line or give it a value");
        }
        fileValues.put(k, value);
      }
    }
    String level = env.get(LOG_LEVEL_VARIABLE);
    if (level != null && !LOG_LEVELS.contains(level.strip().toUpperCase(Locale.ROOT))) {
      // Logback reads a level it does not know as DEBUG: the most output, not the least.
      throw new IllegalArgumentException(
          LOG_LEVEL_VARIABLE
              + ": '"
              + level
              + "' is not a log level; expected one of "
              + String.join(", ", LOG_LEVELS)
              + " (any case)");
    }
    Map<String, String> envValues = new TreeMap<>();
    for (Map.Entry<String, String> e : env.entrySet()) {
      String name = e.getKey();
      if (!name.startsWith(ENV_PREFIX)
          || name.equals(LOG_LEVEL_VARIABLE)
          || KubernetesServiceLinks.isServiceLink(name, e.getValue())) {
        continue;
      }
      String key = name.substring(ENV_PREFIX.length()).toLowerCase(Locale.ROOT).replace('_', '-');
      if (!known.contains(key)) {
        throw new IllegalArgumentException(
            "unknown environment variable "
                + name
                + closest(key, known, true)
                + "; known: "
                + known.stream().map(ConfigSources::envName).toList());
      }
      // Trimmed as the file's values are: an env file saved with CRLF ends each value in \r.
      String value = e.getValue().strip();
      if (value.isEmpty()) {
        // An empty secret would read as none, and each node would make up its own.
        throw new IllegalArgumentException(name + " is set but empty: unset it or give it a value");
      }
      envValues.put(name, value);
    }
    return new ConfigSources(Map.copyOf(envValues), Map.copyOf(fileValues), path);
  }

  /**
   * Refuses a flag given an empty value ({@code --jwt-secret "$SECRET"} with the variable unset),
   * which the node would read as not given: a generated secret, the memory engine.
   */
  private static void refuseEmptyFlags(CommandSpec spec, String[] args) {
    for (int i = 0; i < args.length; i++) {
      int eq = args[i].indexOf('=');
      String name = eq < 0 ? args[i] : args[i].substring(0, eq);
      OptionSpec o = name.startsWith("--") ? spec.findOption(name) : null;
      if (o == null || o.arity().min() < 1) {
        continue;
      }
      String value = eq >= 0 ? args[i].substring(eq + 1) : i + 1 < args.length ? args[++i] : null;
      if (value != null && value.isBlank()) {
        throw new IllegalArgumentException(
            name + " is given an empty value: leave it out or give it a value");
      }
    }
  }

  /**
   * The file's text: UTF-8, without the byte-order mark some editors put first (which would
   * otherwise become part of the first key).
   *
   * @throws IllegalArgumentException naming the file and why it cannot be read, in words
   */
  private static String text(Path path) {
    byte[] bytes;
    try {
      bytes = Files.readAllBytes(path);
    } catch (NoSuchFileException e) {
      throw new IllegalArgumentException(
          "cannot read configuration file " + path + ": there is no such file");
    } catch (AccessDeniedException e) {
      throw new IllegalArgumentException(
          "cannot read configuration file " + path + ": permission denied");
    } catch (IOException e) {
      throw new IllegalArgumentException(
          "cannot read configuration file "
              + path
              + ": "
              + (Files.isDirectory(path) ? "it is a directory" : e.getMessage()));
    }
    ByteBuffer in = ByteBuffer.wrap(bytes);
    CharBuffer out = CharBuffer.allocate(bytes.length);
    CoderResult r =
        StandardCharsets.UTF_8
            .newDecoder()
            .onMalformedInput(CodingErrorAction.REPORT)
            .onUnmappableCharacter(CodingErrorAction.REPORT)
            .decode(in, out, true);
    if (r.isError()) {
      int line = 1;
      for (int i = 0; i < in.position(); i++) {
        line += bytes[i] == '\n' ? 1 : 0;
      }
      throw new IllegalArgumentException(
          "configuration file "
              + path
              + " is not UTF-8 text (line "
              + line
              + "): save it as UTF-8, or write other characters as \\uXXXX");
    }
    out.flip();
    String text = out.toString();
    return text.startsWith("\uFEFF") ? text.substring(1) : text;
  }

  /** {@code " (did you mean X?)"} for the known key nearest to a typo, or nothing. */
  private static String closest(String key, Set<String> known, boolean asEnv) {
    String best = null;
    int bestDistance = Integer.MAX_VALUE;
    for (String k : known) {
      int d = distance(key, k);
      if (d < bestDistance) {
        best = k;
        bestDistance = d;
      }
    }
    if (best == null || bestDistance > Math.max(2, key.length() / 4)) {
      return "";
    }
    return " (did you mean " + (asEnv ? envName(best) : best) + "?)";
  }

  private static int distance(String a, String b) {
    int[] prev = new int[b.length() + 1];
    int[] cur = new int[b.length() + 1];
    for (int j = 0; j <= b.length(); j++) {
      prev[j] = j;
    }
    for (int i = 1; i <= a.length(); i++) {
      cur[0] = i;
      for (int j = 1; j <= b.length(); j++) {
        int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1;
        cur[j] = Math.min(Math.min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + cost);
      }
      int[] t = prev;
      prev = cur;
      cur = t;
    }
    return prev[b.length()];
  }

  /** The option's key: its long name without dashes ({@code --redis-url} gives redis-url). */
  private static String key(OptionSpec o) {
    String longest = o.longestName();
    return longest.startsWith("--") ? longest.substring(2) : null;
  }

  static String envName(String key) {
    return ENV_PREFIX + key.toUpperCase(Locale.ROOT).replace('-', '_');
  }

  @Override
  public String defaultValue(ArgSpec arg) {
    if (!(arg instanceof OptionSpec o) || key(o) == null) {
      return null;
    }
    String key = key(o);
    String fromEnv = env.get(envName(key));
    if (fromEnv != null) {
      return fromEnv;
    }
    return file.get(key);
  }

  /**
   * {@code message} with each {@code (--foo)} in it whose value came from a variable or the file
   * naming that source instead ({@code (HANDOFF_FOO (--foo))}), unless {@code fromFlag} says the
   * command line gave it.
   */
  String naming(String message, Predicate<String> fromFlag) {
    Set<String> keys = new TreeSet<>(file.keySet());
    for (String name : env.keySet()) {
      keys.add(name.substring(ENV_PREFIX.length()).toLowerCase(Locale.ROOT).replace('_', '-'));
    }
    for (String key : keys) {
      if (!fromFlag.test(key)) {
        message = message.replace("(--" + key + ")", "(" + source(key) + ")");
      }
    }
    return message;
  }

  /**
   * Where a key's value came from, for error messages: {@code HANDOFF_FOO (--foo)} or {@code foo in
   * FILE (--foo)}; null when neither the environment nor the file has it.
   */
  String source(String key) {
    if (env.containsKey(envName(key))) {
      return envName(key) + " (--" + key + ")";
    }
    if (file.containsKey(key)) {
      return key + " in " + filePath + " (--" + key + ")";
    }
    return null;
  }
}
