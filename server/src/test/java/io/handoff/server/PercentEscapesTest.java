package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.server.engine.StoreLimits;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Percent-escapes over real sockets (memory engine): a device id in a path is decoded once. */
class PercentEscapesTest {
  private final AppBackend app = new AppBackend();
  private TestServer server;
  private HttpApi api;

  @BeforeEach
  void start() throws Exception {
    server =
        TestServer.start(
            b ->
                b.tokens(app.tokens().build())
                    .storeLimits(StoreLimits.builder().maxDevicesPerUser(8).build()));
    api = new HttpApi(server.port());
  }

  @AfterEach
  void stop() {
    server.close();
  }

  private HttpApi.Answer signIn(String user, String device) {
    HttpApi.Answer a = api.signIn(app.identity(user), device, "the " + device, "ios");
    assertEquals(201, a.status(), a.toString());
    return a;
  }

  @Test
  void aDeviceIdInThePathIsDecodedOnceSoAPlusIsAPlus() throws Exception {
    HttpApi.Answer plus = signIn("dee", "a+b");
    HttpApi.Answer space = signIn("dee", "a b");
    HttpApi.Answer percent = signIn("dee", "50%off");
    String token = signIn("dee", "laptop").field("access_token");

    HttpApi.Answer revoked = api.delete("/v1/devices/a%2Bb", token);
    assertEquals(200, revoked.status(), revoked.toString());
    assertEquals("{\"revoked\":[\"a+b\"]}", revoked.body().trim());
    assertEquals(400, api.refresh(plus.field("refresh_token")).status(), "a+b is revoked");
    assertEquals(200, api.refresh(space.field("refresh_token")).status(), "a b is not");

    HttpApi.Answer again = api.delete("/v1/devices/a+b", token);
    assertEquals(404, again.status(), "a+b in the path is the same device, gone: " + again);
    assertEquals(
        "{\"revoked\":[\"a b\"]}", api.delete("/v1/devices/a%20b", token).body().trim(), "a b");
    assertEquals(
        "{\"revoked\":[\"50%off\"]}",
        api.delete("/v1/devices/50%25off", token).body().trim(), "a literal % sent as %25");
    assertEquals(400, api.refresh(percent.field("refresh_token")).status(), "50%off is revoked");
    HttpApi.Answer left = api.get("/v1/devices", token);
    assertTrue(left.body().matches("\\{\"devices\":\\[\\{\"device_id\":\"laptop\".*"), left.body());
  }
}
