package io.handoff.server;

import com.nimbusds.jose.jwk.Curve;
import com.nimbusds.jose.jwk.ECKey;
import io.handoff.server.auth.SigningKeys;
import io.handoff.server.auth.TokenConfig;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.interfaces.ECPrivateKey;
import java.security.interfaces.ECPublicKey;
import java.time.Duration;

/**
 * Plays the app's backend for tests: holds an EC and an RSA key, publishes them as a JWKS file, and
 * mints identity tokens with hand-built JWS. Also holds the node signing key the test nodes share,
 * so tests can hand-build access tokens too.
 */
public final class AppBackend {
  public static final String ISSUER = "https://app.example";
  public static final String AUDIENCE = "handoff-test";
  public static final String EC_KID = "app-ec-1";
  public static final String RSA_KID = "app-rsa-1";
  public static final String NODE_KID = "node-key-1";
  public static final String NODE_ISSUER = "handoff-test-nodes";

  /**
   * One RSA key for every backend: a 2048-bit key took seconds of CPU to generate on a busy machine
   * (once in each test JVM), so it is a fixed test key, read from this class's resources ({@code
   * app-backend-rsa-key.pem}, made with {@code openssl genpkey -algorithm RSA}; it signs nothing
   * outside these tests). No test needs two backends' RSA keys to differ; the EC keys, cheap to
   * make, stay per backend. Tests that need an RSA key of no backend's take it too ({@link
   * #sharedRsaKeys()}).
   */
  private static final KeyPair RSA = HandJws.rsaKeys(AppBackend.class, "app-backend-rsa-key.pem");

  /** The JVM's one RSA key pair (see {@link #RSA}). */
  public static KeyPair sharedRsaKeys() {
    return RSA;
  }

  public final KeyPair ec = HandJws.ecKeys();
  public final KeyPair rsa = RSA;
  public final KeyPair node = HandJws.ecKeys();
  public final Path jwksFile;

  public AppBackend() {
    try {
      jwksFile = Files.createTempFile("handoff-jwks", ".json");
      Files.writeString(
          jwksFile,
          HandJws.jwks(HandJws.jwk(ec.getPublic(), EC_KID), HandJws.jwk(rsa.getPublic(), RSA_KID)));
      jwksFile.toFile().deleteOnExit();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  public ECKey nodeKey() {
    return new ECKey.Builder(Curve.P_256, (ECPublicKey) node.getPublic())
        .privateKey((ECPrivateKey) node.getPrivate())
        .keyID(NODE_KID)
        .build();
  }

  public TokenConfig.Builder tokens() {
    return TokenConfig.builder()
        .identityJwks(jwksFile.toString())
        .identityIssuer(ISSUER)
        .identityAudience(AUDIENCE)
        .issuer(NODE_ISSUER)
        .signingKeys(SigningKeys.of(nodeKey(), null, 0));
  }

  public static long now() {
    return System.currentTimeMillis() / 1000;
  }

  /** Claims of a valid identity token for {@code user}, as JSON text. */
  public static String claims(String user) {
    long now = now();
    return "{\"iss\":\""
        + ISSUER
        + "\",\"aud\":\""
        + AUDIENCE
        + "\",\"sub\":\""
        + user
        + "\",\"iat\":"
        + now
        + ",\"exp\":"
        + (now + 300)
        + "}";
  }

  public String identity(String user) {
    return HandJws.es256(header("ES256", EC_KID), claims(user), ec.getPrivate());
  }

  /**
   * An identity token for {@code user} signed with RS256, valid for five minutes like {@link
   * #identity}: a node checks it for a fraction of the CPU of an ES256 one (the test JVMs run C1
   * only), for tests that sign in devices by the dozen or the thousand with one token.
   */
  public String identityRs256(String user) {
    return HandJws.rs256(header("RS256", RSA_KID), claims(user), rsa.getPrivate());
  }

  public static String header(String alg, String kid) {
    return "{\"alg\":\"" + alg + "\",\"kid\":\"" + kid + "\",\"typ\":\"JWT\"}";
  }

  /** A node access token built by hand with the shared node key. */
  public String access(String claimsJson) {
    return HandJws.es256(header("ES256", NODE_KID), claimsJson, node.getPrivate());
  }

  public static String accessClaims(String user, String device, String sid, Duration ttl) {
    long now = now();
    return "{\"iss\":\""
        + NODE_ISSUER
        + "\",\"sub\":\""
        + user
        + "\",\"did\":\""
        + device
        + "\",\"sid\":\""
        + sid
        + "\",\"iat\":"
        + now
        + ",\"exp\":"
        + (now + ttl.toSeconds())
        + "}";
  }
}
