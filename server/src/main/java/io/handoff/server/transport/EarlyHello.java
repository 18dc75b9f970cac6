package io.handoff.server.transport;

import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import io.handoff.protocol.v1.ClientFrame;
import io.netty.channel.Channel;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.util.AttributeKey;
import java.util.Base64;
import java.util.List;

/**
 * The Hello sent with the WebSocket upgrade instead of as the first frame (docs/protocol.md, "A
 * Hello in the upgrade"): the device's first {@link ClientFrame}, base64url, in the {@value
 * #HEADER} header or the {@value #PARAMETER} query parameter (a browser can set no header), with
 * the subprotocol {@value #SUBPROTOCOL} offered. The node then answers the 101 with that
 * subprotocol, reads the frame as if it had come first, and its Welcome leaves with the 101. The
 * device saves a round trip; in a reconnect storm each side saves a write and a read per device. A
 * device that finds the subprotocol missing from the 101 (a node that does not know it) sends its
 * Hello as a frame. Stateless.
 */
final class EarlyHello {
  static final String SUBPROTOCOL = "handoff.hello";
  static final String HEADER = "handoff-hello";
  static final String PARAMETER = "hello";

  /** The frame an upgrade carried, from its check to the connection handler. */
  static final AttributeKey<ClientFrame> FRAME = AttributeKey.valueOf("handoff.earlyHello");

  private EarlyHello() {}

  /** A Hello in the upgrade that cannot be used; the message says why, for a person. */
  static final class Unusable extends RuntimeException {
    /** The answer's error: {@code invalid_hello}, or {@code frame_too_large} (see {@link #of}). */
    final String error;

    Unusable(String message) {
      this("invalid_hello", message);
    }

    Unusable(String error, String message) {
      super(message, null, false, false);
      this.error = error;
    }
  }

  /**
   * Whether the upgrade of {@code ch} carried a Hello. Asks without {@code attr(FRAME)}, which
   * would leave an empty entry on every connection that carried none.
   */
  static boolean carried(Channel ch) {
    return ch.hasAttr(FRAME) && ch.attr(FRAME).get() != null;
  }

  /**
   * The frame the upgrade of {@code ch} carried, taken: removed, not set to null, so that a
   * connection keeps no entry for it. Null if none.
   */
  @SuppressWarnings("deprecation") // getAndRemove: as the principal is taken.
  static ClientFrame take(Channel ch) {
    return ch.hasAttr(FRAME) ? ch.attr(FRAME).getAndRemove() : null;
  }

  /**
   * Whether {@code frame}, the first after the 101, is the Hello the upgrade carried again ({@code
   * answered} its {@link #fingerprint}, 0 if the upgrade carried none or something came between): a
   * client that did not see the subprotocol in the 101 (something between removed it) sends the
   * Hello it put in the upgrade again, as a frame. It was answered already (its Welcome, or its
   * Error), and is answered with nothing: not {@code UNEXPECTED_FRAME}, which the client would take
   * as a refusal of its Hello when it comes before the Welcome. Any other frame, and a Hello that
   * differs, goes on as usual. The connection keeps the fingerprint until its next frame, or until
   * the node pings it (a client sends the Hello again as soon as it reads the 101, long before a
   * silent heartbeat interval ends).
   */
  static boolean repeats(int answered, ClientFrame frame) {
    return answered != 0 && frame.hasHello() && fingerprint(frame) == answered;
  }

  /**
   * {@code frame}'s encoded size and the hash of its encoding in an int, never 0: the same frame
   * sent twice has the same fingerprint, and two Hellos of one device that differ (another follow
   * set, another position) have the same one with a chance of about one in 2^32. Of the encoding,
   * not {@link ClientFrame#hashCode}: a message's own hash goes through protobuf's descriptors,
   * which it builds on first use, about 400 KB that a node otherwise never holds.
   */
  static int fingerprint(ClientFrame frame) {
    ByteString encoded = frame.toByteString();
    int f = 31 * encoded.hashCode() + encoded.size();
    return f == 0 ? 1 : f;
  }

