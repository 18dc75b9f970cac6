package io.handoff.server.auth;

import com.nimbusds.jose.JOSEException;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.JWSVerifier;
import com.nimbusds.jose.KeySourceException;
import com.nimbusds.jose.crypto.ECDSAVerifier;
import com.nimbusds.jose.crypto.RSASSAVerifier;
import com.nimbusds.jose.jwk.ECKey;
import com.nimbusds.jose.jwk.JWK;
import com.nimbusds.jose.jwk.JWKSet;
import com.nimbusds.jose.jwk.KeyUse;
import com.nimbusds.jose.jwk.OctetKeyPair;
import com.nimbusds.jose.jwk.RSAKey;
import com.nimbusds.jose.jwk.source.JWKSetBasedJWKSource;
import com.nimbusds.jose.jwk.source.JWKSetCacheRefreshEvaluator;
import com.nimbusds.jose.jwk.source.JWKSetParseException;
import com.nimbusds.jose.jwk.source.JWKSetSource;
import com.nimbusds.jose.jwk.source.JWKSetUnavailableException;
import com.nimbusds.jose.jwk.source.JWKSourceBuilder;
import com.nimbusds.jose.jwk.source.URLBasedJWKSetSource;
import com.nimbusds.jose.proc.SecurityContext;
import com.nimbusds.jose.util.DefaultResourceRetriever;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.net.MalformedURLException;
import java.net.URI;
import java.net.URL;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Verifies identity tokens issued by the app's backend, the proof a device presents to sign in.
 * Keys come from a JWKS document (a file, or an https/http URL); the token's {@code kid} picks the
 * key. Only the configured algorithms (of ES256, RS256 and EdDSA with Ed25519) are accepted, and a
 * key is only used with the algorithm of its type; {@code iss} and {@code aud} must match when
 * configured; {@code exp} is required and {@code exp}, {@code nbf}, {@code iat} are checked with a
 * bounded clock skew, and an {@code exp} further ahead than the longest token lifetime is refused.
 *
 * <p>Verification never blocks: it uses the key set last loaded. The set is loaded at start (which
 * fails if it cannot be: {@link JwksUnavailableException} when a URL gave no document, which may
 * pass by itself, else {@link IllegalArgumentException}) and reloaded in the background at most
 * once per {@code minRefresh}, when a token names an unknown kid, and at least once per {@code
 * maxAge}. Fetching, caching and rate limiting are nimbus's JWK set source chain ({@link
 * JWKSourceBuilder}), asked from a background thread with this verifier's clock. Keys come only
 * from the configured JWKS: a token's {@code jku} and {@code jwk} headers are never followed.
 * Thread-safe.
 */
public final class IdentityVerifier {
  private static final Logger log = LoggerFactory.getLogger(IdentityVerifier.class);
  private static final int MAX_JWKS_BYTES = 256 * 1024;
  private static final Duration FETCH_TIMEOUT = Duration.ofSeconds(5);

  private final String source;
  private final Set<JWSAlgorithm> algorithms;
  private final String issuer;
  private final String audience;
  private final long skewMillis;
  private final long maxLifetimeMillis;
  private final Clock clock;
  private final long minRefreshMillis;
  private final long maxAgeMillis;
  private final JWKSetSource<SecurityContext> jwks;
  private final AtomicBoolean refreshing = new AtomicBoolean();
  // Completes when the background reload started last has finished (for tests).
  private volatile CompletableFuture<Void> lastReload = CompletableFuture.completedFuture(null);
  private volatile JWKSet keys;
  private volatile long loadedAt;

  /** The identity tokens {@code tokens} configures ({@link TokenConfig#identityJwks()} set). */
  public IdentityVerifier(TokenConfig tokens, Duration skew, Clock clock) {
    this(
        tokens.identityJwks(),
        tokens.identityAlgorithms(),
        tokens.identityIssuer(),
        tokens.identityAudience(),
        skew,
        tokens.maxTokenLifetime(),
        tokens.jwksMinRefresh(),
        tokens.jwksMaxAge(),
        clock);
  }

