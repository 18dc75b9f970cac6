package io.handoff.server;

import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;

/** An HTTP head's header lines as tests read and rewrite them; names are given in lower case. */
final class HttpHeads {
  private HttpHeads() {}

  /** The value of {@code head}'s header {@code name}, or null if it has none. */
  static String header(String head, String name) {
    for (String line : head.split("\r\n")) {
      if (name(line).equals(name)) {
        return line.substring(line.indexOf(':') + 1).strip();
      }
    }
    return null;
  }

  /** {@code head} without the header lines named {@code names}. */
  static String without(String head, String... names) {
    List<String> drop = List.of(names);
    return head.lines()
            .filter(line -> !line.isEmpty() && !drop.contains(name(line)))
            .collect(Collectors.joining("\r\n"))
        + "\r\n\r\n";
  }

  private static String name(String line) {
    int colon = line.indexOf(':');
    return colon > 0 ? line.substring(0, colon).strip().toLowerCase(Locale.ROOT) : "";
  }
}
