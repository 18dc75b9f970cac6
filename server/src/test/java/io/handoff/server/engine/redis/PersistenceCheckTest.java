package io.handoff.server.engine.redis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.handoff.server.RedisProcess;
import io.handoff.server.engine.StoreLimits;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/**
 * A node connecting to a Redis that keeps an append-only file and would load a torn one in part
 * warns about it once, naming the setting to change; a Redis that refuses torn files, or keeps no
 * file, gets no warning.
 */
class PersistenceCheckTest {

  @Test
  void aRedisThatLoadsTornFilesInPartIsNamedInAWarningAtConnect() {
    List<ILoggingEvent> warnings =
        warningsAtConnect(
            List.of(
                "appendonly yes", "appendfsync everysec", "save \"\"", "aof-load-truncated yes"));
    assertEquals(1, warnings.size(), warnings.toString());
    String message = warnings.get(0).getFormattedMessage();
    assertTrue(message.startsWith("Redis at redis://127.0.0.1:"), message);
    assertTrue(message.contains("Set aof-load-truncated no"), message);
    assertTrue(message.contains("redis-check-aof --fix"), message);
  }

  @Test
  void aRedisThatRefusesTornFilesOrKeepsNoneGetsNoWarning() {
    assertEquals(
        List.of(),
        warningsAtConnect(
            List.of(
                "appendonly yes", "appendfsync everysec", "save \"\"", "aof-load-truncated no")));
    assertEquals(List.of(), warningsAtConnect(List.of("appendonly no", "save \"\"")));
  }

  private static List<ILoggingEvent> warningsAtConnect(List<String> settings) {
    Logger logger = (Logger) LoggerFactory.getLogger(PersistenceCheck.class);
    ListAppender<ILoggingEvent> events = new ListAppender<>();
    events.start();
    logger.addAppender(events);
    try (RedisProcess redis = RedisProcess.start(settings);
        RedisEngine engine =
            RedisEngine.connect(redis.url(), "test:", StoreLimits.builder().build())) {
      return events.list.stream().filter(e -> e.getLevel() == Level.WARN).toList();
    } finally {
      logger.detachAppender(events);
    }
  }
}