  /** With the default longest lifetime ({@link TokenConfig#DEFAULT_MAX_TOKEN_LIFETIME}). */
  public IdentityVerifier(
      String source,
      Set<String> algorithms,
      String issuer,
      String audience,
      Duration skew,
      Duration minRefresh,
      Duration maxAge,
      Clock clock) {
    this(
        source,
        algorithms,
        issuer,
        audience,
        skew,
        TokenConfig.DEFAULT_MAX_TOKEN_LIFETIME,
        minRefresh,
        maxAge,
        clock);
  }

  IdentityVerifier(
      String source,
      Set<String> algorithms,
      String issuer,
      String audience,
      Duration skew,
      Duration maxLifetime,
      Duration minRefresh,
      Duration maxAge,
      Clock clock) {
    this.source = source;
    this.algorithms =
        algorithms.stream().map(JWSAlgorithm::parse).collect(Collectors.toUnmodifiableSet());
    for (JWSAlgorithm a : this.algorithms) {
      if (!a.equals(JWSAlgorithm.ES256)
          && !a.equals(JWSAlgorithm.RS256)
          && !a.equals(JWSAlgorithm.EdDSA)) {
        throw new IllegalArgumentException(
            "identity token algorithm " + a + " is not supported (ES256, RS256, EdDSA)");
      }
    }
    this.issuer = issuer;
    this.audience = audience;
    this.skewMillis = skew.toMillis();
    this.maxLifetimeMillis = maxLifetime.toMillis();
    this.clock = clock;
    this.minRefreshMillis = minRefresh.toMillis();
    this.maxAgeMillis = maxAge.toMillis();
    // nimbus caches the set for maxAge and lets a reload through at most once per minRefresh; the
    // time it compares is this verifier's clock, passed on every call.
    JWKSourceBuilder<SecurityContext> builder =
        JWKSourceBuilder.create(origin(source))
            .cache(Math.max(1, maxAgeMillis), FETCH_TIMEOUT.toMillis())
            .refreshAheadCache(false)
            .retrying(false)
            .outageTolerant(false);
    builder =
        minRefreshMillis > 0 ? builder.rateLimited(minRefreshMillis) : builder.rateLimited(false);
    this.jwks = ((JWKSetBasedJWKSource<SecurityContext>) builder.build()).getJWKSetSource();
    try {
      this.keys = load(JWKSetCacheRefreshEvaluator.noRefresh());
    } catch (KeySourceException e) {
      String why = "cannot load the JWKS (--identity-jwks) from " + source + ": " + reason(e);
      // A document that came but is no key set is the URL's mistake, not an outage.
      if (isUrl(source)
          && e instanceof JWKSetUnavailableException
          && !(e instanceof JWKSetParseException)) {
        throw new JwksUnavailableException(why, e);
      }
      throw new IllegalArgumentException(why, e);
    }
    this.loadedAt = clock.millis();
  }

  /** The verified user id ({@code sub}) of an identity token. */
  public String verify(String token) throws AuthException {
    SignedJWT jwt = Jws.parse(token, "identity token");
    JWSHeader header = jwt.getHeader();
    JWSAlgorithm alg = header.getAlgorithm();
    if (!algorithms.contains(alg)) {
      throw new AuthException("identity token algorithm " + alg + " is not accepted " + algorithms);
    }
    long now = clock.millis();
    if (now - loadedAt > maxAgeMillis) {
      refreshInBackground(now);
    }
    JWK jwk = find(header.getKeyID());
    if (jwk == null) {
      refreshInBackground(now);
      throw new AuthException("unknown key id " + header.getKeyID() + " for identity tokens");
    }
    if (jwk.getKeyUse() != null && !KeyUse.SIGNATURE.equals(jwk.getKeyUse())) {
      throw new AuthException("key " + jwk.getKeyID() + " is not a signing key");
    }
    if (jwk.getAlgorithm() != null && !jwk.getAlgorithm().equals(alg)) {
      throw new AuthException(
          "key " + jwk.getKeyID() + " is for " + jwk.getAlgorithm() + ", not " + alg);
    }
    try {
      JWSVerifier v;
      if (alg.equals(JWSAlgorithm.ES256) && jwk instanceof ECKey ec) {
        v = new ECDSAVerifier(ec.toECPublicKey());
      } else if (alg.equals(JWSAlgorithm.RS256) && jwk instanceof RSAKey rsa) {
        v = new RSASSAVerifier(rsa.toRSAPublicKey());
      } else if (alg.equals(JWSAlgorithm.EdDSA) && jwk instanceof OctetKeyPair okp) {
        v = new Ed25519JdkVerifier(okp);
      } else {
        throw new AuthException("key " + jwk.getKeyID() + " cannot verify " + alg);
      }
      if (!jwt.verify(v)) {
        throw new AuthException("bad identity token signature");
      }
    } catch (JOSEException e) {
      throw new AuthException("identity token signature could not be checked: " + e.getMessage());
    }
    JWTClaimsSet claims = Jws.claims(jwt);
    Jws.checkTimes(claims, now, skewMillis, maxLifetimeMillis);
    Jws.checkIssuer(claims, issuer);
    Jws.checkAudience(claims, audience);
    String sub = claims.getSubject();
    if (sub == null || sub.isEmpty() || sub.length() > Jws.MAX_ID_CHARS) {
      throw new AuthException(
          "identity token needs a sub claim (the user) of 1-" + Jws.MAX_ID_CHARS + " chars");
    }
    return sub;
  }

