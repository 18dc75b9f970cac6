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
import java.util.Date;

/**
 * Verifies HS256 JWTs signed with the development/test secret (nimbus-jose-jwt). Only {@code HS256}
 * is accepted (so {@code alg: none} and algorithm confusion are refused); {@code sub}, {@code did}
 * and {@code exp} are required; {@code exp} and {@code nbf} are checked with a bounded clock skew.
 */
public final class Hs256TokenVerifier implements TokenVerifier {
  private static final int MAX_TOKEN_CHARS = 4096;
  private static final int MAX_ID_CHARS = 256;

  private final MACVerifier verifier;
  private final Clock clock;
  private final long skewMillis;

  public Hs256TokenVerifier(String secret, Duration clockSkew, Clock clock) {
    try {
      this.verifier = new MACVerifier(secret.getBytes(StandardCharsets.UTF_8));
    } catch (JOSEException e) {
      throw new IllegalArgumentException("unusable HS256 secret: " + e.getMessage(), e);
    }
    this.clock = clock;
    this.skewMillis = clockSkew.toMillis();
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
    long now = clock.millis();
    Date exp = claims.getExpirationTime();
    if (exp == null) {
      throw new AuthException("token has no exp claim");
    }
    if (exp.getTime() + skewMillis < now) {
      throw new AuthException("token expired at " + exp.toInstant());
    }
    Date nbf = claims.getNotBeforeTime();
    if (nbf != null && nbf.getTime() - skewMillis > now) {
      throw new AuthException("token not valid before " + nbf.toInstant());
    }
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
    return new Principal(sub, did, exp.getTime());
  }
}
