package io.handoff.server.auth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.crypto.MACSigner;
import com.nimbusds.jose.jwk.ECKey;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import io.handoff.server.MutableClock;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Date;
import org.junit.jupiter.api.Test;

/**
 * {@link AccessTokenVerifier} remembers the tokens it verified, and a remembered token answers
 * exactly as a fresh verification would: refused once expired (after the clock skew), once its
 * signing key's grace period ended, and never for a token that differs in one character.
 */
class RememberedTokensTest {
  private static final String SECRET = "remembered-tokens-test-secret-of-32-bytes!";
  private static final Duration SKEW = Duration.ofSeconds(5);

  private final MutableClock clock = new MutableClock(1_800_000_000_000L);
  private final ECKey oldKey = SigningKeys.generate("k-old");
  private final ECKey newKey = SigningKeys.generate("k-new");

  private void at(long millis) {
    clock.advance(Duration.ofMillis(millis - clock.millis()));
  }

  private AccessTokens tokens(SigningKeys keys) {
    return new AccessTokens(keys, "handoff", Duration.ofMinutes(10), SKEW, clock);
  }

  private AccessTokenVerifier verifier(AccessTokens access) {
    return new AccessTokenVerifier(access, new Hs256TokenVerifier(SECRET, SKEW, clock));
  }

  private String development(String user, String device, long expMillis) throws Exception {
    SignedJWT jwt =
        new SignedJWT(
            new JWSHeader(JWSAlgorithm.HS256),
            new JWTClaimsSet.Builder()
                .subject(user)
                .claim("did", device)
                .issueTime(new Date(clock.millis()))
                .expirationTime(new Date(expMillis))
                .build());
    jwt.sign(new MACSigner(SECRET.getBytes(StandardCharsets.UTF_8)));
    return jwt.serialize();
  }

  @Test
  void aRememberedTokenIsRefusedOnceItAndTheSkewExpired() throws Exception {
    AccessTokens access = tokens(SigningKeys.of(newKey, null, 0));
    AccessTokenVerifier verifier = verifier(access);
    AccessTokens.Issued issued = access.mint("u", "phone", "s1");
    assertEquals("phone", verifier.verify(issued.token()).deviceId());
    at(issued.expiresAtMillis() - 1);
    assertEquals("phone", verifier.verify(issued.token()).deviceId());
    at(issued.expiresAtMillis() + SKEW.toMillis()); // Within the skew: still accepted.
    assertEquals("phone", verifier.verify(issued.token()).deviceId());
    at(issued.expiresAtMillis() + SKEW.toMillis() + 1);
    AuthException e = assertThrows(AuthException.class, () -> verifier.verify(issued.token()));
    assertTrue(e.getMessage().contains("expired"), e.getMessage());
  }

  @Test
  void aRememberedDevelopmentTokenIsRefusedOnceExpired() throws Exception {
    AccessTokenVerifier verifier = verifier(tokens(SigningKeys.of(newKey, null, 0)));
    long exp = clock.millis() + 60_000;
    String token = development("u", "tv", exp);
    assertEquals("tv", verifier.verify(token).deviceId());
    assertEquals("tv", verifier.verify(token).deviceId());
    at(exp + SKEW.toMillis() + 1);
    AuthException e = assertThrows(AuthException.class, () -> verifier.verify(token));
    assertTrue(e.getMessage().contains("expired"), e.getMessage());
  }

  @Test
  void aRememberedTokenOfTheRotatedOutKeyIsRefusedAfterItsGracePeriod() throws Exception {
    String before = tokens(SigningKeys.of(oldKey, null, 0)).mint("u", "d", "s").token();
    AccessTokenVerifier verifier =
        verifier(tokens(SigningKeys.of(newKey, oldKey, clock.millis() + 60_000)));
    assertEquals("u", verifier.verify(before).userId());
    assertEquals("u", verifier.verify(before).userId());
    clock.advance(Duration.ofMinutes(1));
    AuthException e = assertThrows(AuthException.class, () -> verifier.verify(before));
    assertTrue(e.getMessage().contains("unknown signing key id k-old"), e.getMessage());
  }

  @Test
  void aTokenThatDiffersFromARememberedOneIsVerifiedAfresh() throws Exception {
    AccessTokenVerifier verifier = verifier(tokens(SigningKeys.of(newKey, null, 0)));
    String token = development("u", "tv", clock.millis() + 60_000);
    assertEquals("u", verifier.verify(token).userId());
    String[] parts = token.split("\\.");
    String forged = development("someone-else", "tv", clock.millis() + 60_000).split("\\.")[1];
    AuthException e =
        assertThrows(
            AuthException.class, () -> verifier.verify(parts[0] + "." + forged + "." + parts[2]));
    assertTrue(e.getMessage().contains("signature"), e.getMessage());
  }

  @Test
  void aDifferentTokenWithTheSameCacheKeyCannotPassAsTheRememberedOne() throws Exception {
    // Every token's entry under one key: each lookup finds the last verified token's entry.
    AccessTokenVerifier verifier =
        new AccessTokenVerifier(
            tokens(SigningKeys.of(newKey, null, 0)),
            new Hs256TokenVerifier(SECRET, SKEW, clock),
            digest -> 42L);
    String mine = development("me", "tv", clock.millis() + 60_000);
    assertEquals("me", verifier.verify(mine).userId());
    String[] parts = mine.split("\\.");
    String forged =
        parts[0]
            + "."
            + development("someone-else", "tv", clock.millis() + 60_000).split("\\.")[1]
            + "."
            + parts[2];
    AuthException e = assertThrows(AuthException.class, () -> verifier.verify(forged));
    assertTrue(e.getMessage().contains("signature"), e.getMessage());
    String expired = development("me", "phone", clock.millis() - SKEW.toMillis() - 1);
    e = assertThrows(AuthException.class, () -> verifier.verify(expired));
    assertTrue(e.getMessage().contains("expired"), e.getMessage());
    // A valid token under the same key gets its own principal, never the remembered one's.
    String other = development("other", "laptop", clock.millis() + 60_000);
    assertEquals("laptop", verifier.verify(other).deviceId());
    assertEquals("tv", verifier.verify(mine).deviceId());
    assertEquals("other", verifier.verify(other).userId());
  }
}
