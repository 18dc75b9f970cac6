package io.handoff.client;

import java.net.URI;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;

/** The checks of {@link HandoffClient.Builder}'s setters: each names the setting it refuses. */
final class BuilderChecks {
  private BuilderChecks() {}

  static void check(boolean condition, String message) {
    if (!condition) {
      throw new IllegalArgumentException(message);
    }
  }

  static URI checkUrl(URI url) {
    check(url != null, "url must not be null");
    String scheme = url.getScheme();
    check(
        "ws".equalsIgnoreCase(scheme) || "wss".equalsIgnoreCase(scheme),
        "url must be ws:// or wss://, was " + url);
    check(url.getHost() != null, "url must name a host, was " + url);
    return url;
  }

  static List<URI> checkUrls(List<URI> urls) {
    check(urls != null && !urls.isEmpty(), "urls must not be empty");
    List<URI> checked = new ArrayList<>(urls.size());
    for (URI url : urls) {
      checked.add(checkUrl(url));
    }
    check(new HashSet<>(checked).size() == checked.size(), "urls must not repeat, were " + urls);
    return checked;
  }
}
