package io.handoff.server.sync;

import io.handoff.protocol.v1.FollowSpec;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Which documents a connection follows: exact names and prefixes. Mutable, confined to the
 * connection's event loop; {@link #copy()} gives the stores a private snapshot.
 */
public final class FollowFilter {
  private final Set<String> documents = new HashSet<>();
  private final List<String> prefixes = new ArrayList<>();

  /** A filter that follows everything. */
  public static FollowFilter all() {
    FollowFilter f = new FollowFilter();
    f.prefixes.add("");
    return f;
  }

  public static FollowFilter of(FollowSpec spec) {
    FollowFilter f = new FollowFilter();
    f.add(spec);
    return f;
  }

  public void add(FollowSpec spec) {
    documents.addAll(spec.getDocumentsList());
    for (String p : spec.getPrefixesList()) {
      if (!prefixes.contains(p)) {
        prefixes.add(p);
      }
    }
  }

  public void remove(FollowSpec spec) {
    spec.getDocumentsList().forEach(documents::remove);
    prefixes.removeAll(spec.getPrefixesList());
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

  public FollowFilter copy() {
    FollowFilter f = new FollowFilter();
    f.documents.addAll(documents);
    f.prefixes.addAll(prefixes);
    return f;
  }

  @Override
  public String toString() {
    return "FollowFilter{documents=" + documents + ", prefixes=" + prefixes + "}";
  }
}
