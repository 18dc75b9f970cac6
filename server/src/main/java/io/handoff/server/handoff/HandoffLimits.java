package io.handoff.server.handoff;

import java.time.Duration;

/**
 * Bounds of activities, handoff offers and presence. Immutable; built with {@link #builder()},
 * validated there.
 */
public final class HandoffLimits {
  public static final int DEFAULT_MAX_ACTIVITY_PAYLOAD_BYTES = 4 * 1024;
  public static final int DEFAULT_MAX_TEXT_BYTES = 256;
  public static final Duration DEFAULT_OFFER_TTL = Duration.ofSeconds(60);
  public static final Duration DEFAULT_MAX_OFFER_TTL = Duration.ofMinutes(10);

  /** The shortest offer lifetime either bound may be. */
  public static final Duration MIN_OFFER_TTL = Duration.ofMillis(10);

  /** The longest {@link #maxOfferTtl()} may be. */
  public static final Duration MAX_OFFER_TTL = Duration.ofDays(24);

  public static final int DEFAULT_MAX_LIVE_OFFERS_PER_USER = 16;
  public static final Duration DEFAULT_PRESENCE_TTL = Duration.ofSeconds(30);
  public static final Duration DEFAULT_ACTIVITY_RETENTION = Duration.ofDays(1);
  public static final int DEFAULT_MAX_REQUESTS_PER_SECOND = 20;

  /**
   * Activity and offer requests of one connection waiting for the store at once; the next is
   * refused TOO_MANY_IN_FLIGHT (retryable) without asking the store. The rate alone bounded them
   * only by how long the store holds its calls: a paused Redis, or one in failover (its trouble
   * waited out for 10 s), made the node hold every request a connection sent meanwhile.
   */
  public static final int MAX_REQUESTS_IN_FLIGHT = 8;

  private final int maxActivityPayloadBytes;
  private final int maxTextBytes;
  private final Duration defaultOfferTtl;
  private final Duration maxOfferTtl;
  private final int maxLiveOffersPerUser;
  private final Duration presenceTtl;
  private final Duration activityRetention;
  private final int maxRequestsPerSecond;

  private HandoffLimits(Builder b) {
    this.maxActivityPayloadBytes = b.maxActivityPayloadBytes;
    this.maxTextBytes = b.maxTextBytes;
    this.defaultOfferTtl = b.defaultOfferTtl;
    this.maxOfferTtl = b.maxOfferTtl;
    this.maxLiveOffersPerUser = b.maxLiveOffersPerUser;
    this.presenceTtl = b.presenceTtl;
    this.activityRetention = b.activityRetention;
    this.maxRequestsPerSecond = b.maxRequestsPerSecond;
  }

  public static Builder builder() {
    return new Builder();
  }

  /** Largest activity payload. */
  public int maxActivityPayloadBytes() {
    return maxActivityPayloadBytes;
  }

  /** Largest activity kind, title, and target device id, in UTF-8 bytes. */
  public int maxTextBytes() {
    return maxTextBytes;
  }

  /** The TTL of an offer that names none. */
  public Duration defaultOfferTtl() {
    return defaultOfferTtl;
  }

  public Duration maxOfferTtl() {
    return maxOfferTtl;
  }

  /** Offers of one user live at once. */
  public int maxLiveOffersPerUser() {
    return maxLiveOffersPerUser;
  }

  /**
   * The longest a device of a node that died (without closing its connections) still reads online
   * anywhere. Nodes refresh their devices' entries every third of it.
   */
  public Duration presenceTtl() {
    return presenceTtl;
  }

  /** How long a device's activity is kept after it was last published. */
  public Duration activityRetention() {
    return activityRetention;
  }

  /** Activity publishes plus offer requests one connection may make per second (burst: as many). */
  public int maxRequestsPerSecond() {
    return maxRequestsPerSecond;
  }

