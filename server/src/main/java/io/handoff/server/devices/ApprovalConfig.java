package io.handoff.server.devices;

import java.time.Duration;

/**
 * Limits and switches of device codes and new-device approval. Immutable; built by {@link
 * #builder()}, which checks every value.
 */
public final class ApprovalConfig {
  public static final String DEFAULT_VERIFICATION_URI = "/device";
  public static final Duration DEFAULT_CODE_TTL = Duration.ofMinutes(10);
  public static final Duration DEFAULT_POLL_INTERVAL = Duration.ofSeconds(5);
  public static final Duration DEFAULT_APPROVAL_TTL = Duration.ofMinutes(2);
  public static final int DEFAULT_MAX_PENDING_PER_ADDRESS = 10;
  public static final int DEFAULT_MAX_PENDING_PER_USER = 5;
  public static final int DEFAULT_MAX_PENDING_TOTAL = 100_000;
  public static final int DEFAULT_MAX_FAILED_ATTEMPTS_PER_USER = 10;
  public static final int DEFAULT_MAX_FAILED_ATTEMPTS_PER_ADDRESS = 30;
  public static final Duration DEFAULT_ATTEMPT_WINDOW = Duration.ofMinutes(15);

  private final boolean newDeviceApproval;
  private final String verificationUri;
  private final Duration codeTtl;
  private final Duration pollInterval;
  private final Duration approvalTtl;
  private final int maxPendingPerAddress;
  private final int maxPendingPerUser;
  private final int maxPendingTotal;
  private final int maxFailedAttemptsPerUser;
  private final int maxFailedAttemptsPerAddress;
  private final Duration attemptWindow;

  private ApprovalConfig(Builder b) {
    this.newDeviceApproval = b.newDeviceApproval;
    this.verificationUri = b.verificationUri;
    this.codeTtl = b.codeTtl;
    this.pollInterval = b.pollInterval;
    this.approvalTtl = b.approvalTtl;
    this.maxPendingPerAddress = b.maxPendingPerAddress;
    this.maxPendingPerUser = b.maxPendingPerUser;
    this.maxPendingTotal = b.maxPendingTotal;
    this.maxFailedAttemptsPerUser = b.maxFailedAttemptsPerUser;
    this.maxFailedAttemptsPerAddress = b.maxFailedAttemptsPerAddress;
    this.attemptWindow = b.attemptWindow;
  }

  public static Builder builder() {
    return new Builder();
  }

  /** Whether a sign-in from a device the user never used waits for a trusted device's approval. */
  public boolean newDeviceApproval() {
    return newDeviceApproval;
  }

  /** Where a person enters a user code: the app's page, shown by the waiting device. */
  public String verificationUri() {
    return verificationUri;
  }

  /** How long a device code and its user code live. */
  public Duration codeTtl() {
    return codeTtl;
  }

  /** The least time between two polls of one device code (raised by 5 s at each slow_down). */
  public Duration pollInterval() {
    return pollInterval;
  }

  /** How long a held sign-in of a new device waits for an answer. */
  public Duration approvalTtl() {
    return approvalTtl;
  }

  public int maxPendingPerAddress() {
    return maxPendingPerAddress;
  }

  public int maxPendingPerUser() {
    return maxPendingPerUser;
  }

  /**
   * Device codes and held sign-ins pending at once in the whole store, from every address: every
   * node sharing a Redis counts toward one number; with the memory engine the node is the store.
   */
  public int maxPendingTotal() {
    return maxPendingTotal;
  }

  /** The bounds of pending requests, as the store takes them. */
  public ApprovalStore.Bounds pendingBounds() {
    return new ApprovalStore.Bounds(maxPendingTotal, maxPendingPerAddress, maxPendingPerUser);
  }

  /** Wrong user codes one user may enter per {@link #attemptWindow()}. */
  public int maxFailedAttemptsPerUser() {
    return maxFailedAttemptsPerUser;
  }

  /** Wrong user codes one network address may enter per {@link #attemptWindow()}. */
  public int maxFailedAttemptsPerAddress() {
    return maxFailedAttemptsPerAddress;
  }

  public Duration attemptWindow() {
    return attemptWindow;
  }

  @Override
  public String toString() {
    return "ApprovalConfig{newDeviceApproval="
        + newDeviceApproval
        + ", verificationUri="
        + verificationUri
        + ", codeTtl="
        + codeTtl
        + ", pollInterval="
        + pollInterval
        + ", approvalTtl="
        + approvalTtl
        + ", maxPendingPerAddress="
        + maxPendingPerAddress
        + ", maxPendingPerUser="
        + maxPendingPerUser
        + ", maxPendingTotal="
        + maxPendingTotal
        + ", maxFailedAttemptsPerUser="
        + maxFailedAttemptsPerUser
        + ", maxFailedAttemptsPerAddress="
        + maxFailedAttemptsPerAddress
        + ", attemptWindow="
        + attemptWindow
        + "}";
  }

