package io.handoff.server;

import java.util.Locale;

/**
 * Sizes on the command line: {@code 65536}, {@code 64k}, {@code 256m}, {@code 2g} (powers of 1024).
 */
final class ByteSizes {
  private ByteSizes() {}

  /**
   * Parses {@code text} into bytes.
   *
   * @throws IllegalArgumentException naming what is accepted
   */
  static long parse(String text) {
    String t = text.trim().toLowerCase(Locale.ROOT).replace(" ", "");
    if (t.endsWith("ib")) {
      t = t.substring(0, t.length() - 2);
    } else if (t.endsWith("b")) {
      t = t.substring(0, t.length() - 1);
    }
    int shift = 0;
    if (!t.isEmpty()) {
      switch (t.charAt(t.length() - 1)) {
        case 'k' -> shift = 10;
        case 'm' -> shift = 20;
        case 'g' -> shift = 30;
        default -> shift = 0;
      }
    }
    String digits = shift == 0 ? t : t.substring(0, t.length() - 1);
    if (digits.isEmpty() || !digits.chars().allMatch(Character::isDigit) || digits.length() > 15) {
      throw new IllegalArgumentException(
          "'" + text + "' is not a size: write bytes, or a number with k, m or g (64m, 1g)");
    }
    long n = Long.parseLong(digits);
    if (n > (Long.MAX_VALUE >> shift)) {
      throw new IllegalArgumentException("'" + text + "' is too large");
    }
    return n << shift;
  }
}
