package io.handoff.server.auth;

import com.nimbusds.jose.JOSEException;
import com.nimbusds.jose.JOSEObjectType;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.crypto.ECDSASigner;
import com.nimbusds.jose.crypto.ECDSAVerifier;
import com.nimbusds.jose.jwk.ECKey;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import java.time.Clock;
import java.time.Duration;
import java.util.Date;
import java.util.UUID;

/**
 * The server's access tokens: ES256 JWTs signed with the current {@link SigningKeys} key (header
 * {@code kid}, {@code typ: at+jwt}), claims {@code sub} (user), {@code did} (device), {@code sid}
 * (device session), {@code iss}, {@code iat}, {@code exp}, {@code jti}. {@link #verify} accepts
 * only ES256 tokens whose kid is the current key or the previous one within its grace period.
 * Whether the session is still alive is the caller's check (it needs the store). Thread-safe.
 */
public final class AccessTokens implements TokenVerifier {
  private final SigningKeys keys;
  private final String issuer;
  private final Duration ttl;
  private final long skewMillis;
  private final long maxLifetimeMillis;
  private final Clock clock;
  private final ECDSASigner signer;

  /** The node's tokens as {@code tokens} configures them: issuer, lifetime and the longest. */
  public AccessTokens(SigningKeys keys, TokenConfig tokens, Duration skew, Clock clock) {
    this(keys, tokens.issuer(), tokens.accessTokenTtl(), skew, tokens.maxTokenLifetime(), clock);
  }

  /** With the default longest lifetime ({@link TokenConfig#DEFAULT_MAX_TOKEN_LIFETIME}). */
  public AccessTokens(SigningKeys keys, String issuer, Duration ttl, Duration skew, Clock clock) {
    this(keys, issuer, ttl, skew, TokenConfig.DEFAULT_MAX_TOKEN_LIFETIME, clock);
  }

  AccessTokens(
      SigningKeys keys,
      String issuer,
      Duration ttl,
      Duration skew,
      Duration maxLifetime,
      Clock clock) {
    this.keys = keys;
    this.issuer = issuer;
    this.ttl = ttl;
    this.skewMillis = skew.toMillis();
    this.maxLifetimeMillis = maxLifetime.toMillis();
    this.clock = clock;
    try {
      this.signer = new ECDSASigner(keys.current());
    } catch (JOSEException e) {
      throw new IllegalArgumentException("unusable signing key: " + e.getMessage(), e);
    }
  }

  /** A signed access token and when it expires. */
  public record Issued(String token, long expiresAtMillis) {}

  public Issued mint(String userId, String deviceId, String sessionId) {
    long now = clock.millis();
    // JWT times are whole seconds: round down here so that the expiry we report is the token's.
    long exp = (now + ttl.toMillis()) / 1000 * 1000;
    JWTClaimsSet claims =
        new JWTClaimsSet.Builder()
            .issuer(issuer)
            .subject(userId)
            .claim("did", deviceId)
            .claim("sid", sessionId)
            .issueTime(new Date(now))
            .expirationTime(new Date(exp))
            .jwtID(UUID.randomUUID().toString())
            .build();
    SignedJWT jwt =
        new SignedJWT(
            new JWSHeader.Builder(JWSAlgorithm.ES256)
                .keyID(keys.current().getKeyID())
                .type(new JOSEObjectType("at+jwt"))
                .build(),
            claims);
    try {
      jwt.sign(signer);
    } catch (JOSEException e) {
      throw new IllegalStateException("cannot sign an access token", e);
    }
    return new Issued(jwt.serialize(), exp);
  }

  Clock clock() {
    return clock;
  }

  /** Whether a token signed with key {@code kid} is still verifiable at {@code nowMillis}. */
  boolean keyAccepted(String kid, long nowMillis) {
    return keys.verificationKey(kid, nowMillis) != null;
  }

  public Duration ttl() {
    return ttl;
  }

  public SigningKeys keys() {
    return keys;
  }

  @Override
  public Principal verify(String token) throws AuthException {
    SignedJWT jwt = Jws.parse(token, "access token");
    JWSHeader header = jwt.getHeader();
    if (!JWSAlgorithm.ES256.equals(header.getAlgorithm())) {
      throw new AuthException("algorithm " + header.getAlgorithm() + " is not accepted");
    }
    long now = clock.millis();
    ECKey key = keys.verificationKey(header.getKeyID(), now);
    if (key == null) {
      throw new AuthException("unknown signing key id " + header.getKeyID());
    }
    try {
      if (!jwt.verify(new ECDSAVerifier(key.toECPublicKey()))) {
        throw new AuthException("bad token signature");
      }
    } catch (JOSEException e) {
      throw new AuthException("token signature could not be checked: " + e.getMessage());
    }
    JWTClaimsSet claims = Jws.claims(jwt);
    long exp = Jws.checkTimes(claims, now, skewMillis, maxLifetimeMillis);
    Jws.checkIssuer(claims, issuer);
    String sub = claims.getSubject();
    if (sub == null || sub.isEmpty() || sub.length() > Jws.MAX_ID_CHARS) {
      throw new AuthException(
          "token needs a sub claim (the user) of 1-" + Jws.MAX_ID_CHARS + " chars");
    }
    String did = Jws.id(claims, "did", "the device");
    String sid = Jws.id(claims, "sid", "the device session");
    return new Principal(sub, did, exp, sid);
  }
}
