package io.handoff.server;

import static io.handoff.server.TestServer.token;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.Activity;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.Hello;
import io.handoff.protocol.v1.OfferActivity;
import io.handoff.protocol.v1.Ping;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.server.handoff.HandoffLimits;
import io.handoff.server.transport.TransportConfig;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * Every push goes through the connection's one outbox and its byte bound, not only document events:
 * a device that stops reading while it is offered activities and told of presence is closed as a
 * slow consumer instead of making the node buffer for it without bound (answers to its requests
 * too: {@link AskingWithoutReadingTest}). What a document sync brings (a resume's snapshots) waits
 * there too, counted by the node's budget but not by the connection's bound, which a user's
 * documents may outgrow.
 */
class OutboxBoundTest {
  private static final long MAX_QUEUED_BYTES = 256 * 1024;
  private static final int PAYLOAD = 64 * 1024;

  @Test
  void deviceThatStopsReadingWhileReceivingOffersAndPresenceIsClosedAsSlow() throws Exception {
    try (TestServer server =
            TestServer.start(
                b ->
                    b.maxQueuedBytes(MAX_QUEUED_BYTES)
                        .transport(
                            TransportConfig.builder()
                                .writeBufferWaterMark(16 * 1024, 64 * 1024)
                                .build())
                        .handoffLimits(
                            HandoffLimits.builder()
                                .maxActivityPayloadBytes(PAYLOAD)
                                .maxLiveOffersPerUser(1000)
                                .maxRequestsPerSecond(1_000_000)
                                .build()));
        RawSocket tv = RawSocket.connect(server.port(), token("o1", "tv"), 4096);
        TestDevice phone = TestDevice.connect(server.port(), token("o1", "phone"))) {
      tv.send(ClientFrame.newBuilder().setHello(Hello.getDefaultInstance()).build());
      phone.hello();
      ServerStats stats = server.server.stats();
      Activity big =
          Activity.newBuilder()
              .setKind("video")
              .setTitle("Episode 3")
              .setPayload(ByteString.copyFrom(new byte[PAYLOAD]))
              .build();
      // Offers to the tv, each a prompt of 64 KiB it never reads, and a laptop coming and going.
      for (int i = 1; i <= 1000 && stats.slowConsumerCloses.sum() == 0; i++) {
        long id =
            phone.send(
                ClientFrame.newBuilder()
                    .setOfferActivity(
                        OfferActivity.newBuilder()
                            .setTargetDevice("tv")
                            .setActivity(big)
                            .setTtlMs(600_000)));
        assertTrue(phone.next(f -> f.getRequestId() == id).hasOfferCreated());
        if (i % 50 == 0) {
          try (TestDevice laptop = TestDevice.connect(server.port(), token("o1", "laptop"))) {
            laptop.hello();
          }
        }
      }
      Conditions.await(
          "the tv is closed as a slow consumer",
          () -> stats.slowConsumerCloses.sum() == 1,
          Duration.ofSeconds(10));
      // The close frame queues behind the unread data, so the device sees it only if it reads
      // before the close timeout cuts the connection.
      int code = tv.readUntilClose();
      assertTrue(code == CloseCode.SLOW_CONSUMER.code() || code == -1, "close code " + code);
      // The phone, which reads, was never in danger.
      long id = phone.send(ClientFrame.newBuilder().setPing(Ping.newBuilder().setNonce(3)));
      ServerFrame pong = phone.next(f -> f.getRequestId() == id);
      assertEquals(3, pong.getPong().getNonce());
      assertEquals(1, stats.slowConsumerCloses.sum());
      assertTrue(
          stats.maxQueuedBytes.get() <= MAX_QUEUED_BYTES + PAYLOAD + 1024,
          "what waited for the tv stayed bounded: " + stats.maxQueuedBytes.get());
    }
  }

  @Test
  void smallPushesWaitingForAFullSocketCountTowardTheFrameBound() throws Exception {
    int maxFrames = 16;
    try (TestServer server =
            TestServer.start(
                b ->
                    b.maxQueuedFrames(maxFrames)
                        .transport(
                            TransportConfig.builder()
                                .socketSendBufferBytes(4096)
                                .writeBufferWaterMark(16 * 1024, 64 * 1024)
                                .build())
                        .handoffLimits(
                            HandoffLimits.builder()
                                .maxActivityPayloadBytes(PAYLOAD)
                                .maxLiveOffersPerUser(1000)
                                .maxRequestsPerSecond(1_000_000)
                                .build()));
        RawSocket tv = RawSocket.connect(server.port(), token("o2", "tv"), 4096);
        TestDevice phone = TestDevice.connect(server.port(), token("o2", "phone"))) {
      tv.send(ClientFrame.newBuilder().setHello(Hello.getDefaultInstance()).build());
      phone.hello();
      ServerStats stats = server.server.stats();
      // Four prompts of 64 KiB fill the kernel's buffers and Netty's; then prompts of a few dozen
      // bytes wait, each a frame, far under the byte bound (4 MiB by default).
      for (int i = 1; i <= 4 + 10 * maxFrames && stats.slowConsumerCloses.sum() == 0; i++) {
        Activity activity =
            Activity.newBuilder()
                .setKind("video")
                .setPayload(ByteString.copyFrom(new byte[i <= 4 ? PAYLOAD : 1]))
                .build();
        long id =
            phone.send(
                ClientFrame.newBuilder()
                    .setOfferActivity(
                        OfferActivity.newBuilder()
                            .setTargetDevice("tv")
                            .setActivity(activity)
                            .setTtlMs(600_000)));
        assertTrue(phone.next(f -> f.getRequestId() == id).hasOfferCreated());
      }
      Conditions.await(
          "the tv is closed as a slow consumer for the frames waiting",
          () -> stats.slowConsumerCloses.sum() == 1,
          Duration.ofSeconds(10));
      int code = tv.readUntilClose();
      assertTrue(code == CloseCode.SLOW_CONSUMER.code() || code == -1, "close code " + code);
      assertTrue(
          stats.maxQueuedBytes.get() < ServerConfig.DEFAULT_MAX_QUEUED_BYTES / 4,
          "the bytes stayed far under their bound: " + stats.maxQueuedBytes.get());
      long id = phone.send(ClientFrame.newBuilder().setPing(Ping.newBuilder().setNonce(4)));
      assertEquals(4, phone.next(f -> f.getRequestId() == id).getPong().getNonce());
    }
  }

  @Test
  void resumeLargerThanTheConnectionsBoundIsDeliveredWhole() throws Exception {
    long bound = 32 * 1024;
    int documents = 12;
    try (TestServer server = TestServer.start(b -> b.maxQueuedBytes(bound));
        TestDevice writer = TestDevice.connect(server.port(), token("r1", "writer"))) {
      writer.hello();
      String value = "v".repeat(60 * 1024);
      for (int i = 0; i < documents; i++) {
        assertTrue(writer.answerTo(writer.write("doc-" + i, i + 1, "f", value)).hasAck());
      }
      // 720 KB of snapshots, written in one turn of the event loop: most of it waits in the
      // outbox, past the connection's bound of 32 KiB, until the device has read what came
      // before. A resume is bounded by the user's documents, not by the connection's bound.
      try (TestDevice phone = TestDevice.connect(server.port(), token("r1", "phone"))) {
        assertEquals(documents, phone.hello().getWelcome().getSync().getDocumentsCount());
        for (int i = 0; i < documents; i++) {
          ServerFrame snapshot = phone.next(ServerFrame::hasSnapshot);
          assertEquals(value, snapshot.getSnapshot().getFieldsMap().get("f").toStringUtf8());
        }
        long id = phone.send(ClientFrame.newBuilder().setPing(Ping.newBuilder().setNonce(5)));
        assertEquals(5, phone.next(f -> f.getRequestId() == id).getPong().getNonce());
        assertFalse(phone.isClosed());
        assertEquals(0, server.server.stats().slowConsumerCloses.sum());
      }
    }
  }
}
