package io.handoff.server.engine;

import io.handoff.protocol.v1.Activity;
import io.handoff.protocol.v1.Offer;
import java.time.Duration;

/** Offers for the engine contract tests: made at {@code nowMillis}, ending {@code ttl} later. */
final class TestOffers {
  private TestOffers() {}

  static Offer offer(String id, String fromDevice, long nowMillis, Duration ttl) {
    return Offer.newBuilder()
        .setOfferId(id)
        .setFromDevice(fromDevice)
        .setActivity(Activity.newBuilder().setDeviceId(fromDevice).setDocument("player"))
        .setCreatedMs(nowMillis)
        .setExpiresMs(nowMillis + ttl.toMillis())
        .build();
  }
}
