package io.handoff.server.sync;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.FollowSpec;
import org.junit.jupiter.api.Test;

class FollowFilterTest {
  @Test
  void followsExactNamesAndPrefixesAndForgetsWhatIsRemoved() {
    FollowFilter f =
        FollowFilter.of(FollowSpec.newBuilder().addDocuments("cart").addPrefixes("draft/").build());
    assertTrue(f.follows("cart"));
    assertTrue(f.follows("draft/42"));
    assertFalse(f.follows("player"));
    assertEquals(2, f.size());

    f.remove(FollowSpec.newBuilder().addDocuments("cart").addPrefixes("draft/").build());
    assertFalse(f.follows("cart"));
    assertFalse(f.follows("draft/42"));
    assertEquals(0, f.size());
  }

  @Test
  void aPrefixAddedTwiceCountsOnce() {
    FollowFilter f = FollowFilter.all();
    f.add(FollowSpec.newBuilder().addPrefixes("").addPrefixes("ui/").addPrefixes("ui/").build());
    assertEquals(2, f.size());
    assertTrue(f.follows("anything"));
  }

  @Test
  void anEmptyFilterFollowsNothingAndCanBeRemovedFrom() {
    FollowFilter f = FollowFilter.of(FollowSpec.getDefaultInstance());
    f.remove(FollowSpec.newBuilder().addDocuments("cart").addPrefixes("x").build());
    assertFalse(f.follows("cart"));
    assertEquals(0, f.size());
  }

  @Test
  void aCopyDoesNotChangeWithTheOriginal() {
    FollowFilter f = FollowFilter.of(FollowSpec.newBuilder().addDocuments("cart").build());
    FollowFilter copy = f.copy();
    f.add(FollowSpec.newBuilder().addDocuments("player").addPrefixes("ui/").build());
    assertTrue(f.follows("player"));
    assertFalse(copy.follows("player"));
    assertFalse(copy.follows("ui/layout"));
    assertTrue(copy.follows("cart"));
  }

  @Test
  void filtersThatFollowEverythingChangeIndependently() {
    FollowFilter a = FollowFilter.all();
    FollowFilter b = FollowFilter.all();
    FollowFilter copy = a.copy();
    a.add(FollowSpec.newBuilder().addPrefixes("ui/").build());
    b.remove(FollowSpec.newBuilder().addPrefixes("").build());
    assertEquals(2, a.size());
    assertTrue(a.follows("cart"));
    assertEquals(0, b.size());
    assertFalse(b.follows("cart"));
    assertEquals(1, copy.size());
    assertTrue(FollowFilter.all().follows("cart"));
    a.remove(FollowSpec.newBuilder().addPrefixes("").build());
    assertFalse(a.follows("cart"));
    assertTrue(a.follows("ui/layout"));
  }

  @Test
  void theSharedFollowEverythingFilterNeverChangesButItsCopiesDo() {
    FollowSpec ui = FollowSpec.newBuilder().addPrefixes("").build();
    assertThrows(IllegalStateException.class, () -> FollowFilter.SHARED_ALL.remove(ui));
    assertThrows(IllegalStateException.class, () -> FollowFilter.SHARED_ALL.add(ui));
    FollowFilter mine = FollowFilter.SHARED_ALL.copy();
    mine.remove(ui);
    assertFalse(mine.follows("cart"));
    assertTrue(FollowFilter.SHARED_ALL.follows("cart"));
  }
}
