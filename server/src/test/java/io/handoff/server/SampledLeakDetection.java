package io.handoff.server;

import io.netty.util.ResourceLeakDetector;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Runs a test class with Netty's sampled leak detection ({@code SIMPLE}: one buffer in 128 tracked)
 * instead of the suite's {@code PARANOID} (every buffer tracked, with a stack trace per access).
 *
 * <p>For load-style classes only (thousands of writes fanned out over several nodes): there the
 * paranoid level doubles the CPU a test costs, and a leak on a path taken thousands of times is
 * still caught by sampling. Handler, codec, fuzz and protocol tests keep the paranoid level, which
 * is what finds a leak on a rare path. Test classes run one after another in one JVM (no parallel
 * execution is configured), so the switch cannot leak into another class.
 */
public final class SampledLeakDetection implements BeforeAllCallback, AfterAllCallback {
  private static final ExtensionContext.Namespace NS =
      ExtensionContext.Namespace.create(SampledLeakDetection.class);

  @Override
  public void beforeAll(ExtensionContext context) {
    context.getStore(NS).put("previous", ResourceLeakDetector.getLevel());
    ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.SIMPLE);
  }

  @Override
  public void afterAll(ExtensionContext context) {
    ResourceLeakDetector.setLevel(
        context.getStore(NS).get("previous", ResourceLeakDetector.Level.class));
  }
}
