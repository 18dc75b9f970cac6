package io.handoff.loadtest;

import com.nimbusds.jose.JOSEException;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.crypto.MACSigner;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;

/**
 * Mints HS256 development tokens (claims {@code sub} = user, {@code did} = device, {@code iat},
 * {@code exp}) with the server's secret, as {@code handoff-server.jar token} does. Thread-safe.
 */
final class Tokens {
  private final MACSigner signer;

  /**
   * @throws IllegalArgumentException if the secret is shorter than 32 bytes (HS256 needs 256 bits)
   */
  Tokens(String secret) {
    byte[] key = secret.getBytes(StandardCharsets.UTF_8);
    if (key.length < 32) {
      throw new IllegalArgumentException(
          "--jwt-secret must be at least 32 bytes (the server refuses shorter ones), was "
              + key.length);
    }
    try {
      this.signer = new MACSigner(key);
    } catch (JOSEException e) {
      throw new IllegalArgumentException("cannot sign with this secret: " + e.getMessage(), e);
    }
  }

  /** A token for {@code user}'s device {@code device}, valid from now for {@code ttl}. */
  String mint(String user, String device, Duration ttl) {
    Instant now = Instant.now();
    JWTClaimsSet claims =
        new JWTClaimsSet.Builder()
            .subject(user)
            .claim("did", device)
            .issueTime(Date.from(now))
            .expirationTime(Date.from(now.plus(ttl)))
            .build();
    SignedJWT jwt = new SignedJWT(new JWSHeader(JWSAlgorithm.HS256), claims);
    try {
      jwt.sign(signer);
    } catch (JOSEException e) {
      throw new IllegalStateException("cannot sign a token: " + e.getMessage(), e);
    }
    return jwt.serialize();
  }
}
