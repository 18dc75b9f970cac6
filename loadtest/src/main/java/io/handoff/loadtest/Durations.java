package io.handoff.loadtest;

import java.time.Duration;
import picocli.CommandLine;

/**
 * Durations on the load tester's command line: the forms of {@link io.handoff.protocol.Durations}
 * (the server reads the same ones), {@code 30s}, {@code 500ms}, {@code 1m30s}, ISO-8601.
 */
final class Durations implements CommandLine.ITypeConverter<Duration> {

  @Override
  public Duration convert(String value) {
    try {
      return parse(value);
    } catch (IllegalArgumentException e) {
      throw new CommandLine.TypeConversionException(e.getMessage());
    }
  }

  /**
   * @throws IllegalArgumentException naming the text and the accepted forms
   */
  static Duration parse(String text) {
    return io.handoff.protocol.Durations.parse(text);
  }

  /** {@code 1.5 s}, {@code 250 ms}: for tables and the report. */
  static String format(Duration d) {
    long ms = d.toMillis();
    return ms % 1000 == 0 ? (ms / 1000) + "s" : ms + "ms";
  }
}
