package io.handoff.server.devices;

import java.security.SecureRandom;

/**
 * User codes as RFC 8628 §6.1 suggests: 8 characters from a 20-consonant alphabet (no vowels, so no
 * words; no look-alike digits), about 34.5 bits, shown as {@code XXXX-XXXX} and accepted as people
 * type or paste them: in any case, full-width or not, with or without dashes, spaces and line
 * breaks ({@link #normalise}).
 */
public final class UserCodes {
  static final String ALPHABET = "BCDFGHJKLMNPQRSTVWXZ";
  static final int LENGTH = 8;

  /** The longest text read as a code: room for spaces and line breaks around a pasted one. */
  private static final int MAX_TYPED_CHARS = 64;

  /** How many user codes there are: 20^8. */
  public static final long SPACE = 25_600_000_000L;

  private UserCodes() {}

  /** A new random code, normalised (8 letters, no dash). */
  static String next(SecureRandom random) {
    char[] c = new char[LENGTH];
    for (int i = 0; i < LENGTH; i++) {
      c[i] = ALPHABET.charAt(random.nextInt(ALPHABET.length()));
    }
    return new String(c);
  }

  /** As shown to people: XXXX-XXXX. */
  public static String display(String normalised) {
    return normalised.substring(0, 4) + "-" + normalised.substring(4);
  }

  /**
   * The approval id a request is known by, from what an answer names it by: a user code as typed
   * (as {@link #normalise} reads it) is its normalised form; anything else is taken as given.
   */
  public static String approvalId(String typed) {
    String code = normalise(typed);
    return code != null ? code : typed;
  }

  /**
   * The normalised form of what a person typed or pasted, or null when it cannot be a user code.
   * Ignored: any Unicode space or line break (tab, newline, no-break space, ideographic space),
   * invisible format characters (zero-width space, byte-order mark, soft hyphen), and dashes
   * (hyphen-minus, the U+2010-U+2015 dashes and every other dash punctuation, the minus sign, and
   * the prolonged sound mark a Japanese input method types for a dash). Full-width letters are read
   * as their ASCII ones, and case does not matter. Any other character makes it a wrong code.
   */
  public static String normalise(String typed) {
    if (typed == null || typed.length() > MAX_TYPED_CHARS) {
      return null;
    }
    StringBuilder b = new StringBuilder(LENGTH);
    for (int i = 0; i < typed.length(); i++) {
      char ch = typed.charAt(i);
      if (ignored(ch)) {
        continue;
      }
      if (ch >= '\uFF01' && ch <= '\uFF5E') {
        ch = (char) (ch - 0xFEE0); // full-width ASCII
      }
      if (ch >= 'a' && ch <= 'z') {
        ch = (char) (ch - ('a' - 'A')); // only ASCII folds: no other letter becomes one of ours
      }
      if (ALPHABET.indexOf(ch) < 0 || b.length() == LENGTH) {
        return null;
      }
      b.append(ch);
    }
    return b.length() == LENGTH ? b.toString() : null;
  }

  /** Spaces, line breaks, invisible format characters and dashes, as typed or pasted. */
  private static boolean ignored(char ch) {
    if (Character.isWhitespace(ch) || Character.isSpaceChar(ch)) {
      return true;
    }
    int type = Character.getType(ch);
    return type == Character.DASH_PUNCTUATION
        || type == Character.FORMAT
        || ch == '\u2212' // minus sign
        || ch == '\u30FC' // katakana prolonged sound mark
        || ch == '\uFF70'; // its half-width form
  }
}
