package io.handoff.server.auth;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jwt.SignedJWT;
import java.time.Duration;

/**
 * What {@code /ws} and the {@code /v1/} API accept: the server's own ES256 access tokens, and the
 * HS256 development tokens signed with the configured secret. The header's {@code alg} only picks
 * which verifier runs; each verifier then allows exactly its one algorithm, so {@code none} and
 * algorithm confusion (an HS256 token "signed" with the public key) are refused. Thread-safe.
 *
 * <h2>Verified tokens are remembered</h2>
 *
 * A device presents the same token on every reconnect until it refreshes it, and parsing the JSON
 * and checking the signature was about a tenth of the server's CPU in a reconnect storm. So a token
 * that verified is remembered, by its whole text (header, claims and signature: a changed byte is
 * another token), in a cache bounded to {@link #MAX_REMEMBERED} tokens. A remembered token is
 * accepted again without parsing only while it is strictly before its {@code exp} and, for a server
 * token, while its signing key is still accepted (the previous key's grace period ends on time);
 * anything else goes through the full verification, so expiry, clock skew and key rotation answer
 * exactly as without the cache. Revocation is not the verifier's: a server token's device session
 * is checked in the store at the upgrade and again at the resume, cache or not.
 */
public final class AccessTokenVerifier implements TokenVerifier {
  /** The most verified tokens remembered (about 400 bytes each). */
  public static final int MAX_REMEMBERED = 50_000;

  private final AccessTokens access;
  private final TokenVerifier development;
  private final Cache<String, Verified> verified =
      Caffeine.newBuilder()
          .maximumSize(MAX_REMEMBERED)
          .expireAfterWrite(Duration.ofHours(1))
          .build();

  /** A token that verified: its principal, and its key id (null for a development token). */
  private record Verified(Principal principal, String kid) {}

  public AccessTokenVerifier(AccessTokens access, TokenVerifier development) {
    this.access = access;
    this.development = development;
  }

  @Override
  public Principal verify(String token) throws AuthException {
    if (token != null) {
      Verified v = verified.getIfPresent(token);
      if (v != null) {
        long now = access.clock().millis();
        if (now < v.principal().expiresAtMillis()
            && (v.kid() == null || access.keyAccepted(v.kid(), now))) {
          return v.principal();
        }
      }
    }
    SignedJWT jwt = Jws.parse(token, "access token");
    JWSAlgorithm alg = jwt.getHeader().getAlgorithm();
    Principal p;
    String kid = null;
    if (JWSAlgorithm.ES256.equals(alg)) {
      p = access.verify(token);
      kid = jwt.getHeader().getKeyID();
    } else if (JWSAlgorithm.HS256.equals(alg) && development != null) {
      p = development.verify(token);
    } else {
      throw new AuthException("algorithm " + alg + " is not accepted");
    }
    verified.put(token, new Verified(p, kid));
    return p;
  }
}
