package io.handoff.server.engine.redis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.server.MutableClock;
import io.handoff.server.RedisProcess;
import io.handoff.server.Writes;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.handoff.HandoffStore;
import io.lettuce.core.RedisClient;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.codec.ByteArrayCodec;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * resume.lua's reply is bounded: once the documents it read brought more bytes of fields and deltas
 * than its budget, it reads no more of them and names each one left, which the node reads on its
 * own ({@code ResumeContractTest#documentsPastTheResumesReplyBudgetAreReadAllTheSame}).
 */
class RedisResumeBudgetTest {
  private static final int DOCUMENTS = 40;
  private static final int VALUE_BYTES = 900;

  @Test
  void theScriptReadsDocumentsUpToItsBudgetAndNamesTheRestForLater() throws Exception {
    String prefix = "test-" + UUID.randomUUID() + ":";
    StoreLimits limits = StoreLimits.builder().maxDocumentBytes(1024).maxValueBytes(1024).build();
    MutableClock clock = new MutableClock(System.currentTimeMillis());
    long budget = RedisResume.replyBudget(limits);
    assertTrue(DOCUMENTS * VALUE_BYTES > 2 * budget, "the documents outgrow the budget");
    try (EngineWithRawRedis e = new EngineWithRawRedis(prefix, limits, clock)) {
      Writes.documents(e.engine.store(), "ann", "laptop", DOCUMENTS, d -> "v".repeat(VALUE_BYTES));

      List<Object> docs = resumeScriptDocuments(prefix, clock.millis(), budget);

      long read = 0;
      int later = 0;
      int answered = 0;
      for (int i = 0; i + 1 < docs.size(); i += 2) {
        List<?> r = (List<?>) docs.get(i + 1);
        String kind = new String((byte[]) r.get(0), StandardCharsets.UTF_8);
        if (kind.equals("later")) {
          later++;
          continue;
        }
        assertEquals(0, later, "a document read after one left for later");
        assertEquals("snapshot", kind);
        answered++;
        for (Object x : (List<?>) r.get(3)) {
          read += ((byte[]) x).length;
        }
      }
      assertEquals(DOCUMENTS, answered + later, "every document named once");
      assertTrue(later > 0, "documents left for later: " + later);
      assertTrue(
          read <= budget + limits.maxDocumentBytes(),
          read + " bytes of fields in the reply, budget " + budget);
    }
  }

  /** The docs part of a resume.lua reply for device tv of user ann, following everything. */
  @SuppressWarnings("unchecked")
  private static List<Object> resumeScriptDocuments(String prefix, long now, long budget)
      throws Exception {
    RedisKeys keys = new RedisKeys(prefix);
    byte[][] k = {
      keys.docs("ann"),
      keys.outcomes("ann", "tv"),
      keys.docs("ann"),
      keys.presence("ann"),
      keys.activities("ann"),
      keys.liveOffers("ann"),
      keys.endedOffers("ann"),
      keys.splitGuard("ann"),
      keys.approvalsOfUser("ann")
    };
    List<byte[]> argv = new ArrayList<>();
    for (String a :
        new String[] {
          "",
          "tv",
          "test/1",
          Long.toString(now),
          Long.toString(now + 30_000),
          "64",
          Long.toString(HandoffStore.PRESENCE_RETENTION.toMillis()),
          Long.toString(StoreLimits.DEFAULT_IDLE_TTL.toMillis()),
          "(" + now,
          "(" + (now - HandoffStore.ENDED_RETENTION.toMillis()),
          Integer.toString(HandoffStore.MAX_RECENTLY_ENDED),
          "0", // instance
          "0", // names
          "1", // prefixes: every document
          "",
          "0", // positions
          Long.toString(budget)
        }) {
      argv.add(a.getBytes(StandardCharsets.UTF_8));
    }
    RedisClient client = RedisClient.create(RedisProcess.sharedUrl());
    try (StatefulRedisConnection<byte[], byte[]> c = client.connect(ByteArrayCodec.INSTANCE)) {
      List<Object> reply =
          c.sync()
              .eval(
                  RedisScript.source("resume.lua").getBytes(StandardCharsets.UTF_8),
                  ScriptOutputType.MULTI,
                  k,
                  argv.toArray(new byte[0][]));
      return (List<Object>) reply.get(2);
    } finally {
      client.shutdown();
    }
  }
}
