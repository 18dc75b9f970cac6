package io.handoff.server.engine.redis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.handoff.protocol.v1.FieldOp;
import io.handoff.protocol.v1.Write;
import io.handoff.server.RedisProcess;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.sync.WriteOutcome;
import io.netty.channel.DefaultEventLoopGroup;
import io.netty.channel.EventLoopGroup;
import io.netty.util.concurrent.EventExecutor;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The Redis store's scripts go out once per event loop turn ({@link TurnBatch}): what a loop sends
 * in a task reaches Redis when the task is done, every write is answered, and a thread that is no
 * event loop (or Lettuce's own, chaining writes on answers) is served too.
 */
class RedisTurnBatchTest {
  private RedisEngine engine;
  private EventLoopGroup loops;
  private String user;

  @BeforeEach
  void setUp() {
    engine =
        RedisEngine.connect(
            RedisProcess.sharedUrl(),
            "test-" + UUID.randomUUID() + ":",
            StoreLimits.builder().build());
    loops = new DefaultEventLoopGroup(2);
    user = "user-" + UUID.randomUUID();
  }

  @AfterEach
  void tearDown() {
    loops.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS).syncUninterruptibly();
    engine.close();
  }

  private static Write write(String doc, long seq) {
    return Write.newBuilder()
        .setDocument(doc)
        .setClientSeq(seq)
        .addOps(FieldOp.newBuilder().setField("f").setSet(ByteString.copyFromUtf8("v" + seq)))
        .build();
  }

  @Test
  void writesSentInOneLoopTaskReachRedisOnlyOnceTheTaskIsDoneAndAreAllAnswered() throws Exception {
    int perLoop = 200;
    List<CompletableFuture<WriteOutcome>> answers = new ArrayList<>();
    List<String> problems = new ArrayList<>();
    int n = 0;
    for (EventExecutor loop : loops) {
      int base = n++ * perLoop;
      CompletableFuture<List<CompletableFuture<WriteOutcome>>> sent =
          CompletableFuture.supplyAsync(
              () -> {
                List<CompletableFuture<WriteOutcome>> mine = new ArrayList<>();
                for (int i = 1; i <= perLoop; i++) {
                  mine.add(engine.store().write(user, "dev-" + base, write("d" + (base + i), i)));
                }
                // Still in the task: nothing of it sent yet, so Redis knows none of its documents.
                // (Asked on the engine's shared connection, answered on Lettuce's thread.)
                Set<String> known = engine.store().documents(user).join();
                for (int i = 1; i <= perLoop; i++) {
                  if (known.contains("d" + (base + i))) {
                    problems.add("d" + (base + i) + " reached Redis before the end of its task");
                  }
                }
                return mine;
              },
              loop);
      answers.addAll(sent.get(10, TimeUnit.SECONDS));
    }
    assertEquals(List.of(), problems);
    for (CompletableFuture<WriteOutcome> a : answers) {
      WriteOutcome o = a.get(30, TimeUnit.SECONDS);
      assertTrue(o.isApplied(), "applied: " + o);
      assertEquals(1, o.version());
    }
    assertEquals(2 * perLoop, engine.store().documents(user).get(10, TimeUnit.SECONDS).size());
  }

  @Test
  void aWriteFromAThreadThatIsNoEventLoopIsSentAtOnce() throws Exception {
    WriteOutcome o = engine.store().write(user, "dev", write("doc", 1)).get(10, TimeUnit.SECONDS);
    assertTrue(o.isApplied());
    assertEquals(1, o.version());
  }

  @Test
  void writesChainedOnAnswersOnLettucesThreadAreAnsweredInOrder() throws Exception {
    int count = 100;
    CompletableFuture<WriteOutcome> last = CompletableFuture.completedFuture(null);
    for (int i = 1; i <= count; i++) {
      long seq = i;
      // Each write is sent from the completion of the one before (Lettuce's event loop thread).
      last = last.thenCompose(prev -> engine.store().write(user, "dev", write("doc", seq)));
    }
    WriteOutcome o = last.get(30, TimeUnit.SECONDS);
    assertTrue(o.isApplied());
    assertEquals(count, o.version());
  }
}
