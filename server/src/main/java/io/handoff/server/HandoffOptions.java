package io.handoff.server;

import io.handoff.server.handoff.HandoffLimits;
import java.time.Duration;
import picocli.CommandLine.Option;

/**
 * The command-line options of handoff (activities, offers and presence), a picocli mixin of {@link
 * Main}: like every option, each also comes from its {@code HANDOFF_*} variable or the
 * configuration file. {@link #toLimits} checks them through {@link HandoffLimits.Builder}, whose
 * refusals Main rewords to name the option and the value.
 */
final class HandoffOptions {
  @Option(
      names = "--activity-payload-max",
      defaultValue = "4096",
      description = "Largest activity payload in bytes.")
  int activityPayloadMax;

  @Option(
      names = "--offer-ttl",
      defaultValue = "1m",
      paramLabel = "DURATION",
      description = "Offer lifetime when a device names none.")
  String offerTtl;

  @Option(
      names = "--offer-ttl-max",
      defaultValue = "10m",
      paramLabel = "DURATION",
      description = "Longest offer lifetime a device may ask.")
  String offerTtlMax;

  @Option(
      names = "--presence-ttl",
      defaultValue = "30s",
      paramLabel = "DURATION",
      description = "A device's presence turns offline this long after its node stops.")
  String presenceTtl;

  /** These options as the node's handoff limits; a refusal names the option and the value. */
  HandoffLimits toLimits(Main main) {
    HandoffLimits.Builder b = HandoffLimits.builder();
    main.set(
        "activity-payload-max",
        activityPayloadMax,
        () -> b.maxActivityPayloadBytes(activityPayloadMax));
    Duration offer = main.duration("offer-ttl", offerTtl);
    main.set("offer-ttl", offerTtl, () -> b.defaultOfferTtl(offer));
    Duration offerMax = main.duration("offer-ttl-max", offerTtlMax);
    main.set("offer-ttl-max", offerTtlMax, () -> b.maxOfferTtl(offerMax));
    Duration presence = main.duration("presence-ttl", presenceTtl);
    main.set("presence-ttl", presenceTtl, () -> b.presenceTtl(presence));
    main.set(
        "offer-ttl",
        offerTtl,
        () -> {
          if (offer.compareTo(offerMax) > 0) {
            throw new IllegalArgumentException(
                "it must not be longer than "
                    + main.origin("offer-ttl-max")
                    + " ("
                    + offerTtlMax
                    + ")");
          }
        });
    return b.build();
  }
}
