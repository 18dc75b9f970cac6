package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.handoff.protocol.v1.Activity;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.PublishActivity;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.protocol.v1.Welcome;
import io.handoff.server.engine.StoreLimits;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * Promise 9: a user's activities are bounded as its presence entries are (by maxDevicesPerUser),
 * not by how many device ids the user ever went through. A device id is the client's choice at
 * sign-in; a user at the device limit revokes one and signs in another.
 */
class ActivitiesBoundTest {
  private static final int MAX_DEVICES = 3;
  private static final int CYCLES = 12;

  @Test
  void devicesSignedInAndRevokedOneAfterAnotherLeaveAtMostMaxDevicesActivities() throws Exception {
    AppBackend app = new AppBackend();
    try (TestServer server =
        TestServer.start(
            b ->
                b.tokens(app.tokens().signInBurst(1000, Duration.ofMinutes(1)).build())
                    .storeLimits(StoreLimits.builder().maxDevicesPerUser(MAX_DEVICES).build()))) {
      HttpApi api = new HttpApi(server.port());
      HttpApi.Answer keeper = signIn(api, app, "keeper");
      String payload = "x".repeat(4000); // Just under the 4 KiB payload limit.
      for (int i = 0; i < CYCLES; i++) {
        String device = "d" + i;
        HttpApi.Answer t = signIn(api, app, device);
        try (TestDevice d = TestDevice.connect(server.port(), t.field("access_token"))) {
          d.hello();
          long id =
              d.send(
                  ClientFrame.newBuilder()
                      .setPublishActivity(
                          PublishActivity.newBuilder()
                              .setActivity(
                                  Activity.newBuilder()
                                      .setKind("video")
                                      .setTitle("t" + i)
                                      .setPayload(ByteString.copyFromUtf8(payload)))));
          ServerFrame echo = d.next(f -> f.getRequestId() == id);
          assertTrue(echo.hasActivityUpdate(), echo.toString());
        }
        // At the device limit: make room for the next one, as any user can.
        HttpApi.Answer revoked = api.delete("/v1/devices/" + device, keeper.field("access_token"));
        assertEquals(200, revoked.status(), revoked.toString());
      }
      HttpApi.Answer last = signIn(api, app, "watcher");
      try (TestDevice watcher = TestDevice.connect(server.port(), last.field("access_token"))) {
        Welcome w = watcher.hello().getWelcome();
        assertTrue(
            w.getActivitiesCount() <= MAX_DEVICES,
            "a user at most "
                + MAX_DEVICES
                + " devices at a time; its Welcome carries "
                + w.getActivitiesCount()
                + " activities of about 4 KiB each, one per device id it ever used, for a day");
      }
    }
  }

  private static HttpApi.Answer signIn(HttpApi api, AppBackend app, String device) {
    HttpApi.Answer a = api.signIn(app.identity("mallory"), device, device, "ios");
    assertEquals(201, a.status(), a.toString());
    return a;
  }
}
