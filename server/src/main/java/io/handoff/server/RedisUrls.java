package io.handoff.server;

import java.net.ConnectException;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.UnknownHostException;
import java.util.List;
import java.util.Set;

/**
 * Checks {@code --redis-url} before connecting, so a malformed URL is reported as one and not as a
 * failed connection, and turns a failed connection into a sentence that names the host and the
 * reason. Stateless.
 */
final class RedisUrls {
  private static final Set<String> SCHEMES =
      Set.of("redis", "rediss", "redis-socket", "redis-sentinel", "rediss-sentinel");
  static final String ACCEPTED =
      "redis://host:port (rediss:// for TLS; redis://:password@host:port/db with a password)";

  private RedisUrls() {}

  /**
   * @throws IllegalArgumentException naming {@code source} and the value when {@code url} is not a
   *     Redis URL (a cluster's seed nodes may also be {@code host:port}, comma-separated)
   */
  static void check(String source, String url, boolean cluster) {
    if (!cluster && url.contains(",") && seedList(url)) {
      throw new IllegalArgumentException(
          source
              + ": '"
              + masked(url)
              + "' lists several Redis nodes, which only a Redis Cluster's seed nodes are: add"
              + " --redis-cluster (HANDOFF_REDIS_CLUSTER=true), or give the one standalone Redis"
              + " as "
              + ACCEPTED);
    }
    List<String> parts = cluster ? List.of(url.split(",")) : List.of(url);
    for (String part : parts) {
      String u = part.strip();
      if (cluster && !u.contains("://")) {
        u = "redis://" + u;
      }
      String problem = problem(u);
      if (problem != null) {
        // The text may hold a password (one with an @ or a / is what makes it malformed): the
        // message, which ends up in logs, shows everything but what precedes the host.
        throw new IllegalArgumentException(
            source
                + ": '"
                + masked(part)
                + "' is not a Redis URL ("
                + problem
                + "); expected "
                + (cluster ? "seed nodes, comma-separated, each " : "")
                + ACCEPTED
                + ", e.g. redis://localhost:6379"
                + (part.contains("@")
                    ? "; percent-encode @, /, :, commas and spaces in a password (%40, %2F, %3A,"
                        + " %2C, %20)"
                    : ""));
      }
    }
  }

  /** Whether every comma-separated part of {@code url} is a Redis node by itself. */
  private static boolean seedList(String url) {
    for (String part : url.split(",")) {
      String u = part.strip();
      if (problem(u.contains("://") ? u : "redis://" + u) != null) {
        return false;
      }
    }
    return true;
  }

  /**
   * {@code url} with what comes between the scheme and the last {@code @} (user, password) hidden.
   */
  static String masked(String url) {
    int scheme = url.indexOf("://");
    int start = scheme < 0 ? 0 : scheme + 3;
    int at = url.lastIndexOf('@');
    return at < start ? url : url.substring(0, start) + "****" + url.substring(at);
  }

  private static String problem(String url) {
    URI uri;
    try {
      uri = new URI(url);
    } catch (URISyntaxException e) {
      return e.getReason();
    }
    if (uri.getScheme() == null || !SCHEMES.contains(uri.getScheme().toLowerCase())) {
      return uri.getScheme() == null
          ? "no scheme"
          : "scheme '"
              + uri.getScheme()
              + "' is not one of "
              + String.join(", ", SCHEMES.stream().sorted().toList());
    }
    if (!uri.getScheme().equals("redis-socket")
        && (uri.getHost() == null || uri.getHost().isEmpty())) {
      return "no host";
    }
    return null;
  }

  /** Why connecting to {@code url} failed, in one line: unknown host, refused, timed out. */
  static String connectFailure(String source, String url, Throwable e) {
    Throwable root = e;
    String reason = null;
    for (Throwable t = e; t != null; t = t.getCause()) {
      root = t;
      if (t instanceof UnknownHostException) {
        reason = "unknown host " + hostOf(url) + " (the name does not resolve)";
        break;
      }
      if (t instanceof ConnectException) {
        reason = "connection refused: is Redis running and listening there?";
        break;
      }
      String m = String.valueOf(t.getMessage());
      if (m.contains("NOAUTH") || m.contains("WRONGPASS")) {
        reason = "Redis refused the password: " + m;
        break;
      }
    }
    if (reason == null) {
      reason = root.getMessage() == null ? root.toString() : root.getMessage();
    }
    return "cannot connect to Redis at "
        + url.replaceAll(":[^:@/]*@", ":****@")
        + " ("
        + source
        + "): "
        + reason;
  }

  private static String hostOf(String url) {
    try {
      String host = new URI(url.contains("://") ? url : "redis://" + url).getHost();
      return host == null ? url : host;
    } catch (URISyntaxException e) {
      return url;
    }
  }
}
