package io.handoff.server;

/**
 * A node could not listen where it was configured to: the port is in use, the address is not one of
 * this machine's, or binding needs privileges. Names the option, the address and the operating
 * system's reason, so the message alone says what to change.
 */
public final class ListenException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  private final String option;
  private final String host;
  private final int port;

  ListenException(String option, String host, int port, Throwable cause) {
    super(message(option, host, port, cause), cause);
    this.option = option;
    this.host = host;
    this.port = port;
  }

  /** The option whose address failed: {@code port} or {@code admin-port}. */
  public String option() {
    return option;
  }

  public String host() {
    return host;
  }

  public int port() {
    return port;
  }

  private static String message(String option, String host, int port, Throwable cause) {
    String reason =
        cause instanceof java.nio.channels.UnresolvedAddressException
            ? "unresolved address"
            : String.valueOf(cause.getMessage());
    String hostOption = option.equals("port") ? "--host" : "--admin-host";
    String why;
    if (reason.contains("Address already in use")) {
      why =
          "the port is already in use by another process; stop that process or choose a free port"
              + " with --"
              + option;
    } else if (reason.contains("Cannot assign requested address")
        || reason.contains("Unresolved")
        || reason.contains("unresolved")) {
      why =
          "the address is not one of this machine's; use "
              + hostOption
              + " 0.0.0.0 (every interface), 127.0.0.1, or one of its addresses";
    } else if (reason.contains("Permission denied")) {
      why = "ports below 1024 need privileges; choose a port of 1024 or above with --" + option;
    } else {
      why = reason;
    }
    return "cannot listen on " + host + ":" + port + " (--" + option + "): " + why;
  }
}