  /**
   * The Hello frame {@code headers} and {@code uri} carry, or null if they carry none.
   *
   * @throws IllegalArgumentException if the query has a malformed percent-escape
   * @throws Unusable with a message for the device's developer when the frame is there but
   *     unusable: twice, without the subprotocol, not base64url, larger than {@code maxFrameBytes}
   *     (the bound of a frame: {@code frame_too_large}, as a frame that size is refused with
   *     FRAME_TOO_LARGE), not a ClientFrame, or a frame other than a Hello
   */
  static ClientFrame of(HttpHeaders headers, QueryStringDecoder uri, int maxFrameBytes) {
    // Most upgrades carry none: no list or map made for them.
    List<String> inHeader = headers.contains(HEADER) ? headers.getAll(HEADER) : List.of();
    List<String> inQuery = uri.rawQuery().isEmpty() ? null : uri.parameters().get(PARAMETER);
    int count = inHeader.size() + (inQuery == null ? 0 : inQuery.size());
    if (count == 0) {
      if (offered(headers)) {
        throw new Unusable(
            "the subprotocol "
                + SUBPROTOCOL
                + " is offered without a Hello (the "
                + HEADER
                + " header or the "
                + PARAMETER
                + " parameter): offer it only with one");
      }
      return null;
    }
    if (count > 1) {
      throw new Unusable(
          "the upgrade carries "
              + count
              + " Hellos (the "
              + HEADER
              + " header and the "
              + PARAMETER
              + " parameter together make one place): send one");
    }
    if (!offered(headers)) {
      throw new Unusable(
          "a Hello in the upgrade needs the subprotocol "
              + SUBPROTOCOL
              + " offered (Sec-WebSocket-Protocol), so that the 101 can say it was read");
    }
    String text = (inHeader.isEmpty() ? inQuery.get(0) : inHeader.get(0)).strip();
    if (text.isEmpty()) {
      throw new Unusable(
          "the Hello in the upgrade is empty: send the base64url of the whole ClientFrame, or no "
              + HEADER
              + " header, "
              + PARAMETER
              + " parameter or subprotocol and the Hello as the first frame");
    }
    byte[] bytes;
    try {
      bytes = Base64.getUrlDecoder().decode(text);
    } catch (IllegalArgumentException e) {
      throw new Unusable(
          "the Hello in the upgrade is not base64url (RFC 4648 section 5): "
              + e.getMessage()
              + (standardAlphabet(text)
                  ? " (base64url has '-' and '_' where standard base64 has '+' and '/'; a '+' in"
                      + " the query reads as a space)"
                  : ""));
    }
    if (bytes.length > maxFrameBytes) {
      throw new Unusable(
          "frame_too_large",
          "the Hello in the upgrade is a frame larger than "
              + maxFrameBytes
              + " bytes (the node's max-frame-bytes, the bound of every frame a device sends): it"
              + " has "
              + bytes.length);
    }
    ClientFrame frame;
    try {
      frame = ClientFrame.parseFrom(bytes);
    } catch (InvalidProtocolBufferException e) {
      throw new Unusable("the Hello in the upgrade is no ClientFrame: " + e.getMessage());
    }
    if (!frame.hasHello()) {
      throw new Unusable("the frame in the upgrade must be a Hello, not " + frame.getBodyCase());
    }
    return frame;
  }

  /** Whether {@code text} has a character of standard base64 that base64url has not. */
  private static boolean standardAlphabet(String text) {
    return text.indexOf('+') >= 0 || text.indexOf('/') >= 0 || text.indexOf(' ') >= 0;
  }

  /**
   * Keeps {@code hello}, the frame the upgrade request of {@code ch} carries (null: none), for the
   * connection handler, in place of one an earlier request on the connection carried: a request
   * refused with 426 (another WebSocket version) leaves the connection open for the next, and its
   * Hello was never read. With a Hello, {@code headers} offer {@value #SUBPROTOCOL} alone: the node
   * selects no other, and Netty's handshaker reads only the first {@code Sec-WebSocket-Protocol}
   * header where RFC 6455 section 11.3.4 makes several one list.
   */
  static void keep(Channel ch, HttpHeaders headers, ClientFrame hello) {
    if (hello == null) {
      take(ch);
      return;
    }
    ch.attr(FRAME).set(hello);
    headers.set(HttpHeaderNames.SEC_WEBSOCKET_PROTOCOL, SUBPROTOCOL);
  }

  /** Whether the request offers {@value #SUBPROTOCOL} among its subprotocols. */
  static boolean offered(HttpHeaders headers) {
    if (!headers.contains(HttpHeaderNames.SEC_WEBSOCKET_PROTOCOL)) {
      return false;
    }
    for (String value : headers.getAll(HttpHeaderNames.SEC_WEBSOCKET_PROTOCOL)) {
      for (String part : value.split(",")) {
        if (part.strip().equals(SUBPROTOCOL)) {
          return true;
        }
      }
    }
    return false;
  }
}
