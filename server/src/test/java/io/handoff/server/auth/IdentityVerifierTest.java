package io.handoff.server.auth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import io.handoff.server.AppBackend;
import io.handoff.server.HandJws;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.time.Clock;
import java.time.Duration;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Identity tokens verified with keys from a JWKS URL served on 127.0.0.1, or a file. */
class IdentityVerifierTest {
  private final KeyPair ec = HandJws.ecKeys();

  private IdentityVerifier verifier(String source, Set<String> algorithms) {
    return new IdentityVerifier(
        source,
        algorithms,
        AppBackend.ISSUER,
        AppBackend.AUDIENCE,
        Duration.ofSeconds(30),
        Duration.ofSeconds(30),
        Duration.ofHours(1),
        Clock.systemUTC());
  }

  @Test
  void keysAreLoadedFromAJwksUrl() throws Exception {
    byte[] jwks =
        HandJws.jwks(HandJws.jwk(ec.getPublic(), "url-key")).getBytes(StandardCharsets.UTF_8);
    HttpServer http = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    http.createContext(
        "/jwks.json",
        ex -> {
          ex.sendResponseHeaders(200, jwks.length);
          ex.getResponseBody().write(jwks);
          ex.close();
        });
    http.start();
    try {
      IdentityVerifier v =
          verifier(
              "http://127.0.0.1:" + http.getAddress().getPort() + "/jwks.json", Set.of("ES256"));
      String token =
          HandJws.es256(
              AppBackend.header("ES256", "url-key"), AppBackend.claims("sam"), ec.getPrivate());
      assertEquals("sam", v.verify(token));
      String other =
          HandJws.es256(
              AppBackend.header("ES256", "other"), AppBackend.claims("sam"), ec.getPrivate());
      AuthException e = assertThrows(AuthException.class, () -> v.verify(other));
      assertTrue(e.getMessage().contains("unknown key id other"), e.getMessage());
    } finally {
      http.stop(0);
    }
  }

  @Test
  void algorithmOutsideTheAllowListIsRefusedEvenWithAGoodSignature(@TempDir Path dir)
      throws Exception {
    // The JVM's shared key: a 2048-bit key of its own took seconds to make.
    KeyPair rsa = AppBackend.sharedRsaKeys();
    Path file = dir.resolve("jwks.json");
    Files.writeString(file, HandJws.jwks(HandJws.jwk(rsa.getPublic(), "rsa")));
    IdentityVerifier v = verifier(file.toString(), Set.of("ES256"));
    String token =
        HandJws.rs256(
            AppBackend.header("RS256", "rsa"), AppBackend.claims("sam"), rsa.getPrivate());
    AuthException e = assertThrows(AuthException.class, () -> v.verify(token));
    assertTrue(e.getMessage().contains("algorithm RS256 is not accepted"), e.getMessage());
  }

