package io.handoff.client;

import java.net.URI;
import java.time.Duration;
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

  /**
   * The longest delay either client's timers wait: 2^31 - 1 ms (about 24.8 days), as JavaScript's.
   */
  static final Duration MAX_DELAY = Duration.ofMillis(Integer.MAX_VALUE);

  static final String UP_TO = "at most 2,147,483,647 ms (about 24.8 days)";

  /**
   * A delay of at least {@code min} and at most {@link #MAX_DELAY}, the range the TypeScript client
   * allows for the same option; compared as durations, so a huge one is refused, not overflowed.
   */
  static Duration checkDelay(Duration delay, Duration min, String message) {
    check(delay != null && delay.compareTo(min) >= 0 && delay.compareTo(MAX_DELAY) <= 0, message);
    return delay;
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
