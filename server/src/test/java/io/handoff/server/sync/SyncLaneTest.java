package io.handoff.server.sync;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.InvalidProtocolBufferException;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.Follow;
import io.handoff.protocol.v1.FollowSpec;
import io.handoff.protocol.v1.Hello;
import io.handoff.protocol.v1.Position;
import io.handoff.protocol.v1.Resync;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.protocol.v1.Unfollow;
import io.handoff.protocol.v1.Write;
import io.handoff.server.ServerConfig;
import io.handoff.server.ServerStats;
import io.handoff.server.Writes;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.memory.MemoryEngine;
import io.handoff.server.session.RecordingConnection;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A connection's Follow and Resync requests wait while its socket does not take frames (their
 * snapshots would only pile up behind the ones already waiting), and start, in order, once it does.
 * The real session and memory store, on a recording connection whose socket the test fills.
 */
class SyncLaneTest {
  private final StoreLimits limits = StoreLimits.builder().build();
  private final MemoryEngine engine = new MemoryEngine(limits);
  private final ServerStats stats = new ServerStats();
  private final RecordingConnection connection = new RecordingConnection();
  private final DocumentSession session =
      new DocumentSession(
          connection,
          new DocumentSession.Node(
              engine.store(),
              new WriteValidator(limits),
              ServerConfig.builder().jwtSecret("sync-lane-test-secret-sync-lane-test").build(),
              stats));

  @AfterEach
  void stop() {
    engine.close();
  }

  private void store(String document) {
    Write w = Writes.set(document, 1, "f", "v");
    assertTrue(engine.store().write("user", "writer-" + document, w).join().isApplied());
  }

  /** The SyncReports replied since {@code from}, as request ids. */
  private List<Long> reports(int from) throws InvalidProtocolBufferException {
    List<Long> ids = new ArrayList<>();
    for (byte[] b : connection.replies.subList(from, connection.replies.size())) {
      ServerFrame f = ServerFrame.parseFrom(b);
      if (f.hasSyncReport()) {
        ids.add(f.getRequestId());
      }
    }
    return ids;
  }

  private static ClientFrame resync(String document) {
    return ClientFrame.newBuilder()
        .setResync(Resync.newBuilder().addPositions(Position.newBuilder().setDocument(document)))
        .build();
  }

  @Test
  void requestsWaitWhileTheSocketIsFullAndStartInOrderOnceItTakesFrames() throws Exception {
    store("notes");
    store("todo");
    assertNull(session.hello(Hello.getDefaultInstance()));
    session.welcomed(new DocumentSession.Resume(0, List.of()));

    connection.socketFull = true;
    session.onFrame(1, resync("notes"));
    session.onFrame(2, resync("todo"));
    assertEquals(0, stats.syncDocumentReads.sum(), "nothing read while the socket is full");
    assertEquals(List.of(), reports(0));

    session.writable(); // Still full: nothing starts.
    assertEquals(0, stats.syncDocumentReads.sum());

    connection.socketFull = false;
    session.writable();
    assertEquals(2, stats.syncDocumentReads.sum());
    assertEquals(List.of(1L, 2L), reports(0));
  }

  @Test
  void anUnfollowAfterAWaitingFollowAppliesAfterIt() throws Exception {
    store("x");
    assertNull(
        session.hello(Hello.newBuilder().setFollow(FollowSpec.getDefaultInstance()).build()));
    session.welcomed(new DocumentSession.Resume(0, List.of()));

    connection.socketFull = true;
    FollowSpec x = FollowSpec.newBuilder().addDocuments("x").build();
    session.onFrame(1, ClientFrame.newBuilder().setFollow(Follow.newBuilder().setSpec(x)).build());
    int before = connection.replies.size();
    session.onFrame(
        2, ClientFrame.newBuilder().setUnfollow(Unfollow.newBuilder().setSpec(x)).build());
    assertEquals(List.of(2L), reports(before), "an Unfollow reads nothing: answered at once");

    connection.socketFull = false;
    session.writable();
    ServerFrame followAnswer =
        ServerFrame.parseFrom(connection.replies.get(connection.replies.size() - 1));
    assertEquals(1, followAnswer.getRequestId());
    assertEquals(
        0, followAnswer.getSyncReport().getDocumentsCount(), "x is not followed any more: no read");
    assertEquals(0, stats.syncDocumentReads.sum());
  }

  /**
   * Requests sent right after the Hello wait for the Welcome (the resume may wait its turn at the
   * node), in the lane's bound: one past it is refused at once, and the others start, in order,
   * once the Welcome is sent.
   */
  @Test
  void requestsBeforeTheWelcomeWaitInTheLanesBoundAndStartInOrderAfterIt() throws Exception {
    store("notes");
    ServerStats unrated = new ServerStats();
    DocumentSession s =
        new DocumentSession(
            connection,
            new DocumentSession.Node(
                engine.store(),
                new WriteValidator(limits),
                ServerConfig.builder()
                    .jwtSecret("sync-lane-test-secret-sync-lane-test")
                    .syncRate(0, 1)
                    .build(),
                unrated));
    assertNull(s.hello(Hello.getDefaultInstance()));
    for (int id = 1; id <= SyncLane.MAX_WAITING + 1; id++) {
      s.onFrame(id, resync("notes"));
    }
    assertEquals(0, unrated.syncDocumentReads.sum(), "nothing read before the Welcome");
    assertEquals(List.of(), reports(0));
    assertEquals(1, unrated.syncRequestsOverWaiting.sum(), "the one past the bound refused");

    s.welcomed(new DocumentSession.Resume(0, List.of()));
    List<Long> inOrder = new ArrayList<>();
    for (long id = 1; id <= SyncLane.MAX_WAITING; id++) {
      inOrder.add(id);
    }
    assertEquals(inOrder, reports(0));
    assertEquals(SyncLane.MAX_WAITING, unrated.syncDocumentReads.sum());
  }
}
