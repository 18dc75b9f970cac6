package io.handoff.server;

import java.util.regex.Pattern;

/**
 * Recognises the environment variables Kubernetes injects for every Service of a namespace
 * ("service links"): a Service named {@code handoff} gives each pod {@code HANDOFF_SERVICE_HOST},
 * {@code HANDOFF_SERVICE_PORT}, {@code HANDOFF_SERVICE_PORT_<PORTNAME>}, {@code
 * HANDOFF_PORT=tcp://10.0.0.11:8080} and {@code HANDOFF_PORT_8080_TCP}, {@code ..._PROTO}, {@code
 * ..._PORT}, {@code ..._ADDR}; a Service {@code handoff-admin} the same with {@code
 * HANDOFF_ADMIN_}. They share the node's {@code HANDOFF_} prefix but are no configuration, so they
 * are skipped instead of stopping the node as unknown variables, and a service-link value of {@code
 * HANDOFF_PORT} or {@code HANDOFF_ADMIN_PORT} ({@code tcp://...}) never becomes a port. Stateless.
 */
final class KubernetesServiceLinks {
  private static final Pattern SERVICE =
      Pattern.compile("HANDOFF_(?:[A-Z0-9_]+_)?SERVICE_(?:HOST|PORT(?:_[A-Z0-9_]+)?)");
  private static final Pattern PORT_DETAIL =
      Pattern.compile(
          "HANDOFF_(?:[A-Z0-9_]+_)?PORT_\\d+_(?:TCP|UDP|SCTP)(?:_(?:PROTO|PORT|ADDR))?");
  private static final Pattern PORT_URL = Pattern.compile("(?:tcp|udp|sctp)://[^\\s]+:\\d+");

  private KubernetesServiceLinks() {}

  /** True when {@code name=value} is a variable Kubernetes injects for a Service. */
  static boolean isServiceLink(String name, String value) {
    if (SERVICE.matcher(name).matches() || PORT_DETAIL.matcher(name).matches()) {
      return true;
    }
    return name.endsWith("_PORT") && value != null && PORT_URL.matcher(value.strip()).matches();
  }
}
