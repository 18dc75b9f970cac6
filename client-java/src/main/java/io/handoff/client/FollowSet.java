package io.handoff.client;

import io.handoff.protocol.Names;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;

/**
 * What a client follows, as its {@link HandoffClient.Builder} assembles it: all of the user's
 * documents (the default), or the documents named and the prefixes given. Each name and prefix is
 * checked against the server's rules for names as it is added, and the whole against the server's
 * limit on follow entries, so that the builder never makes a Hello the server would refuse; a call
 * that is refused adds nothing. Each name and prefix is kept once, in the order first given, as the
 * Hello carries them.
 *
 * <p>Not thread-safe: owned by one builder; {@link ClientConfig} copies it.
 */
final class FollowSet {
  /** The server's limit on the names plus prefixes a device follows (its default). */
  static final int MAX_FOLLOW_ENTRIES = 256;

  /** The server's limit on a document name, in UTF-8 bytes (its default). */
  static final int MAX_NAME_BYTES = Names.DEFAULT_MAX_NAME_BYTES;

  private boolean all = true;
  private final List<String> documents = new ArrayList<>();
  private final List<String> prefixes = new ArrayList<>();

  /** True when every document is followed; then there are no names and no prefixes. */
  boolean all() {
    return all;
  }

  /** The names followed, each once, in the order first given (live: copy to keep). */
  List<String> documents() {
    return documents;
  }

  /** The prefixes followed, each once, in the order first given (live: copy to keep). */
  List<String> prefixes() {
    return prefixes;
  }

  /** Follows every document: clears the names and prefixes. */
  void followAll() {
    all = true;
    documents.clear();
    prefixes.clear();
  }

  /**
   * Adds names to follow (no longer all documents).
   *
   * @throws IllegalArgumentException naming {@code followDocuments}, for a name the server refuses
   *     or when the follow set would be over its limit
   */
  void addDocuments(String... names) {
    check(names != null, "followDocuments must not be null");
    for (String name : names) {
      check(name != null, "followDocuments names must not be null");
      String problem = Names.problem("followDocuments: a document name", name, MAX_NAME_BYTES);
      check(problem == null, problem);
    }
    checkEntries("followDocuments", List.of(names), List.of());
    all = false;
    for (String name : names) {
      if (!documents.contains(name)) {
        documents.add(name); // The server counts each name once; so does the Hello.
      }
    }
  }

  /**
   * Adds prefixes to follow (no longer all documents).
   *
   * @throws IllegalArgumentException naming {@code followPrefixes}, for a prefix the server refuses
   *     or when the follow set would be over its limit
   */
  void addPrefixes(String... added) {
    check(added != null, "followPrefixes must not be null");
    for (String prefix : added) {
      check(prefix != null, "followPrefixes must not contain null");
      String problem = Names.prefixProblem("followPrefixes: a prefix", prefix, MAX_NAME_BYTES);
      check(problem == null, problem);
    }
    checkEntries("followPrefixes", List.of(), List.of(added));
    all = false;
    for (String prefix : added) {
      if (!prefixes.contains(prefix)) {
        prefixes.add(prefix);
      }
    }
  }

  /**
   * Refuses a follow set over the server's limit, which would refuse every Hello: the distinct
   * names plus the distinct prefixes, with those already followed.
   */
  private void checkEntries(String setting, List<String> names, List<String> added) {
    List<String> allNames = new ArrayList<>(documents);
    allNames.addAll(names);
    List<String> allPrefixes = new ArrayList<>(prefixes);
    allPrefixes.addAll(added);
    String problem = entriesProblem(setting, allNames, allPrefixes);
    check(problem == null, problem);
  }

  /**
   * What is wrong with following {@code names} and {@code prefixes}, as {@code setting}: over the
   * server's limit of distinct names plus distinct prefixes. {@code null} if nothing.
   */
  static String entriesProblem(
      String setting, Collection<String> names, Collection<String> prefixes) {
    int entries = new HashSet<>(names).size() + new HashSet<>(prefixes).size();
    if (entries <= MAX_FOLLOW_ENTRIES) {
      return null;
    }
    return setting
        + ": following "
        + entries
        + " names and prefixes; the limit is "
        + MAX_FOLLOW_ENTRIES
        + " follow entries";
  }

  private static void check(boolean condition, String message) {
    if (!condition) {
      throw new IllegalArgumentException(message);
    }
  }
}
