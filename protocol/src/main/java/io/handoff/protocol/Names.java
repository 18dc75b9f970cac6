package io.handoff.protocol;

/**
 * The rule for document and field names, shared by the server (which refuses a bad name with {@code
 * BAD_REQUEST}) and the Java client (which refuses it before sending, where the server would refuse
 * every Hello that carried it): not empty, at most a limit of UTF-8 bytes ({@link
 * #DEFAULT_MAX_NAME_BYTES} unless the server is configured otherwise), no control characters. A
 * follow prefix is the start of a document name: the same rule, but it may be empty ({@link
 * #prefixProblem}). Stateless.
 */
public final class Names {
  /** The server's default limit of a name's UTF-8 length. */
  public static final int DEFAULT_MAX_NAME_BYTES = 256;

  private Names() {}

  /**
   * {@code null} when {@code name} is a valid name of at most {@code maxBytes} UTF-8 bytes, else
   * what is wrong, starting with {@code what} ("document name", "field name", ...).
   */
  public static String problem(String what, String name, int maxBytes) {
    if (name.isEmpty()) {
      return what + " must not be empty";
    }
    int bytes = utf8Length(name);
    if (bytes > maxBytes) {
      return what + " is " + bytes + " bytes; the limit is " + maxBytes;
    }
    for (int i = 0; i < name.length(); i++) {
      if (Character.isISOControl(name.charAt(i))) {
        return what + " must not contain control characters";
      }
    }
    return null;
  }

  /**
   * {@code null} when {@code prefix} is a valid follow prefix: empty (every document), or the start
   * of a name, so at most {@code maxBytes} UTF-8 bytes and no control characters. Else what is
   * wrong, starting with {@code what} ("follow prefix", ...).
   */
  public static String prefixProblem(String what, String prefix, int maxBytes) {
    return prefix.isEmpty() ? null : problem(what, prefix, maxBytes);
  }

  /** The UTF-8 length of {@code s} without encoding it. */
  public static int utf8Length(String s) {
    int n = 0;
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c < 0x80) {
        n++;
      } else if (c < 0x800) {
        n += 2;
      } else if (Character.isHighSurrogate(c) && i + 1 < s.length()) {
        n += 4;
        i++;
      } else {
        n += 3;
      }
    }
    return n;
  }
}
