package io.handoff.server;

import picocli.CommandLine.Option;

/**
 * The command-line options of where a node listens (the public listener and the management one), a
 * picocli mixin of {@link Main}: like every option, each also comes from its {@code HANDOFF_*}
 * variable or the configuration file. {@link #apply} checks them, together, through {@link
 * ServerConfig.Builder}, whose refusals Main rewords to name the option and the value.
 */
final class ListenOptions {
  @Option(names = "--port", defaultValue = "8080", description = "TCP port of WebSockets and /v1.")
  int port;

  @Option(names = "--host", defaultValue = "0.0.0.0", description = "Address to bind.")
  String host;

  @Option(
      names = "--admin-host",
      paramLabel = "HOST",
      description = "Address of the management listener.")
  String adminHost;

  @Option(
      names = "--admin-port",
      paramLabel = "PORT",
      description =
          "Serve /metrics, /healthz and /readyz on this port; /metrics then leaves --port.")
  Integer adminPort;

  /** Sets these options on {@code b}; a refusal names the option and the value. */
  void apply(Main main, ServerConfig.Builder b) {
    main.set("port", port, () -> b.port(port));
    b.host(host);
    if (adminHost == null && adminPort == null) {
      return;
    }
    if (adminPort == null) {
      throw new IllegalArgumentException(
          main.origin("admin-host") + " needs --admin-port (HANDOFF_ADMIN_PORT) too");
    }
    main.set(
        "admin-port",
        adminPort,
        () -> {
          // -1 is the builder's "none", not a port an operator may write.
          ServerConfig.Builder.checkArgument(
              adminPort >= 0, "admin port must be 0..65535, got " + adminPort);
          b.admin(adminHost, adminPort);
        });
    if (adminPort != 0
        && adminPort == port
        && overlap(host, adminHost == null ? host : adminHost)) {
      throw new IllegalArgumentException(
          main.origin("admin-port")
              + " is "
              + adminPort
              + ", the port "
              + main.origin("port")
              + " gives the public listener: give the management listener a port of its own");
    }
  }

  /** Whether listeners on the same port of these two addresses would take the same socket. */
  private static boolean overlap(String a, String b) {
    return a.equals(b) || wildcard(a) || wildcard(b);
  }

  private static boolean wildcard(String host) {
    return host.equals("0.0.0.0") || host.equals("::") || host.equals("[::]");
  }
}
