package io.handoff.server.auth;

import com.nimbusds.jose.JOSEException;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.crypto.MACVerifier;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import java.nio.charset.StandardCharsets;
import java.text.ParseException;
import java.time.Clock;
import java.time.Duration;

/**
 * Verifies HS256 JWTs signed with the development/test secret (nimbus-jose-jwt). Only {@code HS256}
 * is accepted (so {@code alg: none} and algorithm confusion are refused); {@code sub}, {@code did}
 * and {@code exp} are required; {@code exp}, {@code nbf} and {@code iat} are checked with a bounded
 * clock skew, and an {@code exp} further ahead than the longest lifetime is refused.
 */
public final class Hs256TokenVerifier implements TokenVerifier {
  private static final int MAX_TOKEN_CHARS = 4096;
  private static final int MAX_ID_CHARS = 256;

  private final MACVerifier verifier;
  private final Clock clock;
  private final long skewMillis;
  private final long maxLifetimeMillis;

  /** With the default longest lifetime ({@link TokenConfig#DEFAULT_MAX_TOKEN_LIFETIME}). */
  public Hs256TokenVerifier(String secret, Duration clockSkew, Clock clock) {
    this(secret, clockSkew, TokenConfig.DEFAULT_MAX_TOKEN_LIFETIME, clock);
  }

  /** Refusing tokens whose {@code exp} lies more than {@code maxLifetime} (plus the skew) ahead. */
  public Hs256TokenVerifier(String secret, Duration clockSkew, Duration maxLifetime, Clock clock) {
    try {
      this.verifier = new MACVerifier(secret.getBytes(StandardCharsets.UTF_8));
    } catch (JOSEException e) {
      throw new IllegalArgumentException("unusable HS256 secret: " + e.getMessage(), e);
    }
    this.clock = clock;
    this.skewMillis = clockSkew.toMillis();
    this.maxLifetimeMillis = maxLifetime.toMillis();
  }

  @Override
  public Principal verify(String token) throws AuthException {
    if (token == null || token.isEmpty()) {
      throw new AuthException("missing access token");
    }
    if (token.length() > MAX_TOKEN_CHARS) {
      throw new AuthException("access token longer than " + MAX_TOKEN_CHARS + " characters");
    }
    SignedJWT jwt;
    try {
      jwt = SignedJWT.parse(token);
    } catch (ParseException e) {
      throw new AuthException("not a signed JWT: " + e.getMessage());
    }
    JWSHeader header = jwt.getHeader();
    if (!JWSAlgorithm.HS256.equals(header.getAlgorithm())) {
      throw new AuthException("algorithm " + header.getAlgorithm() + " is not accepted");
    }
    try {
      if (!jwt.verify(verifier)) {
        throw new AuthException("bad token signature");
      }
    } catch (JOSEException e) {
      throw new AuthException("token signature could not be checked: " + e.getMessage());
    }
    JWTClaimsSet claims = Jws.claims(jwt);
    long exp = Jws.checkTimes(claims, clock.millis(), skewMillis, maxLifetimeMillis);
    String sub = claims.getSubject();
    if (sub == null || sub.isEmpty() || sub.length() > MAX_ID_CHARS) {
      throw new AuthException("token needs a sub claim (the user) of 1-" + MAX_ID_CHARS + " chars");
    }
    String did;
    try {
      did = claims.getStringClaim("did");
    } catch (ParseException e) {
      throw new AuthException("did claim must be a string");
    }
    if (did == null || did.isEmpty() || did.length() > MAX_ID_CHARS) {
      throw new AuthException(
          "token needs a did claim (the device) of 1-" + MAX_ID_CHARS + " chars");
    }
    return new Principal(sub, did, exp);
  }
}
