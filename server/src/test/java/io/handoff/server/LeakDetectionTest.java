package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.netty.util.ResourceLeakDetector;
import java.util.Properties;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The server process runs without Netty's leak detection unless the operator names a level. */
class LeakDetectionTest {
  private ResourceLeakDetector.Level previous;

  @BeforeEach
  void remember() {
    previous = ResourceLeakDetector.getLevel();
  }

  @AfterEach
  void restore() {
    ResourceLeakDetector.setLevel(previous);
  }

  @Test
  void leakDetectionIsOffWhenNoLevelIsGiven() {
    ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.SIMPLE); // Netty's own default
    assertEquals(ResourceLeakDetector.Level.DISABLED, LeakDetection.apply(new Properties()));
    assertEquals(ResourceLeakDetector.Level.DISABLED, ResourceLeakDetector.getLevel());
  }

  @Test
  void aLevelGivenAsASystemPropertyIsKept() {
    for (String property : new String[] {LeakDetection.PROPERTY, LeakDetection.LEGACY_PROPERTY}) {
      // Netty reads the property itself when it starts; the server leaves its level alone.
      ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.PARANOID);
      Properties asked = new Properties();
      asked.setProperty(property, "paranoid");
      assertEquals(ResourceLeakDetector.Level.PARANOID, LeakDetection.apply(asked), property);
    }
  }
}
