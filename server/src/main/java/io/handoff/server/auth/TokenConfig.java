package io.handoff.server.auth;

import java.time.Duration;
import java.util.Set;

/**
 * How the node signs devices in and issues tokens: where identity tokens' keys come from and what
 * they must say, the node's own signing keys, and the lifetimes. Immutable; built with {@link
 * #builder()}. Without {@link #identityJwks()} sign-in ({@code POST /v1/sessions}) is disabled.
 */
public final class TokenConfig {
  public static final Set<String> DEFAULT_IDENTITY_ALGORITHMS = Set.of("ES256", "RS256");
  public static final String DEFAULT_ISSUER = "handoff";
  public static final Duration DEFAULT_ACCESS_TOKEN_TTL = Duration.ofMinutes(10);

  /**
   * The longest a token may still have to live when it is checked: long enough for the 24-hour
   * tokens {@code handoff-server token} mints by default, far too short for an {@code exp} written
   * in milliseconds (read as seconds, some 56,000 years ahead).
   */
  public static final Duration DEFAULT_MAX_TOKEN_LIFETIME = Duration.ofHours(24);

  public static final Duration DEFAULT_EXPIRY_NOTICE = Duration.ofMinutes(1);
  public static final Duration DEFAULT_REFRESH_INACTIVITY = Duration.ofDays(30);
  public static final Duration DEFAULT_PREVIOUS_KEY_GRACE = Duration.ofHours(1);
  public static final Duration DEFAULT_REFRESH_REUSE_INTERVAL = Duration.ofSeconds(5);
  public static final int DEFAULT_SIGN_IN_BURST = 10;
  public static final Duration DEFAULT_SIGN_IN_BURST_WINDOW = Duration.ofMinutes(1);
  public static final Duration DEFAULT_JWKS_MIN_REFRESH = Duration.ofSeconds(30);
  public static final Duration DEFAULT_JWKS_MAX_AGE = Duration.ofHours(1);

  private final String identityJwks;
  private final Set<String> identityAlgorithms;
  private final String identityIssuer;
  private final String identityAudience;
  private final SigningKeys signingKeys;
  private final String issuer;
  private final Duration accessTokenTtl;
  private final Duration maxTokenLifetime;
  private final Duration expiryNotice;
  private final Duration refreshInactivity;
  private final Duration refreshReuseInterval;
  private final int signInBurst;
  private final Duration signInBurstWindow;
  private final Duration jwksMinRefresh;
  private final Duration jwksMaxAge;

  private TokenConfig(Builder b) {
    this.identityJwks = b.identityJwks;
    this.identityAlgorithms = b.identityAlgorithms;
    this.identityIssuer = b.identityIssuer;
    this.identityAudience = b.identityAudience;
    this.signingKeys = b.signingKeys;
    this.issuer = b.issuer;
    this.accessTokenTtl = b.accessTokenTtl;
    this.maxTokenLifetime = b.maxTokenLifetime;
    this.expiryNotice = b.expiryNotice;
    this.refreshInactivity = b.refreshInactivity;
    this.refreshReuseInterval = b.refreshReuseInterval;
    this.signInBurst = b.signInBurst;
    this.signInBurstWindow = b.signInBurstWindow;
    this.jwksMinRefresh = b.jwksMinRefresh;
    this.jwksMaxAge = b.jwksMaxAge;
  }

  public static Builder builder() {
    return new Builder();
  }

  /** JWKS file path or http(s) URL with the keys of the app's identity tokens; null: no sign-in. */
  public String identityJwks() {
    return identityJwks;
  }

  public Set<String> identityAlgorithms() {
    return identityAlgorithms;
  }

  /** Required {@code iss} of identity tokens, or null for any. */
  public String identityIssuer() {
    return identityIssuer;
  }

  /** Required {@code aud} of identity tokens, or null for any. */
  public String identityAudience() {
    return identityAudience;
  }

