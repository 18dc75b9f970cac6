package io.handoff.server.auth;

import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jwt.SignedJWT;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.function.ToLongFunction;

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
 * that verified is remembered, in a cache bounded to {@link #MAX_REMEMBERED} tokens. A remembered
 * token is accepted again without parsing only while it is strictly before its {@code exp} and, for
 * a server token, while its signing key is still accepted (the previous key's grace period ends on
 * time); anything else goes through the full verification, so expiry, clock skew and key rotation
 * answer exactly as without the cache. Revocation is not the verifier's: a server token's device
 * session is checked in the store at the upgrade and again at the resume, cache or not.
 *
 * <p>Each idle connection's token has an entry, so the entry is small: not the token's text (a few
 * hundred bytes) but the SHA-256 digest of the whole text (header, claims and signature: a changed
 * byte is another token), of which 64 bits place the entry (the table's key: see {@link
 * RememberedTokens}, about 40 bytes an entry) and 64 more must match the presented token's before
 * the entry answers for it. A token whose key is taken by another token's entry (the key is a hash:
 * two tokens may share one) finds the other's check bits and is verified afresh, so it gets its own
 * answer, never the other token's; to be answered from another token's entry a token would have to
 * match 128 bits of its SHA-256 digest, a second preimage no one can compute. {@code
 * RememberedTokensTest} makes every token share one key and shows that a different token still
 * cannot pass.
 */
public final class AccessTokenVerifier implements TokenVerifier {
  // One digest per thread: looking the algorithm up was a third of a remembered token's check,
  // and a reconnect storm checks a token per device.
  private static final ThreadLocal<MessageDigest> SHA256 =
      ThreadLocal.withInitial(
          () -> {
            try {
              return MessageDigest.getInstance("SHA-256");
            } catch (NoSuchAlgorithmException e) {
              throw new IllegalStateException("every Java platform has SHA-256", e);
            }
          });

  /** The most verified tokens remembered (32 to 48 bytes each). */
  public static final int MAX_REMEMBERED = 50_000;

  private final AccessTokens access;
  private final TokenVerifier development;
  // The table's key of a token's digest: its first 64 bits (tests give every token one key).
  private final ToLongFunction<byte[]> keyOf;
  // Tokens that verified: each one's principal and key id (null for a development token), under
  // its key, with bits 64 to 127 of its SHA-256 digest, which a token must match to be answered.
  private final RememberedTokens verified = new RememberedTokens(MAX_REMEMBERED);

  public AccessTokenVerifier(AccessTokens access, TokenVerifier development) {
    this(access, development, digest -> bits(digest, 0));
  }

  /** With {@code keyOf} placing each token's entry in the table by its digest (tests). */
  AccessTokenVerifier(
      AccessTokens access, TokenVerifier development, ToLongFunction<byte[]> keyOf) {
    this.access = access;
    this.development = development;
    this.keyOf = keyOf;
  }

  @Override
  public Principal verify(String token) throws AuthException {
    // Past the length limit the parse refuses it: no digest of an oversized text.
    byte[] digest = token == null || token.length() > Jws.MAX_TOKEN_CHARS ? null : sha256(token);
    if (digest != null) {
      RememberedTokens.Entry v = verified.get(keyOf.applyAsLong(digest), bits(digest, 8));
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
    verified.put(keyOf.applyAsLong(digest), bits(digest, 8), p, kid, access.clock().millis());
    return p;
  }

  private static byte[] sha256(String token) {
    MessageDigest sha = SHA256.get();
    sha.reset();
    return sha.digest(token.getBytes(StandardCharsets.UTF_8));
  }

  /** The 64 bits of {@code digest} from byte {@code offset}, big-endian. */
  private static long bits(byte[] digest, int offset) {
    long v = 0;
    for (int i = offset; i < offset + 8; i++) {
      v = (v << 8) | (digest[i] & 0xff);
    }
    return v;
  }
}
