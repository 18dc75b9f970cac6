package io.handoff.client.internal;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The client side of the RFC 6455 opening handshake (version 13, no extension, no subprotocol but
 * the one that carries a Hello in the upgrade, docs/protocol.md), written and read as bytes: the
 * request is one buffer (a prefix made once per endpoint, then the attempt's key and token), and
 * the response is read in place from the bytes that arrived. A reconnect storm upgrades thousands
 * of connections at once; Netty's client handshaker cost each an HTTP codec, an aggregator, a
 * request and a response object with their header maps, and two rounds of pipeline changes (see
 * docs/decisions.md).
 *
 * <p>What is checked in a 101 (section 4.1 of the RFC): {@code Upgrade: websocket}, {@code
 * Connection} naming {@code upgrade}, {@code Sec-WebSocket-Accept} matching the key, and no
 * extension or subprotocol the request did not ask for. Any other status is a refusal: its body (up
 * to its {@code Content-Length}) is read for the server's reason. Every response is bounded by
 * {@link #MAX_RESPONSE_BYTES}. Immutable and thread-safe.
 */
public final class Handshake {
  /** Largest upgrade response read: status line, headers and a refusal's body. */
  public static final int MAX_RESPONSE_BYTES = 64 * 1024;

  private static final String GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  private static final int MAX_REASON_CHARS = 300;
  private static final Pattern MESSAGE =
      Pattern.compile("\"message\"\\s*:\\s*\"((?:[^\"\\\\]|\\\\.)*)\"");
  private static final byte[] KEY_END_BEARER =
      "\r\nAuthorization: Bearer ".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] END = "\r\n\r\n".getBytes(StandardCharsets.US_ASCII);

  /** The subprotocol offered with a Hello in the upgrade, and answered when the node read it. */
  public static final String HELLO_SUBPROTOCOL = "handoff.hello";

  /**
   * The largest Hello frame sent in the upgrade, in bytes (base64url makes it a third longer); a
   * larger one goes as the first frame, so that the request stays well inside a node's header limit
   * (8 KB by default) with the token beside it.
   */
  public static final int MAX_EARLY_HELLO_BYTES = 1536;

  private static final byte[] HELLO_HEADERS =
      ("\r\nSec-WebSocket-Protocol: " + HELLO_SUBPROTOCOL + "\r\nHandoff-Hello: ")
          .getBytes(StandardCharsets.US_ASCII);

  /** What {@link #read} found: the response is incomplete. */
  public static final int INCOMPLETE = 0;

  /** What {@link #read} found: a valid 101. */
  public static final int OPEN = 1;

  /** What {@link #read} found: a valid 101 that says the node read the Hello of the request. */
  public static final int OPEN_HELLO_READ = 2;

  private static final ThreadLocal<MessageDigest> SHA1 =
      ThreadLocal.withInitial(
          () -> {
            try {
              return MessageDigest.getInstance("SHA-1");
            } catch (NoSuchAlgorithmException e) {
              throw new IllegalStateException("SHA-1 is required of every Java platform", e);
            }
          });

  // "GET <path> HTTP/1.1 ... Sec-WebSocket-Key: ": everything before the attempt's key.
  private final byte[] head;

  /** The handshake for {@code uri} ({@code ws://} or {@code wss://}). */
  public Handshake(URI uri) {
    boolean secure = "wss".equalsIgnoreCase(uri.getScheme());
    int port = uri.getPort();
    boolean defaultPort = port < 0 || port == (secure ? 443 : 80);
    // toASCIIString: characters beyond ASCII, which a URI may hold raw, percent-encoded (UTF-8).
    URI ascii = URI.create(uri.toASCIIString());
    String path =
        ascii.getRawPath() == null || ascii.getRawPath().isEmpty() ? "/" : ascii.getRawPath();
    if (ascii.getRawQuery() != null) {
      path += "?" + ascii.getRawQuery();
    }
    String text =
        "GET "
            + path
            + " HTTP/1.1\r\n"
            + "Host: "
            + uri.getHost()
            + (defaultPort ? "" : ":" + port)
            + "\r\n"
            + "Upgrade: websocket\r\n"
            + "Connection: Upgrade\r\n"
            + "Sec-WebSocket-Version: 13\r\n"
            + "Sec-WebSocket-Key: ";
    checkHeaderText(path + uri.getHost(), "the URL");
    this.head = text.getBytes(StandardCharsets.US_ASCII);
  }

  /** A new {@code Sec-WebSocket-Key}: 16 random bytes, base64 (RFC 6455 section 4.1). */
  public static String newKey() {
    byte[] nonce = new byte[16];
    ThreadLocalRandom.current().nextBytes(nonce);
    return Base64.getEncoder().encodeToString(nonce);
  }

  /** The {@code Sec-WebSocket-Accept} a server answers to {@code key} (section 4.2.2). */
  public static String accept(String key) {
    MessageDigest sha1 = SHA1.get();
    sha1.reset();
    return Base64.getEncoder()
        .encodeToString(sha1.digest((key + GUID).getBytes(StandardCharsets.US_ASCII)));
  }

  /**
   * The upgrade request of one attempt, with {@code token} as {@code Authorization: Bearer} (none
   * if null) and {@code hello}, an encoded Hello frame, in the {@code Handoff-Hello} header with
   * the subprotocol {@value #HELLO_SUBPROTOCOL} offered (none if null; at most {@link
   * #MAX_EARLY_HELLO_BYTES}).
   *
   * @throws InvalidTokenException if the token holds characters a header cannot carry
   */
  public ByteBuf request(ByteBufAllocator alloc, String key, String token, byte[] hello) {
    if (token != null) {
      String problem = headerTextProblem(token, "the token");
      if (problem != null) {
        throw new InvalidTokenException(problem);
      }
    }
    if (hello != null && hello.length > MAX_EARLY_HELLO_BYTES) {
      throw new IllegalArgumentException(
          "a Hello of " + hello.length + " bytes is over " + MAX_EARLY_HELLO_BYTES);
    }
    byte[] helloText = hello == null ? null : Base64.getUrlEncoder().withoutPadding().encode(hello);
    int size = head.length + key.length() + END.length;
    if (token != null) {
      size += KEY_END_BEARER.length + token.length();
    }
    if (helloText != null) {
      size += HELLO_HEADERS.length + helloText.length;
    }
    ByteBuf b = alloc.buffer(size);
    b.writeBytes(head).writeCharSequence(key, StandardCharsets.US_ASCII);
    if (token != null) {
      b.writeBytes(KEY_END_BEARER).writeCharSequence(token, StandardCharsets.US_ASCII);
    }
    if (helloText != null) {
      b.writeBytes(HELLO_HEADERS).writeBytes(helloText);
    }
    b.writeBytes(END);
    return b;
  }

  /**
   * Reads the response to the request made with {@code key} (with a Hello in it if {@code
   * helloSent}) from {@code in}'s reader index. Returns {@link #INCOMPLETE} while it is incomplete
   * (nothing consumed). Returns {@link #OPEN} for a valid 101, or {@link #OPEN_HELLO_READ} for one
   * that answers the Hello's subprotocol, with the reader index moved past it: what follows is
   * WebSocket frames.
   *
   * @throws UpgradeFailedException for any other status (a refusal), a 101 that is no valid answer,
   *     or a response over {@link #MAX_RESPONSE_BYTES}
   */
  public static int read(ByteBuf in, String key, boolean helloSent) throws UpgradeFailedException {
    int start = in.readerIndex();
    int end = headEnd(in, start, in.writerIndex());
    if (end < 0) {
      tooLong(in.readableBytes());
      return INCOMPLETE;
    }
    String[] lines = lines(in.toString(start, end - start, StandardCharsets.ISO_8859_1));
    String statusLine = lines[0];
    int status = status(statusLine);
    if (status != 101) {
      int length = contentLength(lines);
      int available = in.writerIndex() - end - 4;
      if (length > available) {
        tooLong(end + 4 - start + length);
        return INCOMPLETE;
      }
      String body = in.toString(end + 4, Math.min(available, 4096), StandardCharsets.UTF_8).strip();
      String phrase = statusLine.length() > 9 ? statusLine.substring(9).strip() : "" + status;
      throw new UpgradeFailedException(
          status, "WebSocket upgrade refused with HTTP " + phrase, reason(body), retryAfter(lines));
    }
    // Header lines of one name make one list (RFC 7230 3.2.2): any line may hold the token.
    boolean upgrade = false;
    boolean connection = false;
    String accept = null;
    boolean helloRead = false;
    for (int i = 1; i < lines.length; i++) {
      String line = lines[i];
      int colon = line.indexOf(':');
      if (colon <= 0) {
        continue;
      }
      String name = line.substring(0, colon).strip();
      String value = line.substring(colon + 1).strip();
      if (name.equalsIgnoreCase("upgrade")) {
        upgrade |= value.equalsIgnoreCase("websocket");
      } else if (name.equalsIgnoreCase("connection")) {
        connection |= hasToken(value, "upgrade");
      } else if (name.equalsIgnoreCase("sec-websocket-accept")) {
        accept = value;
      } else if (name.equalsIgnoreCase("sec-websocket-protocol")
          && helloSent
          && !helloRead
          && value.equals(HELLO_SUBPROTOCOL)) {
        helloRead = true;
      } else if (name.equalsIgnoreCase("sec-websocket-extensions")
          || name.equalsIgnoreCase("sec-websocket-protocol")) {
        throw invalid(name + " " + value + " was not asked for");
      }
    }
    if (!upgrade) {
      throw invalid("no Upgrade: websocket");
    }
    if (!connection) {
      throw invalid("no Connection: upgrade");
    }
    if (accept == null || !accept.equals(accept(key))) {
      throw invalid("Sec-WebSocket-Accept " + accept + " does not match the key sent");
    }
    in.readerIndex(end + 4);
    return helloRead ? OPEN_HELLO_READ : OPEN;
  }

  /**
   * The lines of a response head (which holds no empty line: it ends at the first). Not {@code
   * split("\r\n")}: a separator of two characters takes String.split's regex path, a pattern
   * compiled for every connection, which a reconnect storm of thousands paid in CPU and JIT work.
   */
  static String[] lines(String head) {
    List<String> out = new ArrayList<>(8);
    int from = 0;
    for (int at; (at = head.indexOf("\r\n", from)) >= 0; from = at + 2) {
      out.add(head.substring(from, at));
    }
    out.add(head.substring(from));
    return out.toArray(new String[0]);
  }

  /** The index of the {@code \r\n\r\n} that ends the head in {@code [from, to)}, or -1. */
  private static int headEnd(ByteBuf in, int from, int to) {
    for (int i = from; i + 3 < to; i++) {
      if (in.getByte(i) == '\r'
          && in.getByte(i + 1) == '\n'
          && in.getByte(i + 2) == '\r'
          && in.getByte(i + 3) == '\n') {
        return i;
      }
    }
    return -1;
  }

  private static void tooLong(int bytes) throws UpgradeFailedException {
    if (bytes > MAX_RESPONSE_BYTES) {
      throw new UpgradeFailedException(
          0, "the upgrade response is over " + MAX_RESPONSE_BYTES + " bytes", null);
    }
  }

  private static int status(String statusLine) throws UpgradeFailedException {
    if (statusLine.startsWith("HTTP/1.") && statusLine.length() >= 12) {
      try {
        return Integer.parseInt(statusLine, 9, 12, 10);
      } catch (NumberFormatException e) {
        // Reported below.
      }
    }
    throw new UpgradeFailedException(
        0, "the upgrade response is not HTTP/1.x: " + shorten(statusLine), null);
  }

  private static int contentLength(String[] lines) throws UpgradeFailedException {
    for (int i = 1; i < lines.length; i++) {
      String line = lines[i];
      int colon = line.indexOf(':');
      if (colon > 0 && line.substring(0, colon).strip().equalsIgnoreCase("content-length")) {
        try {
          return Math.max(0, Integer.parseInt(line.substring(colon + 1).strip()));
        } catch (NumberFormatException e) {
          throw new UpgradeFailedException(0, "a bad Content-Length: " + shorten(line), null);
        }
      }
    }
    return 0;
  }

  /**
   * A refusal's {@code Retry-After} in milliseconds when it is in seconds (RFC 9110 10.2.3, as the
   * node sends it), else -1: absent, or an HTTP date (which would need the server's clock).
   */
  static long retryAfter(String[] lines) {
    for (int i = 1; i < lines.length; i++) {
      String line = lines[i];
      int colon = line.indexOf(':');
      if (colon > 0 && line.substring(0, colon).strip().equalsIgnoreCase("retry-after")) {
        String value = line.substring(colon + 1).strip();
        if (value.isEmpty()
            || value.length() > 9
            || !value.chars().allMatch(c -> c >= '0' && c <= '9')) {
          return -1;
        }
        return Long.parseLong(value) * 1000;
      }
    }
    return -1;
  }

  private static boolean hasToken(String value, String token) {
    for (String part : value.split(",")) {
      if (part.strip().equalsIgnoreCase(token)) {
        return true;
      }
    }
    return false;
  }

  private static UpgradeFailedException invalid(String problem) {
    return new UpgradeFailedException(101, "invalid WebSocket upgrade response: " + problem, null);
  }

  /** The {@code message} of a JSON error body, or the body itself; null if empty. */
  private static String reason(String body) {
    Matcher m = MESSAGE.matcher(body);
    String reason = m.find() ? m.group(1).replace("\\\"", "\"") : body;
    return reason.isEmpty() ? null : shorten(reason);
  }

  private static String shorten(String s) {
    return s.length() > MAX_REASON_CHARS ? s.substring(0, MAX_REASON_CHARS) : s;
  }

  /**
   * Checks an access token before an attempt uses it: it must be non-empty printable ASCII without
   * spaces, as {@link #request} sends it. The token itself is never part of the message.
   *
   * @throws InvalidTokenException if it is empty or holds a character a header cannot carry
   */
  public static void checkToken(String token) {
    if (token.isEmpty()) {
      throw new InvalidTokenException("the token is empty");
    }
    String problem = headerTextProblem(token, "the token");
    if (problem != null) {
      throw new InvalidTokenException(problem);
    }
  }

  /** Refuses anything but printable ASCII without spaces. */
  private static void checkHeaderText(String s, String what) {
    String problem = headerTextProblem(s, what);
    if (problem != null) {
      throw new IllegalArgumentException(problem);
    }
  }

  /**
   * What makes {@code s} unfit for a header (anything but printable ASCII without spaces), or null.
   */
  private static String headerTextProblem(String s, String what) {
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c > 0x7e || c <= 0x20) {
        return what
            + " holds a character an HTTP header cannot carry (code "
            + (int) c
            + " at index "
            + i
            + ")";
      }
    }
    return null;
  }
}
