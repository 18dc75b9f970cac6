package io.handoff.loadtest;

import java.time.Duration;
import java.util.Locale;
import picocli.CommandLine;

/**
 * Durations as written on the command line: {@code 30s}, {@code 500ms}, {@code 2m}, {@code 1h},
 * ISO-8601 ({@code PT30S}), or a bare number of seconds.
 */
final class Durations implements CommandLine.ITypeConverter<Duration> {

  @Override
  public Duration convert(String value) {
    return parse(value);
  }

  /**
   * @throws IllegalArgumentException naming the text when it is not a duration or is negative
   */
  static Duration parse(String text) {
    String t = text.trim().toLowerCase(Locale.ROOT);
    Duration d;
    try {
      if (t.startsWith("p")) {
        d = Duration.parse(t.toUpperCase(Locale.ROOT));
      } else if (t.endsWith("ms")) {
        d = Duration.ofMillis(Long.parseLong(t.substring(0, t.length() - 2)));
      } else if (!t.isEmpty() && Character.isDigit(t.charAt(t.length() - 1))) {
        d = Duration.ofSeconds(Long.parseLong(t));
      } else if (t.length() > 1) {
        long n = Long.parseLong(t.substring(0, t.length() - 1));
        d =
            switch (t.charAt(t.length() - 1)) {
              case 's' -> Duration.ofSeconds(n);
              case 'm' -> Duration.ofMinutes(n);
              case 'h' -> Duration.ofHours(n);
              default -> throw new IllegalArgumentException();
            };
      } else {
        throw new IllegalArgumentException();
      }
    } catch (RuntimeException e) {
      throw new IllegalArgumentException(
          "not a duration: '" + text + "' (examples: 30s, 500ms, 2m)", e);
    }
    if (d.isNegative()) {
      throw new IllegalArgumentException("duration must not be negative: '" + text + "'");
    }
    return d;
  }

  /** {@code 1.5 s}, {@code 250 ms}: for tables and the report. */
  static String format(Duration d) {
    long ms = d.toMillis();
    return ms % 1000 == 0 ? (ms / 1000) + "s" : ms + "ms";
  }
}
