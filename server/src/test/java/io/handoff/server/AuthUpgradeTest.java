package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.crypto.MACSigner;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import io.handoff.server.auth.DevTokens;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.Date;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Tokens are checked at the upgrade; every bad one gets 401 and no socket. */
class AuthUpgradeTest {
  private static TestServer server;

  @BeforeAll
  static void start() throws Exception {
    server = TestServer.start();
  }

  @AfterAll
  static void stop() {
    server.close();
  }

  private static String sign(String secret, JWSAlgorithm alg, JWTClaimsSet claims)
      throws Exception {
    SignedJWT jwt = new SignedJWT(new JWSHeader(alg), claims);
    jwt.sign(new MACSigner(secret.getBytes(StandardCharsets.UTF_8)));
    return jwt.serialize();
  }

  private static JWTClaimsSet.Builder valid() {
    return new JWTClaimsSet.Builder()
        .subject("u1")
        .claim("did", "d1")
        .expirationTime(Date.from(Instant.now().plusSeconds(600)));
  }

  private static String b64(String json) {
    return Base64.getUrlEncoder()
        .withoutPadding()
        .encodeToString(json.getBytes(StandardCharsets.UTF_8));
  }

  @Test
  void validTokenUpgrades() {
    assertEquals(101, TestDevice.upgradeStatus(server.port(), TestServer.token("u1", "d1")));
  }

  @Test
  void validTokenInTheQueryStringUpgradesForBrowsers() throws Exception {
    HttpClient http = HttpClient.newHttpClient();
    var ws =
        http.newWebSocketBuilder()
            .buildAsync(
                URI.create(
                    "ws://127.0.0.1:"
                        + server.port()
                        + "/ws?access_token="
                        + TestServer.token("u1", "q")),
                new java.net.http.WebSocket.Listener() {})
            .get();
    ws.abort();
  }

  @Test
  void expiredTokenIsRefused() {
    String expired = DevTokens.mint(TestServer.SECRET, "u1", "d1", Duration.ofMinutes(-5));
    assertEquals(401, TestDevice.upgradeStatus(server.port(), expired));
  }

  @Test
  void tokenNotYetValidIsRefused() throws Exception {
    String early =
        sign(
            TestServer.SECRET,
            JWSAlgorithm.HS256,
            valid().notBeforeTime(Date.from(Instant.now().plusSeconds(600))).build());
    assertEquals(401, TestDevice.upgradeStatus(server.port(), early));
  }

  @Test
  void wrongSignatureIsRefused() throws Exception {
    String other =
        sign("another-secret-of-at-least-32-bytes-long!!", JWSAlgorithm.HS256, valid().build());
    assertEquals(401, TestDevice.upgradeStatus(server.port(), other));
  }

  @Test
  void tamperedPayloadIsRefused() throws Exception {
    String good = TestServer.token("u1", "d1");
    String[] parts = good.split("\\.");
    String forged =
        parts[0]
            + "."
            + b64(
                "{\"sub\":\"someone-else\",\"did\":\"d1\",\"exp\":"
                    + (Instant.now().getEpochSecond() + 600)
                    + "}")
            + "."
            + parts[2];
    assertEquals(401, TestDevice.upgradeStatus(server.port(), forged));
  }

  @Test
  void algNoneIsRefused() {
    String none =
        b64("{\"alg\":\"none\",\"typ\":\"JWT\"}")
            + "."
            + b64(
                "{\"sub\":\"u1\",\"did\":\"d1\",\"exp\":"
                    + (Instant.now().getEpochSecond() + 600)
                    + "}")
            + ".";
    assertEquals(401, TestDevice.upgradeStatus(server.port(), none));
  }

  @Test
  void otherHmacAlgorithmIsRefused() throws Exception {
    String hs512 = sign(TestServer.SECRET + TestServer.SECRET, JWSAlgorithm.HS512, valid().build());
    assertEquals(401, TestDevice.upgradeStatus(server.port(), hs512));
  }

  @Test
  void missingSubOrDidOrExpIsRefused() throws Exception {
    JWTClaimsSet noSub =
        new JWTClaimsSet.Builder()
            .claim("did", "d1")
            .expirationTime(Date.from(Instant.now().plusSeconds(600)))
            .build();
    JWTClaimsSet noDid =
        new JWTClaimsSet.Builder()
            .subject("u1")
            .expirationTime(Date.from(Instant.now().plusSeconds(600)))
            .build();
    JWTClaimsSet noExp = new JWTClaimsSet.Builder().subject("u1").claim("did", "d1").build();
    for (JWTClaimsSet c : new JWTClaimsSet[] {noSub, noDid, noExp}) {
      assertEquals(
          401,
          TestDevice.upgradeStatus(server.port(), sign(TestServer.SECRET, JWSAlgorithm.HS256, c)),
          c.toString());
    }
  }

  @Test
  void missingOrGarbageTokenIsRefusedWithAMessage() throws Exception {
    assertEquals(401, TestDevice.upgradeStatus(server.port(), null));
    assertEquals(401, TestDevice.upgradeStatus(server.port(), "not-a-jwt"));
    HttpResponse<String> res =
        HttpClient.newHttpClient()
            .send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/ws"))
                    .header("Authorization", "Bearer not-a-jwt")
                    .build(),
                HttpResponse.BodyHandlers.ofString());
    assertEquals(401, res.statusCode());
    org.junit.jupiter.api.Assertions.assertTrue(
        res.body().contains("not a signed JWT"), res.body());
  }

  @Test
  void healthAndReadinessAnswer() throws Exception {
    HttpClient http = HttpClient.newHttpClient();
    for (String path : new String[] {"/healthz", "/readyz"}) {
      HttpResponse<String> res =
          http.send(
              HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + path))
                  .build(),
              HttpResponse.BodyHandlers.ofString());
      assertEquals(200, res.statusCode(), path);
    }
    HttpResponse<String> missing =
        http.send(
            HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/nope"))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    assertEquals(404, missing.statusCode());
  }
}
