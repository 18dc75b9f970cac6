package io.handoff.server.auth;

import com.nimbusds.jose.JOSEException;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.jwk.Curve;
import com.nimbusds.jose.jwk.ECKey;
import com.nimbusds.jose.jwk.JWK;
import com.nimbusds.jose.jwk.JWKSet;
import com.nimbusds.jose.jwk.KeyUse;
import com.nimbusds.jose.jwk.gen.ECKeyGenerator;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.text.ParseException;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

/**
 * The server's own ES256 keys for access tokens: the current key (signs, and verifies) and
 * optionally the previous one (verifies only, until {@code previousUntilMillis}, so tokens signed
 * before a rotation stay valid for their short life). Keys are P-256 JWKs with a {@code kid}.
 * Immutable and thread-safe.
 */
public final class SigningKeys {
  private final ECKey current;
  private final ECKey previous;
  private final long previousUntilMillis;
  private final boolean ephemeral;

  private SigningKeys(ECKey current, ECKey previous, long previousUntilMillis, boolean ephemeral) {
    if (current.getKeyID() == null || current.getKeyID().isEmpty()) {
      throw new IllegalArgumentException("the signing key needs a kid");
    }
    if (!current.isPrivate()) {
      throw new IllegalArgumentException("the signing key must hold the private part (\"d\")");
    }
    if (previous != null && (previous.getKeyID() == null || previous.getKeyID().isEmpty())) {
      throw new IllegalArgumentException("the previous signing key needs a kid");
    }
    if (previous != null && previous.getKeyID().equals(current.getKeyID())) {
      throw new IllegalArgumentException("the previous key has the same kid as the current one");
    }
    this.current = current;
    this.previous = previous;
    this.previousUntilMillis = previousUntilMillis;
    this.ephemeral = ephemeral;
  }

  /** A fresh P-256 key, kept only in this process (tokens die with it). */
  public static SigningKeys ephemeral() {
    return new SigningKeys(generate("ephemeral-" + UUID.randomUUID()), null, 0, true);
  }

  /** The given key, and a previous one accepted until {@code previousUntilMillis}. */
  public static SigningKeys of(ECKey current, ECKey previous, long previousUntilMillis) {
    return new SigningKeys(current, previous, previousUntilMillis, false);
  }

  /** A new P-256 key with the given kid, for tests and for {@code handoff keygen}. */
  public static ECKey generate(String kid) {
    try {
      return new ECKeyGenerator(Curve.P_256)
          .keyID(kid)
          .keyUse(KeyUse.SIGNATURE)
          .algorithm(JWSAlgorithm.ES256)
          .generate();
    } catch (JOSEException e) {
      throw new IllegalStateException("cannot generate a P-256 key", e);
    }
  }

  /** Reads one P-256 JWK (JSON) from {@code file}. */
  public static ECKey read(Path file) {
    try {
      JWK jwk = JWK.parse(Files.readString(file, StandardCharsets.UTF_8));
      if (!(jwk instanceof ECKey ec) || !Curve.P_256.equals(ec.getCurve())) {
        throw new IllegalArgumentException(file + ": not a P-256 EC key (ES256 needs one)");
      }
      return ec;
    } catch (IOException e) {
      throw new IllegalArgumentException("cannot read key file " + file + ": " + e.getMessage());
    } catch (ParseException e) {
      throw new IllegalArgumentException(file + " is not a JWK: " + e.getMessage());
    }
  }

  public ECKey current() {
    return current;
  }

  /** The verification key with {@code kid}, or null if unknown or past its grace period. */
  ECKey verificationKey(String kid, long nowMillis) {
    if (kid == null) {
      return null;
    }
    if (kid.equals(current.getKeyID())) {
      return current;
    }
    if (previous != null && kid.equals(previous.getKeyID()) && nowMillis < previousUntilMillis) {
      return previous;
    }
    return null;
  }

  /** Whether the key was generated at start-up rather than configured. */
  public boolean isEphemeral() {
    return ephemeral;
  }

  /** The public keys as a JWK Set document, for {@code /.well-known/jwks.json}. */
  public String publicJwks(long nowMillis) {
    List<JWK> keys = new ArrayList<>();
    keys.add(current.toPublicJWK());
    if (previous != null && nowMillis < previousUntilMillis) {
      keys.add(previous.toPublicJWK());
    }
    return new JWKSet(keys).toString(true);
  }
}
