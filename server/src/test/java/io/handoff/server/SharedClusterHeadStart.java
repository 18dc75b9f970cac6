package io.handoff.server;

import org.junit.platform.launcher.LauncherSession;
import org.junit.platform.launcher.LauncherSessionListener;
import org.slf4j.LoggerFactory;

/**
 * Begins the shared Redis Cluster's start ({@link RedisClusterProcess#headStart}) as a test JVM of
 * this module's surefire run opens its launcher session, so that the JVM's first test on the
 * Cluster finds it started, or nearly. Only in those JVMs (their {@code handoff.test.fork} is set):
 * a test run from an IDE, or the integration tests, start no Cluster they may not use. Registered
 * in {@code META-INF/services}.
 *
 * <p>Logging is set up first, on this thread, in every test JVM: while SLF4J sets itself up, a
 * logger asked for on another thread (the Cluster's start, a test running beside it) is a stand-in
 * no appender reaches, and a test that casts it to Logback's to capture lines would fail.
 */
public final class SharedClusterHeadStart implements LauncherSessionListener {
  @Override
  public void launcherSessionOpened(LauncherSession session) {
    LoggerFactory.getILoggerFactory();
    if (System.getProperty("handoff.test.fork") != null) {
      RedisClusterProcess.headStart();
    }
  }
}
