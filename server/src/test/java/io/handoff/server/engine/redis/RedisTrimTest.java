package io.handoff.server.engine.redis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.DocumentSync;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.server.Writes;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.sync.WriteOutcome;
import java.time.Clock;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The write script trims a document's history and a device's write order in batches: each may grow
 * a sixteenth past its limit and is then cut back to it, so most writes trim nothing. These check
 * the bounds hold through many writes, that the outcome hash always holds exactly the outcomes the
 * order list names, and that every write of the last window is still recognised as a retry while
 * what was trimmed is stale.
 */
class RedisTrimTest {
  private static final int LIMIT = 32;
  private static final int OVER = LIMIT + LIMIT / 16;

  private final String prefix = "test-" + UUID.randomUUID() + ":";
  private EngineWithRawRedis fixture;

  @BeforeEach
  void start() {
    fixture =
        new EngineWithRawRedis(
            prefix,
            StoreLimits.builder().historyLength(LIMIT).seqWindow(LIMIT).build(),
            Clock.systemUTC());
  }

  @AfterEach
  void stop() {
    fixture.close();
  }

  @Test
  void historyStaysBetweenItsLengthAndASixteenthMoreAndServesTheLastDeltas() {
    long epoch = 0;
    long longest = 0;
    for (int seq = 1; seq <= 100; seq++) {
      WriteOutcome out = write(seq);
      assertTrue(out.isApplied());
      epoch = out.epoch();
      long length = fixture.redis.llen(history());
      assertTrue(
          length >= Math.min(seq, LIMIT) && length <= OVER,
          "history of " + length + " deltas after write " + seq);
      longest = Math.max(longest, length);
    }
    assertEquals(OVER, longest, "trimmed once a sixteenth over, not on every write");
    var read = fixture.engine.store().read("u", "doc", epoch, 100 - LIMIT).join();
    assertEquals(DocumentSync.Mode.DELTAS, read.mode(), "the last " + LIMIT + " deltas are kept");
    assertEquals(LIMIT, read.deltas().size());
    assertEquals(100, read.deltas().get(LIMIT - 1).version());
    assertEquals(
        DocumentSync.Mode.SNAPSHOT,
        fixture.engine.store().read("u", "doc", epoch, 100 - OVER - 1).join().mode(),
        "nothing older than a sixteenth past the length is kept");
  }

  @Test
  void theDeviceRemembersAtLeastItsWindowAndForgetsWhatItTrims() {
    int longest = 0;
    for (int seq = 1; seq <= 100; seq++) {
      assertTrue(write(seq).isApplied());
      List<String> order = fixture.redis.lrange(orderList(), 0, -1);
      assertTrue(order.size() <= OVER, order.size() + " outcomes kept after write " + seq);
      longest = Math.max(longest, order.size());
      long seqFields =
          fixture.redis.hkeys(outcomes()).stream().filter(f -> f.matches("[0-9]+")).count();
      assertEquals(order.size(), seqFields, "one outcome per write in the order list");
      for (String s : order) {
        assertTrue(fixture.redis.hexists(outcomes(), s), "outcome of " + s + " kept");
      }
    }
    assertEquals(OVER, longest, "trimmed once a sixteenth over, not on every write");
    for (int seq = 100 - LIMIT + 1; seq <= 100; seq++) {
      WriteOutcome again = write(seq);
      assertTrue(again.duplicate(), "write " + seq + " is inside the window: a retry");
      assertEquals(seq, again.version());
    }
    long forgot = Long.parseLong(fixture.redis.hget(outcomes(), "_forgot"));
    assertTrue(forgot >= 100 - OVER && forgot <= 100 - LIMIT, "forgot up to " + forgot);
    assertEquals(ErrorCode.STALE_SEQUENCE, write((int) forgot).error());
    assertEquals(ErrorCode.STALE_SEQUENCE, write(1).error());
    assertEquals("100", fixture.redis.hget(meta(), "version"), "no retry was applied again");
  }

  private WriteOutcome write(int seq) {
    return fixture
        .engine
        .store()
        .write("u", "d1", Writes.set("doc", seq, "f", "value " + seq))
        .join();
  }

  private String meta() {
    return prefix + "{u}:m:doc";
  }

  private String history() {
    return prefix + "{u}:h:doc";
  }

  private String outcomes() {
    return prefix + "{u}:s:d1";
  }

  private String orderList() {
    return prefix + "{u}:o:d1";
  }
}