  @Override
  public String toString() {
    return "HandoffLimits{maxActivityPayloadBytes="
        + maxActivityPayloadBytes
        + ", maxTextBytes="
        + maxTextBytes
        + ", defaultOfferTtl="
        + defaultOfferTtl
        + ", maxOfferTtl="
        + maxOfferTtl
        + ", maxLiveOffersPerUser="
        + maxLiveOffersPerUser
        + ", presenceTtl="
        + presenceTtl
        + ", activityRetention="
        + activityRetention
        + ", maxRequestsPerSecond="
        + maxRequestsPerSecond
        + "}";
  }

  /** Builds {@link HandoffLimits}; not thread-safe. */
  public static final class Builder {
    private int maxActivityPayloadBytes = DEFAULT_MAX_ACTIVITY_PAYLOAD_BYTES;
    private int maxTextBytes = DEFAULT_MAX_TEXT_BYTES;
    private Duration defaultOfferTtl = DEFAULT_OFFER_TTL;
    private Duration maxOfferTtl = DEFAULT_MAX_OFFER_TTL;
    private int maxLiveOffersPerUser = DEFAULT_MAX_LIVE_OFFERS_PER_USER;
    private Duration presenceTtl = DEFAULT_PRESENCE_TTL;
    private Duration activityRetention = DEFAULT_ACTIVITY_RETENTION;
    private int maxRequestsPerSecond = DEFAULT_MAX_REQUESTS_PER_SECOND;

    private Builder() {}

    public Builder maxActivityPayloadBytes(int v) {
      check(v >= 0 && v <= 256 * 1024, "maxActivityPayloadBytes must be 0..262144, got " + v);
      maxActivityPayloadBytes = v;
      return this;
    }

    public Builder maxTextBytes(int v) {
      check(v >= 16 && v <= 4096, "maxTextBytes must be 16..4096, got " + v);
      maxTextBytes = v;
      return this;
    }

    public Builder defaultOfferTtl(Duration v) {
      check(v.compareTo(MIN_OFFER_TTL) >= 0, "defaultOfferTtl must be >= 10ms, got " + v);
      defaultOfferTtl = v;
      return this;
    }

    public Builder maxOfferTtl(Duration v) {
      // Compared as durations, not as whole milliseconds, so nothing past 24 days gets in by less
      // than a millisecond. At most 24 days: the Welcome states it in milliseconds, which clients
      // keep in 32-bit signed integers.
      check(
          v.compareTo(MIN_OFFER_TTL) >= 0 && v.compareTo(MAX_OFFER_TTL) <= 0,
          "maxOfferTtl must be 10ms..24d, got " + v);
      maxOfferTtl = v;
      return this;
    }

    public Builder maxLiveOffersPerUser(int v) {
      check(v >= 1 && v <= 1000, "maxLiveOffersPerUser must be 1..1000, got " + v);
      maxLiveOffersPerUser = v;
      return this;
    }

    public Builder presenceTtl(Duration v) {
      check(v.toMillis() >= 100, "presenceTtl must be >= 100ms, got " + v);
      presenceTtl = v;
      return this;
    }

    public Builder activityRetention(Duration v) {
      check(v.toMillis() >= 1000, "activityRetention must be >= 1s, got " + v);
      activityRetention = v;
      return this;
    }

    public Builder maxRequestsPerSecond(int v) {
      check(v >= 1, "maxRequestsPerSecond must be >= 1, got " + v);
      maxRequestsPerSecond = v;
      return this;
    }

    public HandoffLimits build() {
      check(
          defaultOfferTtl.compareTo(maxOfferTtl) <= 0,
          "defaultOfferTtl (" + defaultOfferTtl + ") must be <= maxOfferTtl (" + maxOfferTtl + ")");
      return new HandoffLimits(this);
    }

    private static void check(boolean ok, String message) {
      if (!ok) {
        throw new IllegalArgumentException(message);
      }
    }
  }
}
