package io.handoff.server.sync;

import io.handoff.protocol.v1.FollowSpec;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Which documents a connection follows: exact names and prefixes. Mutable, confined to the
 * connection's event loop; {@link #copy()} gives the stores a private snapshot.
 */
public final class FollowFilter {
  // Both made on first use: most devices follow everything (one prefix, ""), and every idle
  // connection holds one filter.
  private Set<String> documents = Collections.emptySet();
  private List<String> prefixes = Collections.emptyList();
  // The prefixes of a filter that follows everything: one list shared by all such filters.
  private static final List<String> EVERYTHING = List.of("");
  // True for SHARED only: it is never changed (add and remove refuse).
  private boolean frozen;

  /**
   * One filter that follows everything, shared by every connection whose Hello names no follow set
   * (most of them): never changed, so its holder replaces it by a changed {@link #copy()}.
   */
  static final FollowFilter SHARED_ALL = frozenAll();

  private static FollowFilter frozenAll() {
    FollowFilter f = all();
    f.frozen = true;
    return f;
  }

  /** A filter that follows everything. */
  public static FollowFilter all() {
    FollowFilter f = new FollowFilter();
    f.addPrefix("");
    return f;
  }

  public static FollowFilter of(FollowSpec spec) {
    FollowFilter f = new FollowFilter();
    f.add(spec);
    return f;
  }

  public void add(FollowSpec spec) {
    checkNotFrozen();
    for (String d : spec.getDocumentsList()) {
      addDocument(d);
    }
    for (String p : spec.getPrefixesList()) {
      addPrefix(p);
    }
  }

  private void addDocument(String d) {
    if (documents.isEmpty()) {
      documents = new HashSet<>();
    }
    documents.add(d);
  }

  private void addPrefix(String p) {
    if (prefixes.contains(p)) {
      return;
    }
    if (prefixes.isEmpty() && p.isEmpty()) {
      prefixes = EVERYTHING;
      return;
    }
    if (prefixes.isEmpty() || prefixes == EVERYTHING) {
      prefixes = new ArrayList<>(prefixes);
    }
    prefixes.add(p);
  }

  public void remove(FollowSpec spec) {
    checkNotFrozen();
    spec.getDocumentsList().forEach(documents::remove);
    if (prefixes != EVERYTHING) {
      prefixes.removeAll(spec.getPrefixesList());
    } else if (spec.getPrefixesList().contains("")) {
      prefixes = Collections.emptyList();
    }
  }

  public boolean follows(String document) {
    if (documents.contains(document)) {
      return true;
    }
    for (String p : prefixes) {
      if (document.startsWith(p)) {
        return true;
      }
    }
    return false;
  }

  /**
   * Whether every name that starts with {@code prefix} is followed already: a prefix of this filter
   * is a prefix of it.
   */
  public boolean coversPrefix(String prefix) {
    for (String p : prefixes) {
      if (prefix.startsWith(p)) {
        return true;
      }
    }
    return false;
  }

  /** Exact names plus prefixes. */
  public int size() {
    return documents.size() + prefixes.size();
  }

  public Set<String> documents() {
    return documents;
  }

  public List<String> prefixes() {
    return prefixes;
  }

  private void checkNotFrozen() {
    if (frozen) {
      throw new IllegalStateException("the shared follow-everything filter is never changed");
    }
  }

  public FollowFilter copy() {
    FollowFilter f = new FollowFilter();
    documents.forEach(f::addDocument);
    prefixes.forEach(f::addPrefix);
    return f;
  }

  @Override
  public String toString() {
    return "FollowFilter{documents=" + documents + ", prefixes=" + prefixes + "}";
  }
}
