package io.handoff.loadtest;

import io.handoff.client.HandoffClient;
import io.netty.util.concurrent.ScheduledFuture;
import java.net.URI;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * A {@link LeanLink}'s bound on the wait for the Welcome after a 101, as the Java client's (its
 * connect timeout, from the upgrade): a node that upgraded the connection and then never answers
 * the Hello (its store hung, the frame lost on the way) would otherwise hold the device for the
 * rest of the run, and a run's "all resumed" would wait for it without saying why. Past the bound
 * the device counts an error with a message that says so, and the connection is cut as a network
 * failure (1006), which the link retries after its usual backoff on the next URL. Before the 101
 * the connection's own handshake timeout bounds the attempt ({@code ClientWire}).
 *
 * <p>Event loop of the connection only.
 */
final class WelcomeWait {
  /**
   * The longest wait: the Java client's default connect timeout, which the load tester's client
   * devices keep.
   */
  static final Duration MAX_TIMEOUT = HandoffClient.DEFAULT_CONNECT_TIMEOUT;

  private final Duration timeout;

  /** Waits {@link #MAX_TIMEOUT}, or {@code connectTimeout} if the run's is shorter. */
  WelcomeWait(Duration connectTimeout) {
    if (connectTimeout.isNegative() || connectTimeout.isZero()) {
      throw new IllegalArgumentException("connect timeout must be positive: " + connectTimeout);
    }
    this.timeout = connectTimeout.compareTo(MAX_TIMEOUT) < 0 ? connectTimeout : MAX_TIMEOUT;
  }

  /**
   * The connection {@code c} of {@code device} to {@code url} was upgraded: its Welcome is awaited
   * from now.
   */
  void start(LeanConnection c, Device device, URI url) {
    c.welcomeTimer =
        c.channel
            .eventLoop()
            .schedule(
                () -> {
                  c.welcomeTimer = null;
                  if (!c.welcomed && c.channel.isOpen()) {
                    String why = "no Welcome within " + timeout.toMillis() + " ms of the 101";
                    device.serverError(why + " from " + url + "; reconnecting");
                    c.giveUp(why);
                  }
                },
                timeout.toNanos(),
                TimeUnit.NANOSECONDS);
  }

  /** The Welcome came, or the connection ended: the wait is over. */
  static void over(LeanConnection c) {
    ScheduledFuture<?> timer = c.welcomeTimer;
    if (timer != null) {
      c.welcomeTimer = null;
      timer.cancel(false);
    }
  }
}
