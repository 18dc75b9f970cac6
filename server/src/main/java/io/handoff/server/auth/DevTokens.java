package io.handoff.server.auth;

import com.nimbusds.jose.JOSEException;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.crypto.MACSigner;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.Date;

/** Development helpers: a random HS256 secret and tokens signed with it. */
public final class DevTokens {
  private DevTokens() {}

  /** 32 random bytes, base64url: a 43-character secret. */
  public static String randomSecret() {
    byte[] b = new byte[32];
    new SecureRandom().nextBytes(b);
    return Base64.getUrlEncoder().withoutPadding().encodeToString(b);
  }

  /** An HS256 token for {@code userId}/{@code deviceId} valid for {@code ttl}. */
  public static String mint(String secret, String userId, String deviceId, Duration ttl) {
    return mint(secret, userId, deviceId, ttl, Instant.now());
  }

  /** As {@link #mint(String, String, String, Duration)}, issued at {@code now}. */
  public static String mint(
      String secret, String userId, String deviceId, Duration ttl, Instant now) {
    JWTClaimsSet claims =
        new JWTClaimsSet.Builder()
            .subject(userId)
            .claim("did", deviceId)
            .issueTime(Date.from(now))
            .expirationTime(Date.from(now.plus(ttl)))
            .build();
    SignedJWT jwt = new SignedJWT(new JWSHeader(JWSAlgorithm.HS256), claims);
    try {
      jwt.sign(new MACSigner(secret.getBytes(StandardCharsets.UTF_8)));
    } catch (JOSEException e) {
      throw new IllegalArgumentException("cannot sign with this secret: " + e.getMessage(), e);
    }
    return jwt.serialize();
  }
}
