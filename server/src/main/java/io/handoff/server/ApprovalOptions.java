package io.handoff.server;

import io.handoff.server.devices.ApprovalConfig;
import java.time.Duration;
import picocli.CommandLine.Option;

/**
 * The command-line options of signing in new devices (device codes and new-device approval), a
 * picocli mixin of {@link Main}: like every option, each also comes from its {@code HANDOFF_*}
 * variable or the configuration file. {@link #toConfig} checks them through {@link
 * ApprovalConfig.Builder}, whose refusals Main rewords to name the option and the value.
 */
final class ApprovalOptions {
  /** The options in the order {@code --help} lists them. */
  static final java.util.List<String> KEYS =
      java.util.List.of(
          "new-device-approval",
          "new-device-approval-timeout",
          "device-verification-uri",
          "device-code-ttl",
          "device-poll-interval",
          "max-pending-sign-ins-per-user",
          "max-pending-sign-ins-per-address",
          "max-pending-sign-ins",
          "max-user-code-failures-per-user",
          "max-user-code-failures-per-address",
          "user-code-failure-window");

  @Option(
      names = "--new-device-approval",
      defaultValue = "false",
      description =
          "Hold a sign-in from a device the user never used until one of the user's signed-in"
              + " devices approves it.")
  boolean newDeviceApproval;

  @Option(
      names = "--new-device-approval-timeout",
      defaultValue = "2m",
      paramLabel = "DURATION",
      description =
          "How long a held sign-in waits for an answer; then it fails with expired_token"
              + " (1s to 30m).")
  String approvalTimeout;

  @Option(
      names = "--device-verification-uri",
      defaultValue = "/device",
      paramLabel = "URI",
      description = "The app's page where people type a device's user code.")
  String verificationUri;

  @Option(
      names = "--device-code-ttl",
      defaultValue = "10m",
      paramLabel = "DURATION",
      description = "How long a device code and its user code live (10s to 30m).")
  String codeTtl;

  @Option(
      names = "--device-poll-interval",
      defaultValue = "5s",
      paramLabel = "DURATION",
      description =
          "The least time between two polls of one device code or held sign-in (the interval of"
              + " RFC 8628); a faster poll gets slow_down (100ms to 60s, below --device-code-ttl).")
  String pollInterval;

  @Option(
      names = "--max-pending-sign-ins-per-user",
      defaultValue = "" + ApprovalConfig.DEFAULT_MAX_PENDING_PER_USER,
      paramLabel = "N",
      description = "Held sign-ins of new devices one user may have waiting at once (1 to 1000).")
  int maxPendingPerUser;

  @Option(
      names = "--max-pending-sign-ins-per-address",
      defaultValue = "" + ApprovalConfig.DEFAULT_MAX_PENDING_PER_ADDRESS,
      paramLabel = "N",
      description =
          "Device codes and held sign-ins one network address may have waiting at once (1 to"
              + " 10000).")
  int maxPendingPerAddress;

  @Option(
      names = "--max-pending-sign-ins",
      defaultValue = "" + ApprovalConfig.DEFAULT_MAX_PENDING_TOTAL,
      paramLabel = "N",
      description =
          "Device codes and held sign-ins waiting at once from all addresses together: in the"
              + " whole deployment with Redis (every node counts toward one number), on this node"
              + " with the memory engine; more get 429 too_many_pending (1 to 1000000).")
  int maxPendingTotal;

  @Option(
      names = "--max-user-code-failures-per-user",
      defaultValue = "" + ApprovalConfig.DEFAULT_MAX_FAILED_ATTEMPTS_PER_USER,
      paramLabel = "N",
      description =
          "Wrong user codes one user may enter per --user-code-failure-window; more are refused"
              + " with TOO_MANY_ATTEMPTS (1 to 1000).")
  int maxFailuresPerUser;

  @Option(
      names = "--max-user-code-failures-per-address",
      defaultValue = "" + ApprovalConfig.DEFAULT_MAX_FAILED_ATTEMPTS_PER_ADDRESS,
      paramLabel = "N",
      description =
          "Wrong user codes one network address may enter per --user-code-failure-window (1 to"
              + " 100000).")
  int maxFailuresPerAddress;

  @Option(
      names = "--user-code-failure-window",
      defaultValue = "15m",
      paramLabel = "DURATION",
      description = "The window of the wrong-user-code limits; it starts at the first (1s to 1d).")
  String failureWindow;

  /** The checked configuration; refusals name the option through {@code main}. */
  ApprovalConfig toConfig(Main main) {
    ApprovalConfig.Builder a = ApprovalConfig.builder().newDeviceApproval(newDeviceApproval);
    main.set("device-verification-uri", verificationUri, () -> a.verificationUri(verificationUri));
    Duration timeout = main.duration("new-device-approval-timeout", approvalTimeout);
    main.set("new-device-approval-timeout", approvalTimeout, () -> a.approvalTtl(timeout));
    Duration ttl = main.duration("device-code-ttl", codeTtl);
    main.set("device-code-ttl", codeTtl, () -> a.codeTtl(ttl));
    Duration interval = main.duration("device-poll-interval", pollInterval);
    main.set("device-poll-interval", pollInterval, () -> a.pollInterval(interval));
    main.set(
        "max-pending-sign-ins-per-user",
        maxPendingPerUser,
        () -> a.maxPendingPerUser(maxPendingPerUser));
    main.set(
        "max-pending-sign-ins-per-address",
        maxPendingPerAddress,
        () -> a.maxPendingPerAddress(maxPendingPerAddress));
    main.set("max-pending-sign-ins", maxPendingTotal, () -> a.maxPendingTotal(maxPendingTotal));
    main.set(
        "max-user-code-failures-per-user",
        maxFailuresPerUser,
        () -> a.maxFailedAttemptsPerUser(maxFailuresPerUser));
    main.set(
        "max-user-code-failures-per-address",
        maxFailuresPerAddress,
        () -> a.maxFailedAttemptsPerAddress(maxFailuresPerAddress));
    Duration window = main.duration("user-code-failure-window", failureWindow);
    main.set("user-code-failure-window", failureWindow, () -> a.attemptWindow(window));
    ApprovalConfig[] built = new ApprovalConfig[1];
    main.set("device-poll-interval", pollInterval, () -> built[0] = a.build());
    return built[0];
  }
}