  public static final class Builder {
    private boolean newDeviceApproval;
    private String verificationUri = DEFAULT_VERIFICATION_URI;
    private Duration codeTtl = DEFAULT_CODE_TTL;
    private Duration pollInterval = DEFAULT_POLL_INTERVAL;
    private Duration approvalTtl = DEFAULT_APPROVAL_TTL;
    private int maxPendingPerAddress = DEFAULT_MAX_PENDING_PER_ADDRESS;
    private int maxPendingPerUser = DEFAULT_MAX_PENDING_PER_USER;
    private int maxPendingTotal = DEFAULT_MAX_PENDING_TOTAL;
    private int maxFailedAttemptsPerUser = DEFAULT_MAX_FAILED_ATTEMPTS_PER_USER;
    private int maxFailedAttemptsPerAddress = DEFAULT_MAX_FAILED_ATTEMPTS_PER_ADDRESS;
    private Duration attemptWindow = DEFAULT_ATTEMPT_WINDOW;

    private Builder() {}

    public Builder newDeviceApproval(boolean on) {
      this.newDeviceApproval = on;
      return this;
    }

    public Builder verificationUri(String uri) {
      check(uri != null && !uri.isBlank() && uri.length() <= 512, "must be 1 to 512 characters");
      this.verificationUri = uri;
      return this;
    }

    public Builder codeTtl(Duration d) {
      check(
          d.toMillis() >= 10_000 && d.compareTo(Duration.ofMinutes(30)) <= 0, "must be 10s to 30m");
      this.codeTtl = d;
      return this;
    }

    public Builder pollInterval(Duration d) {
      check(
          d.toMillis() >= 100 && d.compareTo(Duration.ofSeconds(60)) <= 0, "must be 100ms to 60s");
      this.pollInterval = d;
      return this;
    }

    public Builder approvalTtl(Duration d) {
      check(d.toMillis() >= 1_000 && d.compareTo(Duration.ofMinutes(30)) <= 0, "must be 1s to 30m");
      this.approvalTtl = d;
      return this;
    }

    public Builder maxPendingPerAddress(int n) {
      check(n >= 1 && n <= 10_000, "must be 1 to 10000");
      this.maxPendingPerAddress = n;
      return this;
    }

    public Builder maxPendingPerUser(int n) {
      check(n >= 1 && n <= 1_000, "must be 1 to 1000");
      this.maxPendingPerUser = n;
      return this;
    }

    public Builder maxPendingTotal(int n) {
      check(n >= 1 && n <= 1_000_000, "must be 1 to 1000000");
      this.maxPendingTotal = n;
      return this;
    }

    public Builder maxPending(int perAddress, int perUser) {
      return maxPendingPerAddress(perAddress).maxPendingPerUser(perUser);
    }

    public Builder maxFailedAttemptsPerUser(int n) {
      check(n >= 1 && n <= 1_000, "must be 1 to 1000");
      this.maxFailedAttemptsPerUser = n;
      return this;
    }

    public Builder maxFailedAttemptsPerAddress(int n) {
      check(n >= 1 && n <= 100_000, "must be 1 to 100000");
      this.maxFailedAttemptsPerAddress = n;
      return this;
    }

    public Builder attemptWindow(Duration d) {
      check(d.toMillis() >= 1_000 && d.compareTo(Duration.ofDays(1)) <= 0, "must be 1s to 1d");
      this.attemptWindow = d;
      return this;
    }

    public Builder maxFailedAttempts(int perUser, int perAddress, Duration window) {
      return maxFailedAttemptsPerUser(perUser)
          .maxFailedAttemptsPerAddress(perAddress)
          .attemptWindow(window);
    }

    /**
     * @throws IllegalArgumentException when the poll interval is not shorter than the code's life
     *     (a device could never poll before its code expired)
     */
    public ApprovalConfig build() {
      check(
          pollInterval.compareTo(codeTtl) < 0,
          "the poll interval ("
              + pollInterval.toMillis()
              + " ms) must be shorter than the device code's life ("
              + codeTtl.toSeconds()
              + " s)");
      return new ApprovalConfig(this);
    }

    private static void check(boolean ok, String message) {
      if (!ok) {
        throw new IllegalArgumentException(message);
      }
    }
  }
}