  /** The background reload started last; completed if none is under way. */
  CompletableFuture<Void> lastReload() {
    return lastReload;
  }

  private JWK find(String kid) {
    JWKSet set = keys;
    if (kid == null) {
      return set.getKeys().size() == 1 ? set.getKeys().get(0) : null;
    }
    return set.getKeyByKeyId(kid);
  }

  private void refreshInBackground(long now) {
    if (now - loadedAt < minRefreshMillis || !refreshing.compareAndSet(false, true)) {
      return;
    }
    CompletableFuture<Void> done = new CompletableFuture<>();
    lastReload = done;
    Thread t =
        new Thread(
            () -> {
              try {
                keys = load(JWKSetCacheRefreshEvaluator.referenceComparison(keys));
                log.info("reloaded identity JWKS from {} ({} keys)", source, keys.getKeys().size());
              } catch (KeySourceException | RuntimeException e) {
                log.warn("cannot reload identity JWKS from {}: {}", source, e.toString());
              } finally {
                loadedAt = clock.millis();
                refreshing.set(false);
                done.complete(null);
              }
            },
            "handoff-jwks-refresh");
    t.setDaemon(true);
    t.start();
  }

  /** Loads the set through the nimbus source chain on this verifier's clock. */
  private JWKSet load(JWKSetCacheRefreshEvaluator refresh) throws KeySourceException {
    return jwks.getJWKSet(refresh, clock.millis(), null);
  }

  /**
   * A JWKS document from a file or an http(s) URL, fetched by nimbus's retriever (timeouts and a
   * size limit), and refused when it holds a private key.
   */
  private static JWKSetSource<SecurityContext> origin(String source) {
    URL url;
    try {
      url = isUrl(source) ? URI.create(source).toURL() : Path.of(source).toUri().toURL();
    } catch (MalformedURLException | IllegalArgumentException e) {
      throw new IllegalArgumentException("the JWKS location " + source + " is not a URL or file");
    }
    int timeout = (int) FETCH_TIMEOUT.toMillis();
    URLBasedJWKSetSource<SecurityContext> fetched =
        new URLBasedJWKSetSource<>(
            url, new DefaultResourceRetriever(timeout, timeout, MAX_JWKS_BYTES));
    return new JWKSetSource<>() {
      @Override
      public JWKSet getJWKSet(
          JWKSetCacheRefreshEvaluator refresh, long now, SecurityContext context)
          throws KeySourceException {
        JWKSet set = fetched.getJWKSet(refresh, now, context);
        for (JWK k : set.getKeys()) {
          if (k.isPrivate()) {
            throw new KeySourceException(
                "the JWKS holds a private key (" + k.getKeyID() + "); publish public keys only");
          }
        }
        return set;
      }

      @Override
      public void close() throws IOException {
        fetched.close();
      }
    };
  }

  /** Why a load failed; a 404 or 410, which the JDK reports as the URL alone, said in words. */
  private static String reason(KeySourceException e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof FileNotFoundException && t.getMessage() != null) {
        return t.getMessage().startsWith("http")
            ? "the server answered 404 Not Found (or 410 Gone)"
            : "there is no such file";
      }
    }
    return e.getMessage();
  }

  private static boolean isUrl(String s) {
    return s.startsWith("https://") || s.startsWith("http://");
  }
}
