package io.handoff.client;

import io.handoff.client.internal.Handshake;
import io.handoff.client.internal.UpgradeFailedException;
import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.ClientFrame;
import java.net.URI;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;

/**
 * Which of a {@link SyncEngine}'s URLs get the Hello in the upgrade request (docs/protocol.md, "A
 * Hello in the upgrade"), learned per client and URL, in memory, as the TypeScript client's {@code
 * EarlyHellos}. Every URL gets it at first: this client takes a 101 without the subprotocol (the
 * node did not read it, and the Hello goes as a frame), so, unlike a browser, it needs no Welcome's
 * word first. Then a URL gets it while its node's latest Welcome said it reads it ({@code
 * hello_in_upgrade}, or it read that attempt's): a node that does not stops costing the header. An
 * attempt carrying it that fails in a way that points at the Hello ({@link Attempt#ended}) makes
 * the next attempt to that URL send it as a frame, whose Welcome says again; a 400 (or a 431 or
 * 414: {@link #pointsAtHello}), or {@link #MAX_FAILURES} such failures in a row with no attempt
 * carrying it welcomed between them, end it for that URL for the client's life.
 *
 * <p>Bounded: one entry per configured URL at most. Event loop only.
 */
final class EarlyHellos {
  /**
   * Attempts carrying the Hello that may fail in a row before their URL gets it no more: a node
   * that refuses it every time (behind something that takes the subprotocol for itself) would
   * otherwise have every other attempt wait out the connect timeout.
   */
  static final int MAX_FAILURES = 3;

  // URLs whose next attempt sends the Hello as a frame: after a failure, or a Welcome that said
  // the node does not read it in the upgrade.
  private final Set<URI> asFrame = new HashSet<>();
  // Per URL, attempts carrying the Hello that failed since one was welcomed.
  private final Map<URI, Integer> failures = new HashMap<>();

  /** A connection attempt to {@code url}. */
  Attempt attempt(URI url) {
    return new Attempt(url);
  }

  /** Whether the next attempt to {@code url} carries the Hello in its upgrade. */
  boolean offers(URI url) {
    return !asFrame.contains(url);
  }

  private void welcomed(URI url, boolean helloInUpgrade, boolean read) {
    if (read) {
      failures.remove(url);
    }
    if ((helloInUpgrade || read) && failures.getOrDefault(url, 0) < MAX_FAILURES) {
      asFrame.remove(url);
    } else {
      asFrame.add(url);
    }
  }

  private void failed(URI url, boolean refused) {
    asFrame.add(url);
    failures.merge(
        url, refused ? MAX_FAILURES : 1, (was, add) -> Math.min(MAX_FAILURES, was + add));
  }

  /**
   * Whether a refusal of an upgrade that carried the Hello with {@code status} ends it for the URL:
   * 400 (the node's {@code invalid_hello}, or a request something found malformed or too large),
   * 431 Request Header Fields Too Large and 414 URI Too Long (a proxy with a smaller limit than the
   * node's: the next request, without the Hello, is smaller).
   */
  static boolean pointsAtHello(int status) {
    return status == 400 || status == 414 || status == 431;
  }

  /** One connection attempt, as far as the Hello in its upgrade goes. */
  final class Attempt {
    private final URI url;
    // The Hello the upgrade request carried, null if none: the very frame to send again after a 101
    // that does not say it was read.
    private ClientFrame carried;
    private boolean opened;
    private boolean read;
    // Whether the attempt's outcome for the Hello is known: welcomed, refused by the node, ended.
    private boolean settled;

    private Attempt(URI url) {
      this.url = url;
    }

    /**
     * The Hello for the upgrade request, built by {@code hello} now, or null when it goes as a
     * frame (the URL gets it no more for now, or it is over {@link
     * Handshake#MAX_EARLY_HELLO_BYTES}).
     */
    ClientFrame hello(Supplier<ClientFrame> hello) {
      if (!offers(url)) {
        return null;
      }
      ClientFrame frame = hello.get();
      carried = frame.getSerializedSize() <= Handshake.MAX_EARLY_HELLO_BYTES ? frame : null;
      return carried;
    }

    /**
     * The Hello to send as the first frame after a 101 that did not select the subprotocol: the one
     * the upgrade carried, the very frame, or one built by {@code hello} now if it carried none.
     * Something between may have dropped the subprotocol from the 101 of a node that did read the
     * Hello in the upgrade; that node answers nothing only to the same Hello again, and {@code
     * UNEXPECTED_FRAME} to any other (docs/protocol.md, "A Hello in the upgrade").
     */
    ClientFrame unread(Supplier<ClientFrame> hello) {
      return carried != null ? carried : hello.get();
    }

    /** The 101 came; {@code helloRead}: it selected the subprotocol, saying the Hello was read. */
    void opened(boolean helloRead) {
      opened = true;
      read = carried != null && helloRead;
    }

    /** The Welcome came, saying whether its node reads a Hello in the upgrade. */
    void welcomed(boolean helloInUpgrade) {
      settled = true;
      EarlyHellos.this.welcomed(url, helloInUpgrade, read);
    }

    /** The node refused the Hello with an Error: it read it, so it points at nothing between. */
    void refused() {
      settled = true;
    }

    /**
     * The attempt ended with {@code closeCode} (the node's Disconnect's, if it sent one) and {@code
     * cause}, before or after its Welcome. One carrying the Hello failed in a way that points at
     * the Hello if the upgrade was refused with 400 (the node's {@code invalid_hello}, or something
     * between that mangled the header or found the request too large), 431 or 414 (something
     * between with a smaller limit on headers, or on the URI, than the node's), or if the 101 said
     * the Hello was read and no Welcome came: the attempt ended without a close of the node's own
     * (the connect timeout's wait for the Welcome, 1006, a standard code), or with {@code
     * IDLE_TIMEOUT} (4002), which a node sends before the Welcome only when it has no Hello (its
     * handshake limit), and this client only when nothing at all came after the 101. Something
     * between that took the subprotocol for itself kept the Hello from the node. Any other refusal
     * (401, 429, 503) or failure before the 101 says nothing about the Hello.
     */
    void ended(int closeCode, Throwable cause) {
      if (carried == null || settled) {
        return;
      }
      settled = true;
      if (!opened) {
        if (cause instanceof UpgradeFailedException refusal && pointsAtHello(refusal.status())) {
          failed(url, true);
        }
      } else if (read
          && (!CloseCode.isHandoffCode(closeCode) || closeCode == CloseCode.IDLE_TIMEOUT.code())) {
        failed(url, false);
      }
    }
  }
}
