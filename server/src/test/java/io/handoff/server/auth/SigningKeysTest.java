package io.handoff.server.auth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.nimbusds.jose.jwk.ECKey;
import io.handoff.server.MutableClock;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** Key rotation: a rotated-out key still verifies for its grace period, and only then. */
class SigningKeysTest {
  private final MutableClock clock = new MutableClock(1_800_000_000_000L);
  private final ECKey oldKey = SigningKeys.generate("k-2026-01");
  private final ECKey newKey = SigningKeys.generate("k-2026-02");

  private AccessTokens tokens(SigningKeys keys) {
    return new AccessTokens(keys, "handoff", Duration.ofMinutes(10), Duration.ZERO, clock);
  }

  @Test
  void tokenOfTheRotatedOutKeyIsAcceptedDuringTheGracePeriodOnly() throws Exception {
    String before = tokens(SigningKeys.of(oldKey, null, 0)).mint("u", "d", "s").token();
    SigningKeys rotated = SigningKeys.of(newKey, oldKey, clock.millis() + 60_000);
    AccessTokens after = tokens(rotated);
    assertEquals("u", after.verify(before).userId());
    assertTrue(rotated.publicJwks(clock.millis()).contains("k-2026-01"));
    clock.advance(Duration.ofMinutes(1));
    AuthException e = assertThrows(AuthException.class, () -> after.verify(before));
    assertTrue(e.getMessage().contains("unknown signing key id k-2026-01"), e.getMessage());
    assertFalse(rotated.publicJwks(clock.millis()).contains("k-2026-01"));
    assertEquals("d", after.verify(after.mint("u", "d", "s").token()).deviceId());
  }

  @Test
  void publishedKeysHaveNoPrivatePart() {
    String jwks = SigningKeys.of(newKey, oldKey, clock.millis() + 1).publicJwks(clock.millis());
    assertFalse(jwks.contains("\"d\""), jwks);
    assertTrue(jwks.contains("\"kid\":\"k-2026-02\""), jwks);
  }

  @Test
  void keyWithoutPrivatePartOrKidIsRefused() {
    assertThrows(
        IllegalArgumentException.class, () -> SigningKeys.of(newKey.toPublicJWK(), null, 0));
    assertThrows(
        IllegalArgumentException.class,
        () -> SigningKeys.of(new ECKey.Builder(newKey).keyID(null).build(), null, 0));
  }
}
