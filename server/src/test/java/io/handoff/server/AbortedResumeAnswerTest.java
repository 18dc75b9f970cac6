package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.Hello;
import io.handoff.server.engine.Engine;
import io.handoff.server.engine.ForwardingEngine;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.redis.RedisEngine;
import io.handoff.server.handoff.HandoffStore;
import io.lettuce.core.api.StatefulRedisConnection;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A node aborted as a crash would (abort()) hears, afterwards, the answer of a resume whose script
 * ran: its Redis I/O is on the engine's own threads, which a real crash would have stopped too, but
 * a test's abort leaves to the engine. A crashed process marks nothing: the device stays online as
 * the script left it (until its presence deadline), as after a real crash. The answer is held by
 * the engine the node uses (a real Redis engine under it) until the test lets it through on its own
 * thread, so the node has handled it when the release returns.
 */
class AbortedResumeAnswerTest {
  private final Nodes nodes = new Nodes();

  @AfterEach
  void tearDown() {
    nodes.close();
  }

  @Test
  void anAbortedNodeMarksNoDeviceOfflineWhenAResumeAnswerComesAfterTheAbort() throws Exception {
    String url = RedisProcess.sharedUrl();
    AnswersHeld engine =
        new AnswersHeld(RedisEngine.connect(url, nodes.prefix, StoreLimits.builder().build()));
    HandoffServer node = nodes.start("n1", engine, b -> b.redisOnLoops(false));
    StatefulRedisConnection<String, String> control = nodes.control(url);
    String presenceKey = nodes.presenceKey("u");

    TestDevice laptop = nodes.add(TestDevice.connect(node.port(), TestServer.token("u", "laptop")));
    laptop.send(ClientFrame.newBuilder().setHello(Hello.getDefaultInstance()));
    // The script ran (the laptop online in Redis); its answer waits in the engine.
    engine.answered.get(10, TimeUnit.SECONDS);
    assertTrue(control.sync().hget(presenceKey, "laptop").startsWith("1|"));

    node.abort();
    engine.release(); // The node handles the answer on this thread: done when this returns.

    for (CompletableFuture<?> mark : engine.offlineMarks) {
      mark.handle((r, err) -> null).get(10, TimeUnit.SECONDS);
    }
    String entry = control.sync().hget(presenceKey, "laptop");
    assertTrue(entry.startsWith("1|"), "online as the script left it: " + entry);
    assertEquals(List.of(), engine.offlineMarks, "offline marks sent after the abort");
  }

  /**
   * The real engine, whose resumes' answers wait until {@link #release}, and whose handoff store
   * keeps what each offline mark returned.
   */
  private static final class AnswersHeld extends ForwardingEngine {
    final CompletableFuture<Resumed> answered = new CompletableFuture<>();
    final CompletableFuture<Resumed> toNode = new CompletableFuture<>();
    final List<CompletableFuture<?>> offlineMarks = new CopyOnWriteArrayList<>();
    private final HandoffStore handoff;

    AnswersHeld(Engine real) {
      super(real);
      HandoffStore store = real.handoff();
      this.handoff =
          (HandoffStore)
              Proxy.newProxyInstance(
                  HandoffStore.class.getClassLoader(),
                  new Class<?>[] {HandoffStore.class},
                  (proxy, method, args) -> {
                    Object r;
                    try {
                      r = method.invoke(store, args);
                    } catch (InvocationTargetException e) {
                      throw e.getCause();
                    }
                    if (method.getName().equals("offline")) {
                      offlineMarks.add((CompletableFuture<?>) r);
                    }
                    return r;
                  });
    }

    @Override
    public HandoffStore handoff() {
      return handoff;
    }

    @Override
    public CompletableFuture<Resumed> resume(Request request) {
      delegate()
          .resume(request)
          .whenComplete(
              (r, err) -> {
                if (err != null) {
                  answered.completeExceptionally(err);
                } else {
                  answered.complete(r);
                }
              });
      return toNode;
    }

    /** Passes the held answer to the node, on this thread. */
    void release() {
      toNode.complete(answered.join());
    }
  }
}
