package io.handoff.server;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import java.util.List;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.slf4j.LoggerFactory;

/**
 * What one Logback logger (and the loggers under it) logs while each test runs: attached before the
 * test's {@code @BeforeEach} methods, detached after its {@code @AfterEach} methods. Register as a
 * field with {@code @RegisterExtension}. Reads copy the events under the appender's lock, so a test
 * may read while the node's threads still log.
 */
public final class CapturedLog implements BeforeEachCallback, AfterEachCallback {
  private final Logger logger;
  private final ListAppender<ILoggingEvent> appender = new ListAppender<>();

  /** The events of the logger {@code name}. */
  public CapturedLog(String name) {
    this.logger = (Logger) LoggerFactory.getLogger(name);
  }

  /** The events of {@code type}'s logger. */
  public CapturedLog(Class<?> type) {
    this(type.getName());
  }

  @Override
  public void beforeEach(ExtensionContext context) {
    clear();
    appender.start();
    logger.addAppender(appender);
  }

  @Override
  public void afterEach(ExtensionContext context) {
    logger.detachAppender(appender);
    appender.stop();
  }

  /** The events logged so far in this test, oldest first. */
  public List<ILoggingEvent> events() {
    synchronized (appender) { // ListAppender appends under this lock.
      return List.copyOf(appender.list);
    }
  }

  /** Forgets the events logged so far. */
  public void clear() {
    synchronized (appender) {
      appender.list.clear();
    }
  }

  @Override
  public String toString() {
    return events().toString();
  }
}
