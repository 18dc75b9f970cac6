package io.handoff.server.auth;

import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import io.handoff.protocol.Durations;
import java.text.ParseException;
import java.time.Duration;
import java.util.Date;
import java.util.List;
import java.util.Locale;
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

  /**
   * Checks exp (required), nbf and iat (optional) against {@code now} with {@code skew}: exp must
   * not have passed, nor lie more than {@code maxLifetime} ahead (an exp in milliseconds, read as
   * seconds, lies some 56,000 years ahead and would never expire); nbf and iat must not be ahead.
   */
  static long checkTimes(JWTClaimsSet claims, long now, long skew, long maxLifetime)
      throws AuthException {
    Date exp = claims.getExpirationTime();
    if (exp == null) {
      throw new AuthException("token has no exp claim");
    }
    if (exp.getTime() + skew < now) {
      throw new AuthException("token expired at " + exp.toInstant());
    }
    if (exp.getTime() - now > maxLifetime + skew) {
      throw new AuthException(tooFarAhead(exp.getTime(), now, maxLifetime));
    }
    Date nbf = claims.getNotBeforeTime();
    if (nbf != null && nbf.getTime() - skew > now) {
      throw new AuthException("token not valid before " + nbf.toInstant());
    }
    Date iat = claims.getIssueTime();
    if (iat != null && iat.getTime() - skew > now) {
      throw new AuthException(
          "token issued in the future ("
              + iat.toInstant()
              + ", "
              + away(iat.getTime() - now)
              + " ahead of this node's clock, more than the "
              + skew / 1000
              + " s of clock skew allowed): iat is in seconds since the epoch; check the issuer's"
              + " clock");
    }
    return exp.getTime();
  }

  // Past this many seconds since the epoch (the year 5138) an exp is most likely milliseconds.
  private static final long SECONDS_LOOK_LIKE_MILLIS = 100_000_000_000L;

  private static String tooFarAhead(long exp, long now, long maxLifetime) {
    String lifetime = Durations.format(Duration.ofMillis(maxLifetime));
    if (exp / 1000 >= SECONDS_LOOK_LIKE_MILLIS) {
      return "token exp is "
          + away(exp - now)
          + " away: is it in milliseconds? exp is in seconds since the epoch (a JWT NumericDate);"
          + " this node accepts tokens that expire within "
          + lifetime;
    }
    return "token exp is "
        + away(exp - now)
        + " away, more than the "
        + lifetime
        + " this node accepts (--max-token-lifetime): mint tokens that live at most "
        + lifetime
        + ", or raise --max-token-lifetime";
  }

  /** A time ahead, rounded in its largest unit: "56,412 years", "2 days", "25 hours", "90 s". */
  private static String away(long millis) {
    double seconds = millis / 1000.0;
    if (seconds >= 2 * YEAR) {
      return String.format(Locale.ROOT, "%,d years", Math.round(seconds / YEAR));
    }
    if (seconds >= 36 * 3600) {
      return String.format(Locale.ROOT, "%,d days", Math.round(seconds / 86_400));
    }
    if (seconds >= 90 * 60) {
      return Math.round(seconds / 3600) + " hours";
    }
    if (seconds >= 90) {
      return Math.round(seconds / 60) + " minutes";
    }
    return Math.round(seconds) + " s";
  }

  private static final double YEAR = 365.25 * 86_400;

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
