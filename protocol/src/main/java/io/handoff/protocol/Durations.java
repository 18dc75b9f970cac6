package io.handoff.protocol;

import java.time.Duration;
import java.time.format.DateTimeParseException;
import java.util.Locale;

/**
 * Durations as people write them in Handoff's command lines, environment variables and
 * configuration files, shared by the server and the load tester so both read the same forms.
 *
 * <p>Accepted: one or more number-and-unit parts, largest unit first, with units {@code d}, {@code
 * h}, {@code m}, {@code s} and {@code ms} ({@code 25s}, {@code 500ms}, {@code 1m30s}, {@code
 * 1h30m}, {@code 30d}); ISO-8601 ({@code PT25S}, {@code P1D}, either case); {@code 0}. Spaces
 * around the text and between a number and its unit are ignored ({@code " 25 s"} is {@code 25s}). A
 * bare number other than 0 is refused: whether {@code 25} means seconds or milliseconds is the kind
 * of guess that turns into an outage. Negative durations are refused. Stateless.
 */
public final class Durations {
  /** What {@link #parse} accepts, for error messages that tell a person what to write. */
  public static final String ACCEPTED = "a duration such as 500ms, 25s, 1m30s, 2h, 30d or PT25S";

  private Durations() {}

  /**
   * Parses {@code text}.
   *
   * @throws IllegalArgumentException whose message quotes the text and says what is accepted
   */
  public static Duration parse(String text) {
    if (text == null) {
      throw new IllegalArgumentException("no duration given; expected " + ACCEPTED);
    }
    String t = text.strip();
    if (t.equals("0")) {
      return Duration.ZERO;
    }
    Duration d;
    if (!t.isEmpty() && (t.charAt(0) == 'P' || t.charAt(0) == 'p')) {
      try {
        d = Duration.parse(t.toUpperCase(Locale.ROOT));
      } catch (DateTimeParseException e) {
        throw refused(text);
      }
    } else {
      d = parseUnits(text, t.toLowerCase(Locale.ROOT));
    }
    if (d.isNegative()) {
      throw new IllegalArgumentException(
          "'" + text + "' is negative; expected " + ACCEPTED + ", not below 0");
    }
    return d;
  }

  private static Duration parseUnits(String original, String t) {
    Duration total = Duration.ZERO;
    int i = 0;
    int parts = 0;
    int lastRank = Integer.MAX_VALUE;
    while (i < t.length()) {
      int start = i;
      while (i < t.length() && Character.isDigit(t.charAt(i))) {
        i++;
      }
      if (start == i || i - start > 12) {
        throw refused(original);
      }
      long n = Long.parseLong(t.substring(start, i));
      while (i < t.length() && t.charAt(i) == ' ') {
        i++;
      }
      int unitStart = i;
      while (i < t.length() && Character.isLetter(t.charAt(i))) {
        i++;
      }
      String unit = t.substring(unitStart, i);
      int rank;
      Duration part;
      switch (unit) {
        case "d" -> {
          rank = 5;
          part = Duration.ofDays(n);
        }
        case "h" -> {
          rank = 4;
          part = Duration.ofHours(n);
        }
        case "m" -> {
          rank = 3;
          part = Duration.ofMinutes(n);
        }
        case "s" -> {
          rank = 2;
          part = Duration.ofSeconds(n);
        }
        case "ms" -> {
          rank = 1;
          part = Duration.ofMillis(n);
        }
        default -> throw refused(original);
      }
      if (rank >= lastRank) {
        throw refused(original);
      }
      lastRank = rank;
      total = total.plus(part);
      parts++;
      while (i < t.length() && t.charAt(i) == ' ') {
        i++;
      }
    }
    if (parts == 0) {
      throw refused(original);
    }
    return total;
  }

  private static IllegalArgumentException refused(String text) {
    return new IllegalArgumentException("'" + text + "' is not " + ACCEPTED);
  }

  /** {@code 25s}, {@code 1m30s}, {@code 500ms}: the shortest text {@link #parse} reads back. */
  public static String format(Duration d) {
    if (d.isZero()) {
      return "0s";
    }
    StringBuilder b = new StringBuilder();
    long days = d.toDays();
    long hours = d.toHoursPart();
    long minutes = d.toMinutesPart();
    long seconds = d.toSecondsPart();
    long millis = d.toMillisPart();
    if (days > 0) {
      b.append(days).append('d');
    }
    if (hours > 0) {
      b.append(hours).append('h');
    }
    if (minutes > 0) {
      b.append(minutes).append('m');
    }
    if (seconds > 0) {
      b.append(seconds).append('s');
    }
    if (millis > 0) {
      b.append(millis).append("ms");
    }
    return b.toString();
  }
}
