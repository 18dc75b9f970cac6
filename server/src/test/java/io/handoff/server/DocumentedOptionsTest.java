package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Model.OptionSpec;

/**
 * What the documentation tells an operator to type names real options: every {@code java -jar
 * server/target/handoff-server.jar ...} line in a code block of the READMEs and docs/ parses, and
 * every key of the configuration table and example file in docs/operations.md is an option.
 */
class DocumentedOptionsTest {
  private static final Path ROOT = Path.of("..");
  private static final String JAR = "java -jar server/target/handoff-server.jar";
  private static final String SECRET = "s".repeat(40);

  @Test
  void everyServerCommandInTheDocsParses() throws IOException {
    List<Path> docs = new ArrayList<>();
    docs.add(ROOT.resolve("README.md"));
    docs.add(ROOT.resolve("client-js/README.md"));
    try (Stream<Path> s = Files.list(ROOT.resolve("docs"))) {
      s.filter(p -> p.toString().endsWith(".md")).sorted().forEach(docs::add);
    }
    int commands = 0;
    for (Path doc : docs) {
      for (String command : serverCommands(Files.readAllLines(doc))) {
        commands++;
        List<String> args = words(command.substring(JAR.length()));
        String[] argv = args.toArray(String[]::new);
        try {
          // As the node parses, with the quick start's HANDOFF_JWT_SECRET exported.
          CommandLine cl = new CommandLine(new Main());
          cl.setDefaultValueProvider(
              ConfigSources.load(cl.getCommandSpec(), argv, Map.of("HANDOFF_JWT_SECRET", SECRET)));
          cl.parseArgs(argv);
        } catch (CommandLine.ParameterException | IllegalArgumentException e) {
          fail(doc + ": `" + command + "` does not parse: " + e.getMessage());
        }
      }
    }
    assertTrue(commands >= 8, "found the documented commands: " + commands);
  }

  @Test
  void everyKeyOfTheConfigurationTableIsAnOption() throws IOException {
    Set<String> options = new TreeSet<>();
    for (OptionSpec o : new CommandLine(new Main()).getCommandSpec().options()) {
      options.add(o.longestName().replaceFirst("^--", ""));
    }
    List<String> lines = Files.readAllLines(ROOT.resolve("docs/operations.md"));
    int start = lines.indexOf("## Configuration");
    assertTrue(start >= 0, "docs/operations.md has a Configuration section");
    Set<String> documented = new TreeSet<>();
    Pattern key = Pattern.compile("`([a-z0-9-]+)`");
    boolean inFile = false;
    for (String line : lines.subList(start + 1, lines.size())) {
      if (line.startsWith("## ")) {
        break;
      }
      if (line.startsWith("```")) {
        inFile = !inFile;
      } else if (inFile && line.matches("[a-z0-9-]+=.*")) {
        documented.add(line.substring(0, line.indexOf('=')));
      } else if (line.startsWith("| `")) {
        String first = line.substring(1, line.indexOf('|', 1));
        Matcher m = key.matcher(first);
        while (m.find()) {
          documented.add(m.group(1));
        }
      }
    }
    assertTrue(documented.size() > 50, "read the table: " + documented);
    Set<String> unknown = new TreeSet<>(documented);
    unknown.removeAll(options);
    assertEquals(Set.of(), unknown, "keys docs/operations.md names that are no option");
  }

  /**
   * docs/protocol.md is read by the authors of other clients, who cannot check what it says against
   * the node: every {@code --option} it names is one of the node's (or of its {@code token}
   * command's).
   */
  @Test
  void everyOptionTheProtocolNamesIsAnOption() throws IOException {
    Set<String> options = new TreeSet<>();
    CommandLine main = new CommandLine(new Main());
    List<CommandLine> commands = new ArrayList<>(main.getSubcommands().values());
    commands.add(main);
    for (CommandLine c : commands) {
      for (OptionSpec o : c.getCommandSpec().options()) {
        options.addAll(List.of(o.names()));
      }
    }
    Set<String> named = new TreeSet<>();
    Matcher m =
        Pattern.compile("`(--[a-z0-9-]+)")
            .matcher(Files.readString(ROOT.resolve("docs/protocol.md")));
    while (m.find()) {
      named.add(m.group(1));
    }
    assertTrue(named.size() >= 5, "read the options: " + named);
    named.removeAll(options);
    assertEquals(Set.of(), named, "options docs/protocol.md names that the node does not have");
  }

  /** The server command lines inside code blocks, with backslash continuations joined. */
  static List<String> serverCommands(List<String> lines) {
    List<String> commands = new ArrayList<>();
    boolean code = false;
    StringBuilder pending = null;
    for (String raw : lines) {
      String line = raw.strip();
      if (line.startsWith("```")) {
        code = !code;
        continue;
      }
      if (!code) {
        // Inline commands in prose: `unset HANDOFF_JWT_SECRET; java -jar ...`.
        Matcher m =
            Pattern.compile("`(?:[^`]*; )?(" + Pattern.quote(JAR) + "[^`]*)`").matcher(line);
        while (m.find()) {
          if (!m.group(1).endsWith("--help")) {
            commands.add(m.group(1));
          }
        }
        continue;
      }
      if (pending != null) {
        pending.append(' ').append(line);
      } else if (line.startsWith(JAR)) {
        pending = new StringBuilder(line);
      } else {
        continue;
      }
      if (pending.toString().endsWith("\\")) {
        pending.setLength(pending.length() - 1);
      } else {
        commands.add(pending.toString());
        pending = null;
      }
    }
    return commands;
  }

  /** Shell words: quotes removed, {@code $VAR} and {@code $(...)} a secret, a redirect dropped. */
  static List<String> words(String command) {
    String s = command.replaceAll("\"\\$\\([^)]*\\)\"|\"\\$[A-Z_]+\"|\\$[A-Z_]+", SECRET);
    s = s.replaceAll("\\s*>\\s*\\S+\\s*$", "");
    List<String> words = new ArrayList<>();
    Matcher m = Pattern.compile("\"([^\"]*)\"|'([^']*)'|(\\S+)").matcher(s);
    while (m.find()) {
      words.add(m.group(1) != null ? m.group(1) : m.group(2) != null ? m.group(2) : m.group(3));
    }
    return words;
  }
}
