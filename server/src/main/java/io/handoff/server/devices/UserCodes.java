package io.handoff.server.devices;

import java.security.SecureRandom;

/**
 * User codes as RFC 8628 §6.1 suggests: 8 characters from a 20-consonant alphabet (no vowels, so no
 * words; no look-alike digits), about 34.5 bits, shown as {@code XXXX-XXXX} and accepted in any
 * case, with or without the dash or spaces.
 */
public final class UserCodes {
  static final String ALPHABET = "BCDFGHJKLMNPQRSTVWXZ";
  static final int LENGTH = 8;

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
   * (any case, with dashes or spaces) is its normalised form; anything else is taken as given.
   */
  public static String approvalId(String typed) {
    String code = normalise(typed);
    return code != null ? code : typed;
  }

  /** The normalised form of what a person typed, or null when it cannot be a user code. */
  public static String normalise(String typed) {
    if (typed == null || typed.length() > 32) {
      return null;
    }
    StringBuilder b = new StringBuilder(LENGTH);
    for (int i = 0; i < typed.length(); i++) {
      char ch = Character.toUpperCase(typed.charAt(i));
      if (ch == '-' || ch == ' ') {
        continue;
      }
      if (ALPHABET.indexOf(ch) < 0 || b.length() == LENGTH) {
        return null;
      }
      b.append(ch);
    }
    return b.length() == LENGTH ? b.toString() : null;
  }
}
