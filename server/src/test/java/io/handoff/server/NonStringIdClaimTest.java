package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * A token whose {@code sub} or {@code did} is a JSON number (or anything but a string) is refused
 * with 401, at the socket upgrade and on the {@code /v1} API: {@code "sub": 42} never becomes the
 * user "42".
 */
class NonStringIdClaimTest {
  private static String hs256(String payload) {
    return HandJws.hs256(
        "{\"alg\":\"HS256\",\"typ\":\"JWT\"}",
        payload,
        TestServer.SECRET.getBytes(StandardCharsets.UTF_8));
  }

  private static String devClaims(String sub, String did) {
    return "{\"sub\":" + sub + ",\"did\":" + did + ",\"exp\":" + (AppBackend.now() + 600) + "}";
  }

  @Test
  void numericSubOrDidIsRefusedAtTheUpgrade() throws Exception {
    try (TestServer server = TestServer.start()) {
      assertEquals(
          101,
          TestDevice.upgradeStatus(server.port(), hs256(devClaims("\"42\"", "\"d1\""))),
          "the same token with string claims upgrades");
      assertEquals(401, TestDevice.upgradeStatus(server.port(), hs256(devClaims("42", "\"d1\""))));
      assertEquals(401, TestDevice.upgradeStatus(server.port(), hs256(devClaims("\"42\"", "7"))));
      assertEquals(
          401, TestDevice.upgradeStatus(server.port(), hs256(devClaims("true", "\"d1\""))));
      assertEquals(
          401, TestDevice.upgradeStatus(server.port(), hs256(devClaims("[\"42\"]", "\"d1\""))));
    }
  }

  @Test
  void numericSubIsRefusedByTheApiAndTheNodeKeyedUpgrade() throws Exception {
    AppBackend app = new AppBackend();
    try (TestServer server = TestServer.start(b -> b.tokens(app.tokens().build()))) {
      HttpApi api = new HttpApi(server.port());
      String numericIdentity =
          HandJws.es256(
              AppBackend.header("ES256", AppBackend.EC_KID),
              AppBackend.claims("42").replace("\"sub\":\"42\"", "\"sub\":42"),
              app.ec.getPrivate());
      HttpApi.Answer signIn = api.signIn(numericIdentity, "phone", "Phone", "ios");
      assertEquals(401, signIn.status(), signIn.toString());
      assertTrue(signIn.body().contains("sub claim must be a JSON string"), signIn.body());
      assertEquals(201, api.signIn(app.identity("42"), "phone", "Phone", "ios").status());

      String numericAccess =
          app.access(
              AppBackend.accessClaims("42", "phone", "s1", Duration.ofMinutes(5))
                  .replace("\"sub\":\"42\"", "\"sub\":42"));
      assertEquals(401, api.get("/v1/devices", numericAccess).status());
      assertEquals(401, TestDevice.upgradeStatus(server.port(), numericAccess));
    }
  }
}
