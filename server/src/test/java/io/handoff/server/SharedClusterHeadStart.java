package io.handoff.server;

import org.junit.platform.launcher.LauncherSession;
import org.junit.platform.launcher.LauncherSessionListener;

/**
 * Begins the shared Redis Cluster's start ({@link RedisClusterProcess#headStart}) as a test JVM of
 * this module's surefire run opens its launcher session, so that the JVM's first test on the
 * Cluster finds it started, or nearly. Only in those JVMs (their {@code handoff.test.fork} is set):
 * a test run from an IDE, or the integration tests, start no Cluster they may not use. Registered
 * in {@code META-INF/services}.
 */
public final class SharedClusterHeadStart implements LauncherSessionListener {
  @Override
  public void launcherSessionOpened(LauncherSession session) {
    if (System.getProperty("handoff.test.fork") != null) {
      RedisClusterProcess.headStart();
    }
  }
}