  /** The node's ES256 keys for access tokens; null: an ephemeral key generated at start. */
  public SigningKeys signingKeys() {
    return signingKeys;
  }

  /** The {@code iss} of the node's access tokens. */
  public String issuer() {
    return issuer;
  }

  public Duration accessTokenTtl() {
    return accessTokenTtl;
  }

  /**
   * The furthest ahead a token's {@code exp} may lie when it is checked (beyond the clock skew):
   * access tokens, development tokens and identity tokens further out are refused.
   */
  public Duration maxTokenLifetime() {
    return maxTokenLifetime;
  }

  /** How long before its access token expires a connection is sent TokenExpiring. */
  public Duration expiryNotice() {
    return expiryNotice;
  }

  /** A refresh token unused for this long no longer works (the device signs in again). */
  public Duration refreshInactivity() {
    return refreshInactivity;
  }

  /**
   * Whether an access token may outlive its session's refresh token: true when {@link
   * #accessTokenTtl()} plus {@code clockSkew} plus {@link #refreshReuseInterval()} is longer than
   * {@link #refreshInactivity()}. An access token is accepted until its {@code exp} plus the skew,
   * and one may be issued on a retry up to the reuse interval after the refresh that last set the
   * session's clock: if that can outlast the inactivity limit, a device that refreshes only when
   * its access token runs out (as the clients do, on TokenExpiring) finds its session dead of
   * inactivity while in use, and a live connection outlives its session. {@link
   * io.handoff.server.ServerConfig.Builder#build} refuses such a configuration, and the launcher
   * says which options to change.
   */
  public boolean accessOutlivesRefresh(Duration clockSkew) {
    return accessTokenTtl.plus(clockSkew).plus(refreshReuseInterval).compareTo(refreshInactivity)
        > 0;
  }

  /**
   * How long the immediately previous refresh token may be used again (a retry) and get the same
   * successor instead of revoking the session; zero turns the grace off.
   */
  public Duration refreshReuseInterval() {
    return refreshReuseInterval;
  }

  public int signInBurst() {
    return signInBurst;
  }

  public Duration signInBurstWindow() {
    return signInBurstWindow;
  }

  public Duration jwksMinRefresh() {
    return jwksMinRefresh;
  }

  public Duration jwksMaxAge() {
    return jwksMaxAge;
  }

  @Override
  public String toString() {
    return "TokenConfig{identityJwks="
        + identityJwks
        + ", identityAlgorithms="
        + identityAlgorithms
        + ", identityIssuer="
        + identityIssuer
        + ", identityAudience="
        + identityAudience
        + ", signingKey="
        + (signingKeys == null ? "<ephemeral>" : signingKeys.current().getKeyID())
        + ", issuer="
        + issuer
        + ", accessTokenTtl="
        + accessTokenTtl
        + ", maxTokenLifetime="
        + maxTokenLifetime
        + ", expiryNotice="
        + expiryNotice
        + ", refreshInactivity="
        + refreshInactivity
        + ", refreshReuseInterval="
        + refreshReuseInterval
        + ", signInBurst="
        + signInBurst
        + "/"
        + signInBurstWindow
        + "}";
  }

  /** Builds a {@link TokenConfig}; not thread-safe. */
  public static final class Builder {
    private String identityJwks;
    private Set<String> identityAlgorithms = DEFAULT_IDENTITY_ALGORITHMS;
    private String identityIssuer;
    private String identityAudience;
    private SigningKeys signingKeys;
    private String issuer = DEFAULT_ISSUER;
    private Duration accessTokenTtl = DEFAULT_ACCESS_TOKEN_TTL;
    private Duration maxTokenLifetime = DEFAULT_MAX_TOKEN_LIFETIME;
    private Duration expiryNotice = DEFAULT_EXPIRY_NOTICE;
    private Duration refreshInactivity = DEFAULT_REFRESH_INACTIVITY;
    private Duration refreshReuseInterval = DEFAULT_REFRESH_REUSE_INTERVAL;
    private int signInBurst = DEFAULT_SIGN_IN_BURST;
    private Duration signInBurstWindow = DEFAULT_SIGN_IN_BURST_WINDOW;
    private Duration jwksMinRefresh = DEFAULT_JWKS_MIN_REFRESH;
    private Duration jwksMaxAge = DEFAULT_JWKS_MAX_AGE;

