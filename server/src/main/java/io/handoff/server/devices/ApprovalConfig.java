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
    private int maxFailedAttemptsPerUser = DEFAULT_MAX_FAILED_ATTEMPTS_PER_USER;
    private int maxFailedAttemptsPerAddress = DEFAULT_MAX_FAILED_ATTEMPTS_PER_ADDRESS;
    private Duration attemptWindow = DEFAULT_ATTEMPT_WINDOW;

    private Builder() {}

    public Builder newDeviceApproval(boolean on) {
      this.newDeviceApproval = on;
      return this;
    }

    public Builder verificationUri(String uri) {
      check(uri != null && !uri.isBlank() && uri.length() <= 512, "verificationUri: 1-512 chars");
      this.verificationUri = uri;
      return this;
    }

    public Builder codeTtl(Duration d) {
      check(d.toMillis() >= 10_000 && d.toMinutes() <= 30, "codeTtl must be 10 s to 30 min");
      this.codeTtl = d;
      return this;
    }

    public Builder pollInterval(Duration d) {
      check(d.toMillis() >= 100 && d.toSeconds() <= 60, "pollInterval must be 100 ms to 60 s");
      this.pollInterval = d;
      return this;
    }

    public Builder approvalTtl(Duration d) {
      check(d.toMillis() >= 1_000 && d.toMinutes() <= 30, "approvalTtl must be 1 s to 30 min");
      this.approvalTtl = d;
      return this;
    }

    public Builder maxPending(int perAddress, int perUser) {
      check(perAddress >= 1 && perAddress <= 10_000, "maxPending per address must be 1-10000");
      check(perUser >= 1 && perUser <= 1_000, "maxPending per user must be 1-1000");
      this.maxPendingPerAddress = perAddress;
      this.maxPendingPerUser = perUser;
      return this;
    }

    public Builder maxFailedAttempts(int perUser, int perAddress, Duration window) {
      check(perUser >= 1 && perUser <= 1_000, "maxFailedAttempts per user must be 1-1000");
      check(perAddress >= 1 && perAddress <= 100_000, "maxFailedAttempts per address: 1-100000");
      check(window.toMillis() >= 1_000, "attempt window must be at least 1 s");
      this.maxFailedAttemptsPerUser = perUser;
      this.maxFailedAttemptsPerAddress = perAddress;
      this.attemptWindow = window;
      return this;
    }

    public ApprovalConfig build() {
      return new ApprovalConfig(this);
    }

    private static void check(boolean ok, String message) {
      if (!ok) {
        throw new IllegalArgumentException(message);
      }
    }
  }
}
