package io.handoff.server.sync;

import io.handoff.protocol.v1.Follow;
import io.handoff.protocol.v1.Position;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What a Follow adds that its connection has to read: the names the follow set did not cover
 * before, the prefixes no prefix followed before covers, and the device's positions of documents
 * among them. Documents the connection tracks are left out: their stream keeps them up to date.
 */
record NewlyFollowed(Set<String> names, List<String> prefixes, Map<String, Position> positions) {

  /** What {@code f} adds to {@code before}, without the documents in {@code tracked}. */
  static NewlyFollowed of(FollowFilter before, Follow f, Set<String> tracked) {
    Set<String> names = new LinkedHashSet<>();
    for (String d : f.getSpec().getDocumentsList()) {
      if (!before.follows(d) && !tracked.contains(d)) {
        names.add(d);
      }
    }
    List<String> prefixes = new ArrayList<>();
    for (String p : f.getSpec().getPrefixesList()) {
      if (!before.coversPrefix(p) && !prefixes.contains(p)) {
        prefixes.add(p);
      }
    }
    NewlyFollowed added = new NewlyFollowed(names, prefixes, new HashMap<>());
    for (Position p : f.getPositionsList()) {
      String d = p.getDocument();
      if (!before.follows(d) && !tracked.contains(d) && (names.contains(d) || added.under(d))) {
        added.positions.put(d, p);
      }
    }
    return added;
  }

  /** True when the Follow adds nothing to read. */
  boolean isEmpty() {
    return names.isEmpty() && prefixes.isEmpty();
  }

  /** Whether {@code document} starts with one of the new prefixes. */
  boolean under(String document) {
    for (String p : prefixes) {
      if (document.startsWith(p)) {
        return true;
      }
    }
    return false;
  }
}
