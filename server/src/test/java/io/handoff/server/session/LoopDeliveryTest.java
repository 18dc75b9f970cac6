package io.handoff.server.session;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.Delta;
import io.handoff.protocol.v1.FieldOp;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.server.ServerConfig;
import io.handoff.server.ServerStats;
import io.handoff.server.sync.DocumentEvent;
import io.netty.channel.DefaultEventLoop;
import io.netty.channel.EventLoop;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Delivery of document events to the outboxes of one event loop: one task per loop for all its
 * outboxes, each device's events in order and flushed once, delivery without a task on the loop's
 * own thread, and a device that does not read still closed as a slow consumer.
 */
class LoopDeliveryTest {
  private static final ServerConfig CONFIG =
      ServerConfig.builder().port(0).jwtSecret("loop-delivery-secret-loop-delivery").build();

  // Forty events of a kilobyte pass a 16 KiB bound.
  private static final ByteString KILOBYTE = ByteString.copyFrom(new byte[1024]);

  private final CountingLoop loop = new CountingLoop();
  private final LoopDrainer drainer = new LoopDrainer(loop);
  // Large enough never to act: these tests are about delivery, QueueBudgetTest about the budget.
  private final QueueBudget budget = new QueueBudget(1L << 40, "loop-delivery");

  @AfterEach
  void stop() {
    budget.close();
    loop.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS).syncUninterruptibly();
  }

  @Test
  void oneLoopTaskDeliversToEveryDeviceOfTheLoopInOrderAndFlushesEachOnce() throws Exception {
    List<Device> devices = List.of(new Device("phone"), new Device("tv"), new Device("laptop"));
    onLoop(() -> devices.forEach(d -> d.outbox.goLive()));
    CountDownLatch hold = new CountDownLatch(1);
    loop.execute(
        () -> await(hold)); // The loop is busy while the broker's thread hands events over.
    int before = loop.submitted.get();

    for (int v = 1; v <= 5; v++) {
      DocumentEvent e = event("phone", v);
      devices.forEach(d -> d.outbox.offer(e)); // From this thread, as a broker's would.
    }
    hold.countDown();

    onLoop(() -> {});
    assertEquals(1, loop.submitted.get() - before - 1, "one drain task for 15 events to 3 devices");
    for (Device d : devices) {
      assertEquals(List.of(1L, 2L, 3L, 4L, 5L), d.versions(), d.id + " got every event in order");
      assertEquals(1, d.link.flushes.get(), d.id + " was flushed once");
      assertTrue(d.link.writesOnLoop(), d.id + " was written on its event loop only");
    }
  }

  @Test
  void eventsHandedOverFromAnotherEventLoopWakeTheLoopOnceAfterThatLoopsTask() throws Exception {
    List<Device> devices = List.of(new Device("phone"), new Device("tv"), new Device("laptop"));
    onLoop(() -> devices.forEach(d -> d.outbox.goLive()));
    // Another event loop's thread, as Lettuce's pub/sub thread is: every event of its task is
    // handed over before the devices' loop is woken, and that loop is woken once.
    DefaultEventLoop source = new DefaultEventLoop();
    try {
      int before = loop.submitted.get();
      int submittedDuringTask =
          source
              .submit(
                  () -> {
                    for (int v = 1; v <= 5; v++) {
                      DocumentEvent e = event("phone", v);
                      devices.forEach(d -> d.outbox.offer(e));
                    }
                    return loop.submitted.get() - before;
                  })
              .get(10, TimeUnit.SECONDS);
      source.submit(() -> {}).get(10, TimeUnit.SECONDS); // Runs after the held wake-up.
      onLoop(() -> {});
      assertEquals(0, submittedDuringTask, "no wake-up while the handing task still runs");
      assertEquals(1, loop.submitted.get() - before - 1, "one drain task for 15 events");
      for (Device d : devices) {
        assertEquals(List.of(1L, 2L, 3L, 4L, 5L), d.versions(), d.id + " got every event in order");
        assertEquals(1, d.link.flushes.get(), d.id + " was flushed once");
      }
    } finally {
      source.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS).syncUninterruptibly();
    }
  }

  @Test
  void anEventOfferedOnTheDevicesOwnLoopIsDeliveredAtOnceAndFlushedByTheLoopsTask()
      throws Exception {
    Device tv = new Device("tv");
    onLoop(tv.outbox::goLive);
    int[] seenDuringOffer = new int[1];
    onLoop(
        () -> {
          tv.outbox.offer(event("phone", 1));
          seenDuringOffer[0] = tv.versions().size();
          assertEquals(0, tv.link.flushes.get(), "not flushed until the loop's task runs");
        });
    onLoop(() -> {});
    assertEquals(1, seenDuringOffer[0], "delivered inside offer, without waiting for a task");
    assertEquals(1, tv.link.flushes.get());
  }

  @Test
  void anEventBehindQueuedOnesWaitsItsTurnEvenOnTheLoop() throws Exception {
    Device tv = new Device("tv");
    onLoop(tv.outbox::goLive);
    CountDownLatch hold = new CountDownLatch(1);
    loop.execute(() -> await(hold));
    tv.outbox.offer(event("phone", 1)); // Queued from another thread: the loop is busy.
    hold.countDown();
    onLoop(() -> tv.outbox.offer(event("phone", 2)));
    onLoop(() -> {});
    assertEquals(List.of(1L, 2L), tv.versions());
  }

  @Test
  void aDeviceThatDoesNotReadIsClosedAsSlowWhileTheOthersOfItsLoopGetEverything() throws Exception {
    ServerConfig small =
        ServerConfig.builder()
            .port(0)
            .jwtSecret("loop-delivery-secret-loop-delivery")
            .maxQueuedBytes(16 * 1024)
            .build();
    Device reader = new Device("phone", small);
    Device stuck = new Device("tv", small);
    stuck.link.writable = false;
    onLoop(
        () -> {
          reader.outbox.goLive();
          stuck.outbox.goLive();
        });
    for (int v = 1; v <= 40; v++) {
      DocumentEvent e = event("laptop", v);
      reader.outbox.offer(e);
      stuck.outbox.offer(e);
      onLoop(() -> {}); // The reader's drain runs; the stuck device's queue keeps growing.
    }
    onLoop(() -> {});
    assertEquals(1, stuck.slowCloses.get(), "closed once, as a slow consumer");
    assertEquals(40, reader.versions().size(), "the device that reads got all 40");
  }

  /**
   * A connection that never had an event queued makes its backlog when the socket is first full:
   * the held answer counts for the node's budget, and goes out before the event offered after it.
   */
  @Test
  void anAnswerHeldForAFullSocketCountsAndGoesOutBeforeTheEventAfterIt() throws Exception {
    Device tv = new Device("tv");
    onLoop(tv.outbox::goLive);
    assertEquals(0, tv.outbox.outboxBytes(), "an idle outbox holds nothing");
    ServerFrame answer = ServerFrame.newBuilder().setRequestId(9).build();
    tv.link.writable = false;
    onLoop(() -> tv.outbox.send(answer, false));
    assertEquals(answer.getSerializedSize(), tv.outbox.outboxBytes(), "held for the socket");
    onLoop(() -> tv.outbox.offer(event("phone", 1)));
    assertEquals(List.of(), tv.link.written, "nothing written while the socket is full");
    tv.link.writable = true;
    onLoop(tv.outbox::writable);
    onLoop(() -> {});
    assertEquals(2, tv.link.written.size());
    assertEquals(answer, tv.link.written.get(0), "the held answer first");
    assertEquals(List.of(1L), tv.versions(), "then the event");
    assertEquals(0, tv.outbox.outboxBytes(), "nothing held once written");
  }

  private void onLoop(Runnable r) throws Exception {
    CompletableFuture<Void> done = new CompletableFuture<>();
    loop.execute(
        () -> {
          try {
            r.run();
            done.complete(null);
          } catch (Throwable t) {
            done.completeExceptionally(t);
          }
        });
    done.get(10, TimeUnit.SECONDS);
  }

  private static void await(CountDownLatch latch) {
    try {
      latch.await(10, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static DocumentEvent event(String origin, long version) {
    return new DocumentEvent(
        "user",
        Delta.newBuilder()
            .setDocument("player")
            .setEpoch(7)
            .setVersion(version)
            .setOriginDevice(origin)
            .setOriginSeq(version)
            .addOps(FieldOp.newBuilder().setField("position").setSet(KILOBYTE))
            .build());
  }

  /** An event loop that counts the tasks handed to it. */
  private static final class CountingLoop extends DefaultEventLoop {
    final AtomicInteger submitted = new AtomicInteger();

    @Override
    public void execute(Runnable task) {
      submitted.incrementAndGet();
      super.execute(task);
    }
  }

  /** One device's outbox on the shared loop, recording what reaches it. */
  private final class Device {
    final String id;
    final RecordingLink link;
    final Outbox outbox;
    final List<DocumentEvent> received = new ArrayList<>(); // Event loop only.
    final AtomicInteger slowCloses = new AtomicInteger();

    Device(String id) {
      this(id, CONFIG);
    }

    Device(String id, ServerConfig config) {
      this.id = id;
      this.link = new RecordingLink(loop);
      this.outbox =
          new Outbox(
              new Outbox.Shared(config, new ServerStats(), budget),
              link,
              drainer,
              new Outbox.Owner() {
                @Override
                public String deviceId() {
                  return id;
                }

                @Override
                public void deliver(DocumentEvent e) {
                  received.add(e);
                  link.write(e.frame());
                }

                @Override
                public void drained() {}

                @Override
                public void slow(String reason) {
                  slowCloses.incrementAndGet();
                  link.close(CloseCode.SLOW_CONSUMER, reason);
                }
              });
    }

    List<Long> versions() {
      return received.stream().map(DocumentEvent::version).toList();
    }
  }

  /** A connection that records writes and flushes; its socket takes writes unless told not to. */
  private static final class RecordingLink extends EmbeddedConnections.StubLink {
    final AtomicInteger flushes = new AtomicInteger();
    final List<Boolean> writesInLoop = new ArrayList<>();
    final List<Object> written = new ArrayList<>(); // Event loop only.

    RecordingLink(EventLoop loop) {
      super(loop, "device");
    }

    boolean writesOnLoop() {
      return !writesInLoop.isEmpty() && writesInLoop.stream().allMatch(b -> b);
    }

    @Override
    public void write(Object frame) {
      writesInLoop.add(loop.inEventLoop());
      written.add(frame);
    }

    @Override
    public void flush() {
      flushes.incrementAndGet();
    }
  }
}
