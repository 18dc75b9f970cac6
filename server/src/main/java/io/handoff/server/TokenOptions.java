package io.handoff.server;

import com.nimbusds.jose.jwk.ECKey;
import io.handoff.server.auth.SigningKeys;
import io.handoff.server.auth.TokenConfig;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Option;

/**
 * The command-line options of the tokens a node issues and accepts (the signing keys of access
 * tokens, their lifetimes and refresh rules, and the app's identity tokens), a picocli mixin of
 * {@link Main}: like every option, each also comes from its {@code HANDOFF_*} variable or the
 * configuration file. {@link #toConfig} checks them through {@link TokenConfig.Builder}, whose
 * refusals Main rewords to name the option and the value. The shared HS256 secret ({@code
 * --jwt-secret}) stays in Main, which also uses it for development tokens.
 */
final class TokenOptions {
  private static final Logger log = LoggerFactory.getLogger(TokenOptions.class);

  @Option(
      names = "--identity-jwks",
      paramLabel = "FILE|URL",
      description =
          "JWKS file or http(s) URL with the keys of the app's identity tokens; enables sign-in"
              + " (POST /v1/sessions).")
  String identityJwks;

  @Option(
      names = "--identity-algorithms",
      defaultValue = "ES256,RS256",
      split = ",",
      description = "Accepted identity token algorithms: ES256, RS256, EdDSA.")
  Set<String> identityAlgorithms;

  @Option(names = "--identity-issuer", description = "Required iss of identity tokens.")
  String identityIssuer;

  @Option(names = "--identity-audience", description = "Required aud of identity tokens.")
  String identityAudience;

  @Option(
      names = "--signing-key",
      paramLabel = "JWK",
      description =
          "P-256 private JWK file (with kid) that signs access tokens; every node of a deployment"
              + " needs the same one.")
  Path signingKey;

  @Option(
      names = "--previous-signing-key",
      paramLabel = "JWK",
      description =
          "The key --signing-key replaced: its tokens stay valid for --previous-key-grace.")
  Path previousSigningKey;

  @Option(
      names = "--previous-key-grace",
      defaultValue = "1h",
      paramLabel = "DURATION",
      description = "How long after start the previous key is accepted.")
  String previousKeyGrace;

  @Option(
      names = "--access-token-ttl",
      defaultValue = "10m",
      paramLabel = "DURATION",
      description = "Lifetime of access tokens.")
  String accessTokenTtl;

  @Option(
      names = "--max-token-lifetime",
      defaultValue = "24h",
      paramLabel = "DURATION",
      description =
          "Tokens (access, development, identity) whose exp lies further ahead are refused, as an"
              + " exp in milliseconds would be; at least --access-token-ttl.")
  String maxTokenLifetime;

  @Option(
      names = "--refresh-inactivity",
      defaultValue = "30d",
      paramLabel = "DURATION",
      description = "A refresh token unused this long stops working.")
  String refreshInactivity;

  @Option(
      names = "--refresh-reuse-interval",
      defaultValue = "5s",
      paramLabel = "DURATION",
      description =
          "The previous refresh token used again this soon gets the same successor instead of"
              + " revoking the session (a retry); 0s turns it off.")
  String refreshReuseInterval;

  /** These options as the node's token settings; a refusal names the option and the value. */
  TokenConfig toConfig(Main main) {
    TokenConfig.Builder t = TokenConfig.builder().identityJwks(identityJwks);
    main.set(
        "identity-algorithms",
        String.join(",", identityAlgorithms),
        () -> t.identityAlgorithms(identityAlgorithms));
    t.identityIssuer(identityIssuer).identityAudience(identityAudience);
    Duration access = main.duration("access-token-ttl", accessTokenTtl);
    main.set("access-token-ttl", accessTokenTtl, () -> t.accessTokenTtl(access));
    Duration max = main.duration("max-token-lifetime", maxTokenLifetime);
    main.set("max-token-lifetime", maxTokenLifetime, () -> t.maxTokenLifetime(max));
    if (access.compareTo(max) > 0) {
      throw new IllegalArgumentException(
          main.origin("access-token-ttl")
              + ": '"
              + accessTokenTtl.strip()
              + "' is longer than "
              + main.origin("max-token-lifetime")
              + " '"
              + maxTokenLifetime.strip()
              + "': the node would refuse its own access tokens; shorten --access-token-ttl or"
              + " raise --max-token-lifetime");
    }
    Duration inactivity = main.duration("refresh-inactivity", refreshInactivity);
    main.set("refresh-inactivity", refreshInactivity, () -> t.refreshInactivity(inactivity));
    Duration reuse = main.duration("refresh-reuse-interval", refreshReuseInterval);
    main.set("refresh-reuse-interval", refreshReuseInterval, () -> t.refreshReuseInterval(reuse));
    if (signingKey == null && previousSigningKey != null) {
      throw new IllegalArgumentException(
          main.origin("previous-signing-key") + " needs --signing-key (HANDOFF_SIGNING_KEY) too");
    }
    // Checked with or without keys, so a bad value is found before the rotation that needs it.
    Duration grace = main.duration("previous-key-grace", previousKeyGrace);
    if (signingKey != null) {
      ECKey[] keys = new ECKey[2];
      main.set("signing-key", signingKey, () -> keys[0] = SigningKeys.read(signingKey));
      if (previousSigningKey != null) {
        main.set(
            "previous-signing-key",
            previousSigningKey,
            () -> keys[1] = SigningKeys.read(previousSigningKey));
      }
      t.signingKeys(
          SigningKeys.of(keys[0], keys[1], System.currentTimeMillis() + grace.toMillis()));
    }
    if (identityJwks != null && !identityJwks.isBlank() && identityAudience == null) {
      log.warn("identity tokens are accepted for any audience: set --identity-audience");
    }
    TokenConfig config = t.build();
    // The rule ServerConfig.Builder.build applies (the launcher has no clock-skew option), checked
    // here to name the options.
    if (config.accessOutlivesRefresh(ServerConfig.DEFAULT_CLOCK_SKEW)) {
      throw new IllegalArgumentException(
          main.origin("access-token-ttl")
              + ": '"
              + accessTokenTtl.strip()
              + "' is too long for "
              + main.origin("refresh-inactivity")
              + " '"
              + refreshInactivity.strip()
              + "': the access-token lifetime plus the "
              + ServerConfig.DEFAULT_CLOCK_SKEW.toSeconds()
              + " s clock skew plus --refresh-reuse-interval ('"
              + refreshReuseInterval.strip()
              + "') must not be longer than the inactivity limit, or a session dies of inactivity"
              + " while its device still holds a live access token; shorten --access-token-ttl or"
              + " lengthen --refresh-inactivity");
    }
    return config;
  }
}
