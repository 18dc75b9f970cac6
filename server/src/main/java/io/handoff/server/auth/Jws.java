package io.handoff.server.auth;

import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import java.text.ParseException;
import java.util.Date;
import java.util.List;
import java.util.Map;

/** Checks shared by every verifier: size, parsing, time claims, issuer, audience, ids. */
final class Jws {
  static final int MAX_TOKEN_CHARS = 4096;
  static final int MAX_ID_CHARS = 256;

  private Jws() {}

  static SignedJWT parse(String token, String what) throws AuthException {
    if (token == null || token.isEmpty()) {
      throw new AuthException("missing " + what);
    }
    if (token.length() > MAX_TOKEN_CHARS) {
      throw new AuthException(what + " longer than " + MAX_TOKEN_CHARS + " characters");
    }
    try {
      return SignedJWT.parse(token);
    } catch (ParseException e) {
      throw new AuthException(what + " is not a signed JWT: " + e.getMessage());
    }
  }

  /**
   * Claims whose ids must be JSON strings when present: the parser would turn a number into one.
   */
  private static final List<String> STRING_IDS = List.of("sub", "did", "sid");

  /**
   * The token's claims, refused when an id claim ({@code sub}, {@code did}, {@code sid}) is present
   * as anything but a JSON string: {@code "sub": 42} must not become the user "42".
   */
  static JWTClaimsSet claims(SignedJWT jwt) throws AuthException {
    Map<String, Object> raw = jwt.getPayload().toJSONObject();
    if (raw == null) {
      throw new AuthException("unreadable claims: the payload is not a JSON object");
    }
    for (String name : STRING_IDS) {
      Object v = raw.get(name);
      if (v != null && !(v instanceof String)) {
        throw new AuthException(
            "the " + name + " claim must be a JSON string, not " + jsonType(v) + " (" + v + ")");
      }
    }
    try {
      return jwt.getJWTClaimsSet();
    } catch (ParseException e) {
      throw new AuthException("unreadable claims: " + e.getMessage());
    }
  }

  private static String jsonType(Object v) {
    if (v instanceof Number) {
      return "a number";
    }
    if (v instanceof Boolean) {
      return "a boolean";
    }
    if (v instanceof List) {
      return "an array";
    }
    if (v instanceof Map) {
      return "an object";
    }
    return "a " + v.getClass().getSimpleName();
  }

  /** Checks exp (required), nbf and iat (optional) against {@code now} with {@code skew}. */
  static long checkTimes(JWTClaimsSet claims, long now, long skew) throws AuthException {
    Date exp = claims.getExpirationTime();
    if (exp == null) {
      throw new AuthException("token has no exp claim");
    }
    if (exp.getTime() + skew < now) {
      throw new AuthException("token expired at " + exp.toInstant());
    }
    Date nbf = claims.getNotBeforeTime();
    if (nbf != null && nbf.getTime() - skew > now) {
      throw new AuthException("token not valid before " + nbf.toInstant());
    }
    Date iat = claims.getIssueTime();
    if (iat != null && iat.getTime() - skew > now) {
      throw new AuthException("token issued in the future (" + iat.toInstant() + ")");
    }
    return exp.getTime();
  }

  static void checkIssuer(JWTClaimsSet claims, String issuer) throws AuthException {
    if (issuer != null && !issuer.equals(claims.getIssuer())) {
      throw new AuthException(
          "token issuer " + quoted(claims.getIssuer()) + " is not the expected " + quoted(issuer));
    }
  }

  static void checkAudience(JWTClaimsSet claims, String audience) throws AuthException {
    if (audience == null) {
      return;
    }
    List<String> aud = claims.getAudience();
    if (aud == null || !aud.contains(audience)) {
      throw new AuthException(
          "token audience "
              + (aud == null ? "(none)" : aud)
              + " does not include "
              + quoted(audience));
    }
  }

  static String id(JWTClaimsSet claims, String name, String meaning) throws AuthException {
    String v;
    try {
      v = claims.getStringClaim(name);
    } catch (ParseException e) {
      throw new AuthException(name + " claim must be a string");
    }
    if (v == null || v.isEmpty() || v.length() > MAX_ID_CHARS) {
      throw new AuthException(
          "token needs a " + name + " claim (" + meaning + ") of 1-" + MAX_ID_CHARS + " chars");
    }
    return v;
  }

  private static String quoted(String s) {
    return s == null ? "(none)" : "'" + s + "'";
  }
}
