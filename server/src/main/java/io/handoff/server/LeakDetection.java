package io.handoff.server;

import io.netty.util.ResourceLeakDetector;
import java.util.Properties;

/**
 * Netty's buffer leak detection in the server process: off, unless the operator asks for a level
 * with Netty's own system property ({@code
 * -Dio.netty.leakDetection.level=simple|advanced|paranoid}). Netty's default (SIMPLE) tracks one
 * buffer in 128 on every delivery path, with a stack trace and a weak reference each, which cost
 * the node one to two percent of its CPU per delivery. The test suite sets the property (PARANOID,
 * SIMPLE for load-style classes), so leaks are still caught where they are looked for; only {@link
 * Main} applies this, never an embedded node.
 */
final class LeakDetection {
  static final String PROPERTY = "io.netty.leakDetection.level";
  // The name Netty read before 4.0.16, still honoured by it.
  static final String LEGACY_PROPERTY = "io.netty.leakDetectionLevel";

  private LeakDetection() {}

  /**
   * Turns leak detection off unless {@code properties} name a level; returns the level in force.
   */
  static ResourceLeakDetector.Level apply(Properties properties) {
    if (properties.getProperty(PROPERTY) == null
        && properties.getProperty(LEGACY_PROPERTY) == null) {
      ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.DISABLED);
    }
    return ResourceLeakDetector.getLevel();
  }
}
