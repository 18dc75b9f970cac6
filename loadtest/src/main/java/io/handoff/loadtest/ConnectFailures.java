package io.handoff.loadtest;

import java.net.URI;
import java.util.List;
import java.util.stream.Collectors;

/**
 * Turns a client's first connection failure ({@code "1006 could not connect: Connection refused:
 * ..."}, {@code "4502 WebSocket upgrade refused with HTTP 401 Unauthorized: bad token signature"})
 * into a sentence that says what is wrong and what to do. Stateless.
 */
final class ConnectFailures {
  private ConnectFailures() {}

  static String describe(String failure, List<URI> urls) {
    String where = urls.stream().map(URI::toString).collect(Collectors.joining(", "));
    if (failure == null) {
      return "no answer from " + where + " within the connect timeout";
    }
    String reason = failure.replaceFirst("^\\d+ ", "");
    if (reason.contains("Connection refused")) {
      return "connection refused by "
          + where
          + ": no server is listening there; start it, or check --url";
    }
    if (reason.contains("HTTP 401") || reason.contains("HTTP 403")) {
      String why = reason.replaceFirst("^.*HTTP 40[13] [A-Za-z ]+(: )?", "");
      return "the server refused the token ("
          + (why.isEmpty() ? reason : why)
          + "); --jwt-secret (or HANDOFF_JWT_SECRET) must be the server's secret";
    }
    if (reason.contains("UnknownHost") || reason.contains("Unresolved")) {
      return "cannot resolve the host of " + where + ": " + reason;
    }
    return reason + " (" + where + ")";
  }
}
