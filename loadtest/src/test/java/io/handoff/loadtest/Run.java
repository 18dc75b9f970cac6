package io.handoff.loadtest;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** One run of the load tester in this JVM (its {@code Main.run}): exit code, stdout and stderr. */
record Run(int exit, String out, String err) {

  private static final Pattern FIELD =
      Pattern.compile("\"(\\w+)\":(\"(?:[^\"\\\\]|\\\\.)*\"|\\[[^\\]]*\\]|\\{[^}]*\\}|[^,}]+)");

  String lastLine() {
    String[] lines = out.strip().split("\n");
    return lines[lines.length - 1];
  }

  /** The top-level fields of the JSON on the last line of stdout, as text (strings unquoted). */
  Map<String, String> json() {
    String line = lastLine();
    assertTrue(line.startsWith("{") && line.endsWith("}"), "last line is not JSON: " + out);
    Map<String, String> fields = new HashMap<>();
    List<String> order = new ArrayList<>();
    Matcher m = FIELD.matcher(line);
    while (m.find()) {
      String v = m.group(2);
      fields.put(m.group(1), v.startsWith("\"") ? v.substring(1, v.length() - 1) : v);
      order.add(m.group(1));
    }
    return fields;
  }

  static Run run(String... args) {
    return run(line -> {}, args);
  }

  /** Runs the load tester; {@code progress} sees each line it writes to stderr as it comes. */
  static Run run(Consumer<String> progress, String... args) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err =
        new ByteArrayOutputStream() {
          private int seen;

          @Override
          public synchronized void write(byte[] b, int off, int len) {
            super.write(b, off, len);
            String all = toString(StandardCharsets.UTF_8);
            int end;
            while ((end = all.indexOf('\n', seen)) >= 0) {
              progress.accept(all.substring(seen, end));
              seen = end + 1;
            }
          }
        };
    int exit;
    try (PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8);
        PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8)) {
      exit = Main.run(o, e, args);
    }
    return new Run(
        exit, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
  }
}
