package io.handoff.server.engine.redis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

class RedisScriptTest {

  @Test
  void everyScriptLoadsWithItsPartsPutInAndNoIncludeLeft() {
    for (String name : scripts()) {
      String text = RedisScript.source(name);
      assertFalse(text.contains("-- include:"), name);
      assertFalse(text.isBlank(), name);
    }
  }

  @Test
  void aSharedPartIsPutInOnceWhereTheScriptSaysSo() {
    String resume = RedisScript.source("resume.lua");
    String presence = RedisScript.source("presence.lua");
    String read = RedisScript.source("read.lua");

    assertEquals(1, occurrences(resume, "local function presence_up("));
    assertEquals(1, occurrences(resume, "local function read_position("));
    assertEquals(1, occurrences(presence, "local function presence_up("));
    assertEquals(1, occurrences(read, "local function read_position("));
    // Defined before the first call.
    assertTrue(
        resume.indexOf("local function presence_up(") < resume.indexOf("presence_up(KEYS[4]"));
    assertTrue(read.endsWith("ARGV[3])\n"), read);
  }

  private static int occurrences(String text, String what) {
    int n = 0;
    for (int i = text.indexOf(what); i >= 0; i = text.indexOf(what, i + 1)) {
      n++;
    }
    return n;
  }

  private static List<String> scripts() {
    try (Stream<Path> files =
        Files.list(Path.of(RedisScript.class.getResource("write.lua").toURI()).getParent())) {
      return files
          .map(p -> p.getFileName().toString())
          .filter(n -> n.endsWith(".lua") && !n.startsWith("part_"))
          .sorted()
          .toList();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (URISyntaxException e) {
      throw new IllegalStateException(e);
    }
  }
}
