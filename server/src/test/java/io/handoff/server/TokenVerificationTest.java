package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Identity tokens (sign-in) and access tokens (/ws and /v1/) built by hand from java.security
 * bytes, not by the JOSE library under test: every kind of bad token is refused with a clear
 * message, valid ones are accepted.
 */
class TokenVerificationTest {
  private static final AppBackend app = new AppBackend();
  private static TestServer server;
  private static HttpApi api;
  private static String sid;

  @BeforeAll
  static void start() throws Exception {
    server = TestServer.start(b -> b.tokens(app.tokens().build()));
    api = new HttpApi(server.port());
    HttpApi.Answer a = api.signIn(app.identity("vera"), "phone", "Vera's phone", "android");
    assertEquals(201, a.status(), a.toString());
    sid = a.field("session_id");
    assertNotNull(sid);
  }

  @AfterAll
  static void stop() {
    server.close();
  }

  private static String claims(String extra) {
    long now = AppBackend.now();
    return "{\"iss\":\""
        + AppBackend.ISSUER
        + "\",\"aud\":\""
        + AppBackend.AUDIENCE
        + "\","
        + extra
        + (extra.contains("\"exp\"") ? "" : ",\"exp\":" + (now + 300))
        + "}";
  }

  static Stream<Arguments> badIdentityTokens() {
    long now = AppBackend.now();
    String ec = AppBackend.header("ES256", AppBackend.EC_KID);
    String good = app.identity("vera");
    byte[] publicJwk =
        HandJws.jwk(app.ec.getPublic(), AppBackend.EC_KID).getBytes(StandardCharsets.UTF_8);
    return Stream.of(
        Arguments.of("alg none", HandJws.unsigned(AppBackend.claims("vera")), "not a signed JWT"),
        Arguments.of(
            "HS256 keyed with the public JWK (algorithm confusion)",
            HandJws.hs256(
                AppBackend.header("HS256", AppBackend.EC_KID),
                AppBackend.claims("vera"),
                publicJwk),
            "algorithm HS256 is not accepted"),
        Arguments.of(
            "HS256 keyed with the X.509 public key bytes",
            HandJws.hs256(
                AppBackend.header("HS256", AppBackend.EC_KID),
                AppBackend.claims("vera"),
                app.ec.getPublic().getEncoded()),
            "algorithm HS256 is not accepted"),
        Arguments.of(
            "expired",
            HandJws.es256(
                ec, claims("\"sub\":\"vera\",\"exp\":" + (now - 3600)), app.ec.getPrivate()),
            "expired"),
        Arguments.of(
            "not yet valid",
            HandJws.es256(
                ec, claims("\"sub\":\"vera\",\"nbf\":" + (now + 3600)), app.ec.getPrivate()),
            "not valid before"),
        Arguments.of(
            "wrong issuer",
            HandJws.es256(
                ec,
                "{\"iss\":\"https://evil.example\",\"aud\":\""
                    + AppBackend.AUDIENCE
                    + "\",\"sub\":\"vera\",\"exp\":"
                    + (now + 300)
                    + "}",
                app.ec.getPrivate()),
            "issuer"),
        Arguments.of(
            "wrong audience",
            HandJws.es256(
                ec,
                "{\"iss\":\""
                    + AppBackend.ISSUER
                    + "\",\"aud\":\"someone-else\",\"sub\":\"vera\",\"exp\":"
                    + (now + 300)
                    + "}",
                app.ec.getPrivate()),
            "audience"),
        Arguments.of(
            "unknown kid",
            HandJws.es256(
                AppBackend.header("ES256", "nobody"),
                AppBackend.claims("vera"),
                app.ec.getPrivate()),
            "unknown key id"),
        Arguments.of(
            "signed by a key that is not in the JWKS",
            HandJws.es256(ec, AppBackend.claims("vera"), HandJws.ecKeys().getPrivate()),
            "bad identity token signature"),
        Arguments.of(
            "tampered payload",
            HandJws.tampered(good, AppBackend.claims("mallory")),
            "bad identity token signature"),
        Arguments.of(
            "missing sub",
            HandJws.es256(ec, claims("\"name\":\"vera\""), app.ec.getPrivate()),
            "sub claim"),
        Arguments.of(
            "missing exp",
            HandJws.es256(
                ec,
                "{\"iss\":\""
                    + AppBackend.ISSUER
                    + "\",\"aud\":\""
                    + AppBackend.AUDIENCE
                    + "\",\"sub\":\"vera\"}",
                app.ec.getPrivate()),
            "no exp claim"),
        Arguments.of(
            "RS256 header on the EC key",
            HandJws.rs256(
                AppBackend.header("RS256", AppBackend.EC_KID),
                AppBackend.claims("vera"),
                app.rsa.getPrivate()),
            "cannot verify RS256"),
        Arguments.of("garbage", "not.a.token", "not a signed JWT"));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("badIdentityTokens")
  void badIdentityTokenIsRefusedAtSignInWithAClearError(String name, String token, String why) {
    HttpApi.Answer a = api.signIn(token, "phone-" + name.hashCode(), "x", "ios");
    assertEquals(401, a.status(), name + ": " + a);
    assertEquals("invalid_token", a.field("error"), a.toString());
    assertTrue(a.field("message").contains(why), name + ": " + a);
  }

  @Test
  void validIdentityTokensOfEitherAlgorithmSignIn() {
    HttpApi.Answer es = api.signIn(app.identity("walt"), "tablet", "Walt's tablet", "ios");
    assertEquals(201, es.status(), es.toString());
    String rs =
        HandJws.rs256(
            AppBackend.header("RS256", AppBackend.RSA_KID),
            AppBackend.claims("walt"),
            app.rsa.getPrivate());
    HttpApi.Answer r = api.signIn(rs, "tv", "Living room", "tvos");
    assertEquals(201, r.status(), r.toString());
    assertEquals("walt", r.field("user_id"));
    assertEquals(101, TestDevice.upgradeStatus(server.port(), r.field("access_token")));
  }

  static Stream<Arguments> badAccessTokens() {
    long now = AppBackend.now();
    String node = AppBackend.header("ES256", AppBackend.NODE_KID);
    String good = app.access(AppBackend.accessClaims("vera", "phone", sid, Duration.ofMinutes(5)));
    byte[] publicJwk =
        HandJws.jwk(app.node.getPublic(), AppBackend.NODE_KID).getBytes(StandardCharsets.UTF_8);
    String base =
        "\"iss\":\""
            + AppBackend.NODE_ISSUER
            + "\",\"sub\":\"vera\",\"did\":\"phone\",\"sid\":\""
            + sid
            + "\"";
    return Stream.of(
        Arguments.of(
            "alg none",
            HandJws.unsigned(AppBackend.accessClaims("vera", "phone", sid, Duration.ofMinutes(5))),
            "not a signed JWT"),
        Arguments.of(
            "HS256 keyed with the node's public JWK",
            HandJws.hs256(
                AppBackend.header("HS256", AppBackend.NODE_KID),
                AppBackend.accessClaims("vera", "phone", sid, Duration.ofMinutes(5)),
                publicJwk),
            "bad token signature"),
        Arguments.of(
            "expired", app.access("{" + base + ",\"exp\":" + (now - 3600) + "}"), "expired"),
        Arguments.of(
            "not yet valid",
            app.access("{" + base + ",\"nbf\":" + (now + 3600) + ",\"exp\":" + (now + 7200) + "}"),
            "not valid before"),
        Arguments.of(
            "wrong issuer",
            app.access(
                "{\"iss\":\"other\",\"sub\":\"vera\",\"did\":\"phone\",\"sid\":\""
                    + sid
                    + "\",\"exp\":"
                    + (now + 300)
                    + "}"),
            "issuer"),
        Arguments.of(
            "unknown kid",
            HandJws.es256(
                AppBackend.header("ES256", "old-key"),
                AppBackend.accessClaims("vera", "phone", sid, Duration.ofMinutes(5)),
                app.node.getPrivate()),
            "unknown signing key id"),
        Arguments.of(
            "tampered payload",
            HandJws.tampered(
                good, AppBackend.accessClaims("mallory", "phone", sid, Duration.ofMinutes(5))),
            "bad token signature"),
        Arguments.of(
            "missing sid",
            app.access(
                "{\"iss\":\""
                    + AppBackend.NODE_ISSUER
                    + "\",\"sub\":\"vera\",\"did\":\"phone\",\"exp\":"
                    + (now + 300)
                    + "}"),
            "sid claim"),
        Arguments.of(
            "missing did",
            app.access(
                "{\"iss\":\""
                    + AppBackend.NODE_ISSUER
                    + "\",\"sub\":\"vera\",\"sid\":\""
                    + sid
                    + "\",\"exp\":"
                    + (now + 300)
                    + "}"),
            "did claim"),
        Arguments.of("missing exp", app.access("{" + base + "}"), "no exp claim"),
        Arguments.of(
            "a session that does not exist",
            app.access(
                AppBackend.accessClaims("vera", "phone", "no-such-session", Duration.ofMinutes(5))),
            "does not exist"),
        Arguments.of(
            "another device's session",
            app.access(AppBackend.accessClaims("vera", "laptop", sid, Duration.ofMinutes(5))),
            "does not exist"),
        Arguments.of(
            "another user's session",
            app.access(AppBackend.accessClaims("mallory", "phone", sid, Duration.ofMinutes(5))),
            "does not exist"));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("badAccessTokens")
  void badAccessTokenIsRefusedAtTheUpgradeAndTheApi(String name, String token, String why) {
    assertEquals(401, TestDevice.upgradeStatus(server.port(), token), name);
    HttpApi.Answer a = api.get("/v1/devices", token);
    assertEquals(401, a.status(), name + ": " + a);
    assertTrue(a.field("message").contains(why), name + ": " + a);
  }

  @Test
  void handBuiltAccessTokenOfALiveSessionIsAccepted() {
    String token = app.access(AppBackend.accessClaims("vera", "phone", sid, Duration.ofMinutes(5)));
    assertEquals(101, TestDevice.upgradeStatus(server.port(), token));
    HttpApi.Answer a = api.get("/v1/devices", token);
    assertEquals(200, a.status(), a.toString());
    assertTrue(a.body().contains("\"device_id\":\"phone\""), a.toString());
  }

  @Test
  void developmentTokensStillWork() {
    assertEquals(101, TestDevice.upgradeStatus(server.port(), TestServer.token("dev", "laptop")));
  }

  @Test
  void publicKeysArePublishedWithoutTheirPrivatePart() {
    HttpApi.Answer a = api.get("/.well-known/jwks.json", null);
    assertEquals(200, a.status());
    assertTrue(a.body().contains("\"kid\":\"" + AppBackend.NODE_KID + "\""), a.body());
    assertTrue(!a.body().contains("\"d\""), a.body());
  }
}