    private Builder() {}

    public Builder identityJwks(String fileOrUrl) {
      this.identityJwks = fileOrUrl == null || fileOrUrl.isBlank() ? null : fileOrUrl;
      return this;
    }

    public Builder identityAlgorithms(Set<String> algorithms) {
      check(!algorithms.isEmpty(), "identityAlgorithms must not be empty");
      for (String a : algorithms) {
        check(
            a.equals("ES256") || a.equals("RS256") || a.equals("EdDSA"),
            "identity algorithm " + a + " is not supported; the node takes ES256, RS256, EdDSA");
      }
      this.identityAlgorithms = Set.copyOf(algorithms);
      return this;
    }

    public Builder identityIssuer(String issuer) {
      this.identityIssuer = issuer == null || issuer.isBlank() ? null : issuer;
      return this;
    }

    public Builder identityAudience(String audience) {
      this.identityAudience = audience == null || audience.isBlank() ? null : audience;
      return this;
    }

    public Builder signingKeys(SigningKeys keys) {
      this.signingKeys = keys;
      return this;
    }

    public Builder issuer(String issuer) {
      check(issuer != null && !issuer.isBlank(), "issuer must not be blank");
      this.issuer = issuer;
      return this;
    }

    public Builder accessTokenTtl(Duration ttl) {
      check(ttl.toMillis() >= 1000, "accessTokenTtl must be >= 1s, got " + ttl);
      this.accessTokenTtl = ttl;
      return this;
    }

    public Builder maxTokenLifetime(Duration max) {
      check(max.toMillis() >= 1000, "maxTokenLifetime must be >= 1s, got " + max);
      this.maxTokenLifetime = max;
      return this;
    }

    public Builder expiryNotice(Duration notice) {
      check(!notice.isNegative(), "expiryNotice must not be negative");
      this.expiryNotice = notice;
      return this;
    }

    public Builder refreshInactivity(Duration d) {
      check(d.toMillis() >= 1000, "refreshInactivity must be >= 1s, got " + d);
      this.refreshInactivity = d;
      return this;
    }

    public Builder refreshReuseInterval(Duration d) {
      check(d != null && !d.isNegative(), "refreshReuseInterval must be zero or positive");
      this.refreshReuseInterval = d;
      return this;
    }

    public Builder signInBurst(int count, Duration window) {
      check(count >= 1, "signInBurst must be >= 1");
      check(window.toMillis() >= 1, "signInBurstWindow must be >= 1ms");
      this.signInBurst = count;
      this.signInBurstWindow = window;
      return this;
    }

    public Builder jwksRefresh(Duration min, Duration maxAge) {
      check(!min.isNegative() && maxAge.compareTo(min) >= 0, "jwks refresh: 0 <= min <= maxAge");
      this.jwksMinRefresh = min;
      this.jwksMaxAge = maxAge;
      return this;
    }

    public TokenConfig build() {
      check(
          expiryNotice.compareTo(accessTokenTtl) < 0,
          "expiryNotice ("
              + expiryNotice
              + ") must be shorter than accessTokenTtl ("
              + accessTokenTtl
              + ")");
      check(
          accessTokenTtl.compareTo(maxTokenLifetime) <= 0,
          "accessTokenTtl ("
              + accessTokenTtl
              + ") must not be longer than maxTokenLifetime ("
              + maxTokenLifetime
              + "): the node would refuse its own tokens");
      return new TokenConfig(this);
    }

    private static void check(boolean ok, String message) {
      if (!ok) {
        throw new IllegalArgumentException(message);
      }
    }
  }
}
