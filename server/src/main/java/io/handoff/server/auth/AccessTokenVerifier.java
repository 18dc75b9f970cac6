package io.handoff.server.auth;

import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jwt.SignedJWT;

/**
 * What {@code /ws} and the {@code /v1/} API accept: the server's own ES256 access tokens, and the
 * HS256 development tokens signed with the configured secret. The header's {@code alg} only picks
 * which verifier runs; each verifier then allows exactly its one algorithm, so {@code none} and
 * algorithm confusion (an HS256 token "signed" with the public key) are refused. Thread-safe.
 */
public final class AccessTokenVerifier implements TokenVerifier {
  private final AccessTokens access;
  private final TokenVerifier development;

  public AccessTokenVerifier(AccessTokens access, TokenVerifier development) {
    this.access = access;
    this.development = development;
  }

  @Override
  public Principal verify(String token) throws AuthException {
    SignedJWT jwt = Jws.parse(token, "access token");
    JWSAlgorithm alg = jwt.getHeader().getAlgorithm();
    if (JWSAlgorithm.ES256.equals(alg)) {
      return access.verify(token);
    }
    if (JWSAlgorithm.HS256.equals(alg) && development != null) {
      return development.verify(token);
    }
    throw new AuthException("algorithm " + alg + " is not accepted");
  }
}
