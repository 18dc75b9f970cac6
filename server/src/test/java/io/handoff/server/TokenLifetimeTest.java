package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.RefreshToken;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.server.auth.DevTokens;
import io.handoff.server.auth.TokenConfig;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A token's times must make sense, whichever verifier reads it: an {@code exp} in milliseconds
 * (read as seconds, some 56,000 years ahead) or further ahead than {@code --max-token-lifetime} is
 * refused with a message that says so, as is an {@code iat} ahead of the node's clock by more than
 * the clock skew; every token the project's own tools mint is still accepted. Real JWTs over real
 * sockets: the upgrade, the API, the in-band RefreshToken and sign-in.
 */
class TokenLifetimeTest {
  private static final byte[] SECRET = TestServer.SECRET.getBytes(StandardCharsets.UTF_8);
  private static final String HS256 = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";

  private static String dev(String user, String device, String times) {
    return HandJws.hs256(
        HS256, "{\"sub\":\"" + user + "\",\"did\":\"" + device + "\"," + times + "}", SECRET);
  }

  /** A token whose exp is now plus an hour, in milliseconds since the epoch (a common slip). */
  private static String expInMillis(String user, String device) {
    return dev(user, device, "\"exp\":" + (System.currentTimeMillis() + 3_600_000));
  }

