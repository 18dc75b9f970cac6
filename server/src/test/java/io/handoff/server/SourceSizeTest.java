package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * No source file of the server grows past 600 lines unless it says why at its top, in a comment
 * that starts with "Over 600 lines because". A file that long is two things that want to be apart.
 */
class SourceSizeTest {
  private static final int MAX_LINES = 600;
  private static final String REASON = "Over 600 lines because";

  @Test
  void noSourceFileIsOver600LinesWithoutSayingWhy() throws IOException {
    Path src = Path.of("src");
    assertTrue(Files.isDirectory(src.resolve("main/java")), "run from the server module");
    List<String> tooLong;
    try (Stream<Path> files = Files.walk(src)) {
      tooLong =
          files
              .filter(p -> p.toString().endsWith(".java"))
              .filter(SourceSizeTest::tooLongWithoutReason)
              .map(p -> p + " (" + lines(p).size() + " lines)")
              .sorted()
              .toList();
    }
    assertEquals(List.of(), tooLong, "split these files, or say at their top why they are one");
  }

  private static boolean tooLongWithoutReason(Path p) {
    List<String> lines = lines(p);
    return lines.size() > MAX_LINES && lines.stream().noneMatch(l -> l.contains(REASON));
  }

  private static List<String> lines(Path p) {
    try {
      return Files.readAllLines(p);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
