package io.handoff.server.engine.redis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.FieldOp;
import io.handoff.protocol.v1.Write;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.sync.WriteOutcome;
import java.time.Clock;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The write script keeps a document's field count in its meta hash ({@code n}) instead of asking
 * the fields hash (HLEN) on every write; these check the count stays equal to the fields hash
 * through sets and removals, and that a document written before the count was kept is counted from
 * the fields hash once, so the field limit holds for it too.
 */
class RedisFieldCountTest {
  private static final int MAX_FIELDS = 3;

  private final String prefix = "test-" + UUID.randomUUID() + ":";
  private EngineWithRawRedis fixture;
  private long seq;

  @BeforeEach
  void start() {
    fixture =
        new EngineWithRawRedis(
            prefix,
            StoreLimits.builder().maxFieldsPerDocument(MAX_FIELDS).build(),
            Clock.systemUTC());
  }

  @AfterEach
  void stop() {
    fixture.close();
  }

  @Test
  void theFieldCountInTheMetaHashFollowsSetsAndRemovals() {
    assertTrue(write(set("a"), set("b")).isApplied());
    assertEquals("2", fixture.redis.hget(meta(), "n"));
    assertTrue(write(set("a"), set("c")).isApplied()); // one new field, one overwritten
    assertEquals("3", fixture.redis.hget(meta(), "n"));
    assertTrue(write(remove("b"), remove("missing")).isApplied());
    assertEquals("2", fixture.redis.hget(meta(), "n"));
    assertEquals(fixture.redis.hlen(fields()), Long.parseLong(fixture.redis.hget(meta(), "n")));
  }

  @Test
  void aDocumentWithoutAKeptCountIsCountedFromItsFieldsAndTheLimitHolds() {
    assertTrue(write(set("a"), set("b"), set("c")).isApplied());
    fixture.redis.hdel(meta(), "n"); // as a document last written before the count was kept

    WriteOutcome over = write(set("d"));
    assertFalse(over.isApplied(), "a fourth field passes the limit of three");
    assertEquals(ErrorCode.LIMIT_EXCEEDED, over.error());

    assertTrue(write(set("a")).isApplied());
    assertEquals("3", fixture.redis.hget(meta(), "n"), "counted from the fields hash, then kept");
  }

  private WriteOutcome write(FieldOp... ops) {
    Write.Builder w = Write.newBuilder().setDocument("doc").setClientSeq(++seq);
    for (FieldOp op : ops) {
      w.addOps(op);
    }
    return fixture.engine.store().write("u", "d1", w.build()).join();
  }

  private static FieldOp set(String field) {
    return FieldOp.newBuilder()
        .setField(field)
        .setSet(ByteString.copyFromUtf8("value of " + field))
        .build();
  }

  private static FieldOp remove(String field) {
    return FieldOp.newBuilder().setField(field).setRemove(true).build();
  }

  private String meta() {
    return prefix + "{u}:m:doc";
  }

  private String fields() {
    return prefix + "{u}:f:doc";
  }
}
