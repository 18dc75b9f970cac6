package io.handoff.server.util;

import java.util.Arrays;

/**
 * Copy-on-write arrays: the per-user lists of sessions and listeners that are read on every event
 * and changed only when a connection comes or goes. A reader takes the array and iterates it; a
 * writer replaces it with a changed copy.
 */
public final class CopyOnWrite {
  private CopyOnWrite() {}

  /**
   * {@code array} without its first element that is {@code element} itself (by identity): a new
   * array one shorter (empty when that was the last), or {@code array} itself if it holds none.
   */
  public static <T> T[] without(T[] array, T element) {
    for (int i = 0; i < array.length; i++) {
      if (array[i] == element) {
        T[] out = Arrays.copyOf(array, array.length - 1);
        System.arraycopy(array, i + 1, out, i, array.length - i - 1);
        return out;
      }
    }
    return array;
  }
}