  /** The 401 body of an upgrade to {@code /ws} with {@code token}, read off a raw socket. */
  private static RawHttp upgrade(int port, String token) throws IOException {
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress("127.0.0.1", port), 10_000);
      s.setSoTimeout(10_000);
      String head =
          "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
              + "Authorization: Bearer "
              + token
              + "\r\n\r\n";
      s.getOutputStream().write(head.getBytes(StandardCharsets.US_ASCII));
      s.getOutputStream().flush();
      return RawHttp.read(s.getInputStream());
    }
  }

  private static void refusedSaying(int port, String token, String... fragments)
      throws IOException {
    assertEquals(401, TestDevice.upgradeStatus(port, token), "the upgrade is refused");
    RawHttp r = upgrade(port, token);
    assertEquals(401, r.status(), r.toString());
    for (String f : fragments) {
      assertTrue(r.field("message").contains(f), "'" + f + "' in: " + r.body());
    }
  }

  @Test
  void aDevelopmentTokenWithItsExpInMillisecondsIsRefusedSayingSo() throws Exception {
    try (TestServer server = TestServer.start()) {
      String token = expInMillis("u1", "d1");
      refusedSaying(server.port(), token, "years away", "is it in milliseconds?", "in seconds");
      HttpApi.Answer api = new HttpApi(server.port()).get("/v1/devices", token);
      assertEquals(401, api.status(), api.toString());
      assertTrue(api.body().contains("milliseconds"), api.body());
    }
  }

  @Test
  void aDevelopmentTokenLivingLongerThanTheLimitIsRefusedUnlessTheLimitIsRaised() throws Exception {
    String twoDays = DevTokens.mint(TestServer.SECRET, "u1", "d1", Duration.ofDays(2));
    try (TestServer server = TestServer.start()) {
      refusedSaying(server.port(), twoDays, "2 days away", "--max-token-lifetime");
    }
    try (TestServer server =
        TestServer.start(
            b -> b.tokens(TokenConfig.builder().maxTokenLifetime(Duration.ofDays(3)).build()))) {
      assertEquals(101, TestDevice.upgradeStatus(server.port(), twoDays));
    }
  }

  @Test
  void aDevelopmentTokenIssuedInTheFutureIsRefused() throws Exception {
    long now = AppBackend.now();
    try (TestServer server = TestServer.start()) {
      refusedSaying(
          server.port(),
          dev("u1", "d1", "\"iat\":" + (now + 600) + ",\"exp\":" + (now + 1200)),
          "issued in the future",
          "clock skew");
      assertEquals(
          101,
          TestDevice.upgradeStatus(
              server.port(), dev("u1", "d1", "\"iat\":" + (now + 5) + ",\"exp\":" + (now + 600))),
          "an iat within the clock skew is accepted");
    }
  }

  @Test
  void everyTokenTheProjectsToolsMintIsAccepted() throws Exception {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    int exit =
        Main.run(
            new String[] {
              "token", "--jwt-secret", TestServer.SECRET, "--user", "u1", "--device", "cli"
            },
            Map.of(),
            new PrintWriter(out, true),
            new PrintWriter(err, true));
    assertEquals(0, exit, err.toString());
    try (TestServer server = TestServer.start()) {
      assertEquals(101, TestDevice.upgradeStatus(server.port(), out.toString().strip()));
      // The launcher's own demo token and the token command's longest without options: 24 hours.
      assertEquals(
          101,
          TestDevice.upgradeStatus(
              server.port(), DevTokens.mint(TestServer.SECRET, "u1", "d", Duration.ofHours(24))));
      assertEquals(101, TestDevice.upgradeStatus(server.port(), TestServer.token("u1", "t")));
    }
    StringWriter longer = new StringWriter();
    assertEquals(
        2,
        Main.run(
            new String[] {
              "token",
              "--jwt-secret",
              TestServer.SECRET,
              "--user",
              "u",
              "--device",
              "d",
              "--ttl",
              "25h"
            },
            Map.of(),
            new PrintWriter(new StringWriter(), true),
            new PrintWriter(longer, true)),
        "the token command mints no token a node would refuse");
    assertTrue(longer.toString().contains("--max-token-lifetime"), longer.toString());
  }

  @Test
  void aRefreshTokenFrameWithAnExpInMillisecondsIsRefusedInBand() {
    try (TestServer server = TestServer.start();
        TestDevice d = TestDevice.connect(server.port(), TestServer.token("u1", "d1"))) {
      d.hello();
      long id =
          d.send(
              ClientFrame.newBuilder()
                  .setRefreshToken(
                      RefreshToken.newBuilder().setAccessToken(expInMillis("u1", "d1"))));
      ServerFrame e = d.next(f -> f.getRequestId() == id);
      assertEquals(ErrorCode.INVALID_TOKEN, e.getError().getCode(), e.toString());
      assertTrue(e.getError().getMessage().contains("milliseconds"), e.toString());
    } catch (InterruptedException e) {
      throw new AssertionError(e);
    }
  }

  @Test
  void aNodeAccessTokenWithItsExpInMillisecondsIsRefused() throws Exception {
    AppBackend app = new AppBackend();
    try (TestServer server = TestServer.start(b -> b.tokens(app.tokens().build()))) {
      HttpApi api = new HttpApi(server.port());
      HttpApi.Answer in = api.signIn(app.identity("ann"), "phone", "Phone", "ios");
      assertEquals(201, in.status(), in.toString());
      String sid = in.field("session_id");
      String good = app.access(AppBackend.accessClaims("ann", "phone", sid, Duration.ofMinutes(5)));
      assertEquals(200, api.get("/v1/devices", good).status(), "the session's token is good");
      String millis =
          app.access(
              AppBackend.accessClaims("ann", "phone", sid, Duration.ofMinutes(5))
                  .replaceFirst("(\"exp\":[0-9]+)", "$1000"));
      refusedSaying(server.port(), millis, "is it in milliseconds?");
      HttpApi.Answer a = api.get("/v1/devices", millis);
      assertEquals(401, a.status(), a.toString());
    }
  }

  @Test
  void identityTokensWithTheirExpInMillisecondsAreRefusedAtSignIn() throws Exception {
    AppBackend app = new AppBackend();
    try (TestServer server = TestServer.start(b -> b.tokens(app.tokens().build()))) {
      HttpApi api = new HttpApi(server.port());
      String claims = AppBackend.claims("bo").replaceFirst("(\"exp\":[0-9]+)", "$1000");
      for (String token :
          new String[] {
            HandJws.es256(
                AppBackend.header("ES256", AppBackend.EC_KID), claims, app.ec.getPrivate()),
            HandJws.rs256(
                AppBackend.header("RS256", AppBackend.RSA_KID), claims, app.rsa.getPrivate())
          }) {
        HttpApi.Answer a = api.signIn(token, "phone", "Phone", "ios");
        assertEquals(401, a.status(), a.toString());
        assertTrue(a.body().contains("is it in milliseconds?"), a.body());
      }
      assertEquals(201, api.signIn(app.identity("bo"), "phone", "Phone", "ios").status());
    }
  }
}
