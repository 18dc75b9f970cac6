package io.handoff.protocol;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class DurationsTest {

  @ParameterizedTest(name = "''{0}'' is {1} ms")
  @CsvSource(
      delimiter = '|',
      value = {
        "25s|25000",
        "500ms|500",
        "1m30s|90000",
        "1h30m|5400000",
        "2h|7200000",
        "30d|2592000000",
        "1m500ms|60500",
        "PT25S|25000",
        "pt1m30s|90000",
        "P1D|86400000",
        "'  25s '|25000",
        "'25 s'|25000",
        "'1m 30s'|90000",
        "0|0",
        "0s|0"
      })
  void readsTheFormsPeopleWrite(String text, long millis) {
    assertEquals(Duration.ofMillis(millis), Durations.parse(text));
  }

  @ParameterizedTest
  @ValueSource(
      strings = {"25x", "25", "s", "", "  ", "1s1m", "1m1m", "-5s", "PT", "ten seconds", "-PT5S"})
  void refusesOthersWithAMessageSayingWhatIsAccepted(String text) {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> Durations.parse(text));
    assertTrue(e.getMessage().contains("'" + text + "'"), e.getMessage());
    assertTrue(e.getMessage().contains("1m30s"), e.getMessage());
  }

  @ParameterizedTest
  @ValueSource(strings = {"25s", "500ms", "1m30s", "1d2h3m4s5ms", "0s"})
  void formatReadsBack(String text) {
    assertEquals(text, Durations.format(Durations.parse(text)));
  }
}