  @Test
  void jwksWithAPrivateKeyOrAnUnreachableUrlIsAStartUpError(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("jwks.json");
    Files.writeString(file, "{\"keys\":[" + SigningKeys.generate("leak").toJSONString() + "]}");
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class, () -> verifier(file.toString(), Set.of("ES256")));
    assertTrue(e.getMessage().contains("private key"), e.getMessage());
    Files.delete(file);
    // Unreachable: it may answer later, which the launcher tells its supervisor (exit code 3).
    assertThrows(
        JwksUnavailableException.class,
        () -> verifier("http://127.0.0.1:1/jwks.json", Set.of("ES256")));
    assertThrows(IllegalArgumentException.class, () -> verifier(file.toString(), Set.of("HS256")));
  }

  @Test
  void eddsaTokensAreVerifiedWithEd25519Keys(@TempDir Path dir) throws Exception {
    KeyPair ed = HandJws.ed25519Keys();
    Path file = dir.resolve("jwks.json");
    Files.writeString(file, HandJws.jwks(HandJws.jwk(ed.getPublic(), "ed")));
    IdentityVerifier v = verifier(file.toString(), Set.of("EdDSA"));
    String token =
        HandJws.eddsa(AppBackend.header("EdDSA", "ed"), AppBackend.claims("tia"), ed.getPrivate());
    assertEquals("tia", v.verify(token));
    AuthException e =
        assertThrows(
            AuthException.class,
            () -> v.verify(HandJws.tampered(token, AppBackend.claims("mallory"))));
    assertTrue(e.getMessage().contains("bad identity token signature"), e.getMessage());
    String otherKey =
        HandJws.eddsa(
            AppBackend.header("EdDSA", "ed"),
            AppBackend.claims("tia"),
            HandJws.ed25519Keys().getPrivate());
    assertThrows(AuthException.class, () -> v.verify(otherKey));
    // A critical header parameter nobody here understands (RFC 7515 4.1.11): refused.
    String critical =
        HandJws.eddsa(
            "{\"alg\":\"EdDSA\",\"kid\":\"ed\",\"typ\":\"JWT\",\"crit\":[\"exp-x\"],"
                + "\"exp-x\":1}",
            AppBackend.claims("tia"),
            ed.getPrivate());
    assertThrows(AuthException.class, () -> v.verify(critical));
  }

  @Test
  void unknownKidReloadsTheJwksSoANewlyPublishedKeyIsAcceptedAfterwards() throws Exception {
    KeyPair next = HandJws.ecKeys();
    java.util.concurrent.atomic.AtomicReference<byte[]> served =
        new java.util.concurrent.atomic.AtomicReference<>(
            HandJws.jwks(HandJws.jwk(ec.getPublic(), "k1")).getBytes(StandardCharsets.UTF_8));
    HttpServer http = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    http.createContext(
        "/jwks.json",
        ex -> {
          byte[] body = served.get();
          ex.sendResponseHeaders(200, body.length);
          ex.getResponseBody().write(body);
          ex.close();
        });
    http.start();
    try {
      IdentityVerifier v =
          new IdentityVerifier(
              "http://127.0.0.1:" + http.getAddress().getPort() + "/jwks.json",
              Set.of("ES256"),
              AppBackend.ISSUER,
              AppBackend.AUDIENCE,
              Duration.ofSeconds(30),
              Duration.ZERO,
              Duration.ofHours(1),
              Clock.systemUTC());
      served.set(
          HandJws.jwks(HandJws.jwk(ec.getPublic(), "k1"), HandJws.jwk(next.getPublic(), "k2"))
              .getBytes(StandardCharsets.UTF_8));
      String token =
          HandJws.es256(
              AppBackend.header("ES256", "k2"), AppBackend.claims("uma"), next.getPrivate());
      assertThrows(AuthException.class, () -> v.verify(token));
      v.lastReload().get(10, java.util.concurrent.TimeUnit.SECONDS);
      assertEquals("uma", v.verify(token));
    } finally {
      http.stop(0);
    }
  }

  /** A JWKS server on 127.0.0.1 that counts its fetches. */
  private static final class JwksServer implements AutoCloseable {
    final java.util.concurrent.atomic.AtomicInteger fetches =
        new java.util.concurrent.atomic.AtomicInteger();
    final java.util.concurrent.atomic.AtomicReference<byte[]> served =
        new java.util.concurrent.atomic.AtomicReference<>();
    final HttpServer http;

    JwksServer(String jwks) throws java.io.IOException {
      served.set(jwks.getBytes(StandardCharsets.UTF_8));
      http = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
      http.createContext(
          "/jwks.json",
          ex -> {
            fetches.incrementAndGet();
            byte[] body = served.get();
            ex.sendResponseHeaders(200, body.length);
            ex.getResponseBody().write(body);
            ex.close();
          });
      http.start();
    }

    String url() {
      return "http://127.0.0.1:" + http.getAddress().getPort() + "/jwks.json";
    }

    @Override
    public void close() {
      http.stop(0);
    }
  }

  @Test
  void unknownKidsReloadAtMostOncePerMinimumInterval() throws Exception {
    io.handoff.server.MutableClock clock = new io.handoff.server.MutableClock();
    try (JwksServer jwks = new JwksServer(HandJws.jwks(HandJws.jwk(ec.getPublic(), "k1")))) {
      IdentityVerifier v =
          new IdentityVerifier(
              jwks.url(),
              Set.of("ES256"),
              AppBackend.ISSUER,
              AppBackend.AUDIENCE,
              Duration.ofSeconds(30),
              Duration.ofSeconds(30),
              Duration.ofHours(1),
              clock);
      assertEquals(1, jwks.fetches.get(), "loaded at start");
      for (int i = 0; i < 20; i++) {
        String unknown =
            HandJws.es256(
                AppBackend.header("ES256", "nope-" + i), AppBackend.claims("u"), ec.getPrivate());
        assertThrows(AuthException.class, () -> v.verify(unknown));
        v.lastReload().get(10, java.util.concurrent.TimeUnit.SECONDS);
        clock.advance(Duration.ofSeconds(1));
      }
      assertEquals(1, jwks.fetches.get(), "no reload within 30 s of the last load");
      clock.advance(Duration.ofSeconds(11));
      String unknown =
          HandJws.es256(
              AppBackend.header("ES256", "late"), AppBackend.claims("u"), ec.getPrivate());
      assertThrows(AuthException.class, () -> v.verify(unknown));
      v.lastReload().get(10, java.util.concurrent.TimeUnit.SECONDS);
      assertEquals(2, jwks.fetches.get(), "one reload once 30 s have passed");
    }
  }

  @Test
  void jkuAndJwkHeadersAreNeverFollowed() throws Exception {
    KeyPair attacker = HandJws.ecKeys();
    try (JwksServer trusted = new JwksServer(HandJws.jwks(HandJws.jwk(ec.getPublic(), "k1")));
        JwksServer evil = new JwksServer(HandJws.jwks(HandJws.jwk(attacker.getPublic(), "evil")))) {
      IdentityVerifier v = verifier(trusted.url(), Set.of("ES256"));
      String viaJku =
          HandJws.es256(
              "{\"alg\":\"ES256\",\"kid\":\"evil\",\"jku\":\"" + evil.url() + "\"}",
              AppBackend.claims("mallory"),
              attacker.getPrivate());
      AuthException e = assertThrows(AuthException.class, () -> v.verify(viaJku));
      assertTrue(e.getMessage().contains("unknown key id evil"), e.getMessage());
      String embedded =
          HandJws.es256(
              "{\"alg\":\"ES256\",\"kid\":\"k1\",\"jwk\":"
                  + HandJws.jwk(attacker.getPublic(), "k1")
                  + "}",
              AppBackend.claims("mallory"),
              attacker.getPrivate());
      e = assertThrows(AuthException.class, () -> v.verify(embedded));
      assertTrue(e.getMessage().contains("bad identity token signature"), e.getMessage());
      v.lastReload().get(10, java.util.concurrent.TimeUnit.SECONDS);
      assertEquals(0, evil.fetches.get(), "the jku URL was never fetched");
    }
  }
}
