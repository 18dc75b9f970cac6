package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.handoff.protocol.v1.Activity;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.PublishActivity;
import io.handoff.protocol.v1.Welcome;
import io.handoff.server.handoff.HandoffLimits;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * A device's activity is shown for its retention from when it was published, whatever other devices
 * of the user publish since: on Redis a user's activities share one hash, whose lifetime each
 * publish renews, and an old one must not ride along.
 */
class ActivityRetentionTest {
  private static final Duration RETENTION = Duration.ofHours(1);

  @Test
  void anActivityOlderThanItsRetentionIsNotShownThoughAnotherDeviceKeepsPublishing()
      throws Exception {
    MutableClock clock = new MutableClock();
    String user = "u-" + UUID.randomUUID();
    try (Nodes nodes = new Nodes()) {
      HandoffServer node =
          nodes.redis(
              RedisProcess.sharedUrl(),
              "a",
              clock,
              b -> b.handoffLimits(HandoffLimits.builder().activityRetention(RETENTION).build()));
      publish(nodes, node, user, "phone", "Episode 3");
      clock.advance(RETENTION.minusMinutes(1));
      publish(nodes, node, user, "laptop", "Draft");
      clock.advance(Duration.ofMinutes(2));

      TestDevice tv = nodes.add(TestDevice.connect(node.port(), TestServer.token(user, "tv")));
      Welcome w = tv.hello().getWelcome();
      assertEquals(
          List.of("laptop"),
          w.getActivitiesList().stream().map(Activity::getDeviceId).toList(),
          "the phone's activity is past its hour; the laptop's is not");
    }
  }

  private static void publish(
      Nodes nodes, HandoffServer node, String user, String device, String title) {
    TestDevice d = nodes.add(TestDevice.connect(node.port(), TestServer.token(user, device)));
    d.hello();
    long id =
        d.send(
            ClientFrame.newBuilder()
                .setPublishActivity(
                    PublishActivity.newBuilder()
                        .setActivity(Activity.newBuilder().setDocument("player").setTitle(title))));
    d.next(f -> f.getRequestId() == id);
    d.close();
  }
}
