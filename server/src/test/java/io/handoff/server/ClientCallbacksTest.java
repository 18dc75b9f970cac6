package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.handoff.client.ConnectionState;
import io.handoff.client.HandoffClient;
import io.handoff.client.HandoffException;
import io.handoff.client.HandoffListener;
import io.handoff.client.OfferListener;
import io.handoff.client.PresenceListener;
import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.Activity;
import io.handoff.protocol.v1.DevicePresence;
import io.handoff.protocol.v1.Offer;
import io.handoff.protocol.v1.OfferOutcome;
import io.netty.channel.EventLoopGroup;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The Java client's promises to application callbacks against a real node: a listener that calls
 * back into the client (connect, write, close) sees the client do what it asked, and nothing is
 * called after close().
 */
class ClientCallbacksTest {
  private final String user = "u-" + UUID.randomUUID();
  private final List<AutoCloseable> closeables = new ArrayList<>();
  private TestServer server;

  @BeforeEach
  void start() throws Exception {
    server = TestServer.start();
  }

  @AfterEach
  void stop() throws Exception {
    for (int i = closeables.size() - 1; i >= 0; i--) {
      closeables.get(i).close();
    }
    server.close();
  }

  private HandoffClient.Builder builder(String device) {
    return TestServer.clientBuilder(server.url(), user, device).followAll();
  }

  private HandoffClient track(HandoffClient c) {
    closeables.add(c);
    return c;
  }

  @Test
  void connectAndWriteFromTheListenerOfATerminalCloseReconnectAndAreApplied() throws Exception {
    Signal signal = new Signal();
    List<String> states = new CopyOnWriteArrayList<>();
    AtomicReference<HandoffClient> self = new AtomicReference<>();
    CompletableFuture<CompletableFuture<Void>> reconnect = new CompletableFuture<>();
    CompletableFuture<CompletableFuture<Long>> write = new CompletableFuture<>();
    HandoffClient phone =
        track(
            builder("phone")
                .listener(
                    new HandoffListener() {
                      @Override
                      public void onStateChanged(ConnectionState state, int code, String reason) {
                        states.add(state + (code == 0 ? "" : " " + code));
                        if (state == ConnectionState.CLOSED && !reconnect.isDone()) {
                          // Replaced by another connection of this device: take the device back.
                          reconnect.complete(self.get().connect());
                          write.complete(self.get().document("cart").set("by", bytes("phone")));
                        }
                        signal.fire();
                      }
                    })
                .build());
    self.set(phone);
    phone.connect().get(10, TimeUnit.SECONDS);

    HandoffClient other = track(builder("phone").build());
    other.connect().get(10, TimeUnit.SECONDS);

    reconnect
        .get(10, TimeUnit.SECONDS)
        .get(10, TimeUnit.SECONDS); // The connect() the listener made succeeds.
    assertEquals(
        List.of(
            "CONNECTING",
            "CONNECTED",
            "CLOSED " + CloseCode.REPLACED.code(),
            "CONNECTING",
            "CONNECTED"),
        states);
    assertEquals(1L, write.get(10, TimeUnit.SECONDS).get(10, TimeUnit.SECONDS));
    assertEquals(ConnectionState.CONNECTED, phone.state());
  }

  @Test
  void aTokenForAnotherUserStopsTheClientBeforeItsHeldWritesGoOutUnderThatUser() throws Exception {
    String stranger = "u-" + UUID.randomUUID();
    AtomicReference<String> token = new AtomicReference<>(TestServer.token(user, "phone"));
    List<HandoffException> errors = new CopyOnWriteArrayList<>();
    HandoffClient phone =
        track(
            builder("phone")
                .tokenSupplier(token::get)
                .listener(
                    new HandoffListener() {
                      @Override
                      public void onError(HandoffException error) {
                        errors.add(error);
                      }
                    })
                .build());
    phone.connect().get(10, TimeUnit.SECONDS);
    assertEquals(1L, phone.document("cart").set("item", bytes("book")).get(10, TimeUnit.SECONDS));

    token.set(TestServer.token(stranger, "tv")); // The app's token source switched users.
    phone.dropConnection();
    CompletableFuture<Long> held = phone.document("cart").set("item", bytes("pen"));

    ExecutionException failed =
        assertThrows(ExecutionException.class, () -> held.get(10, TimeUnit.SECONDS));
    HandoffException e = (HandoffException) failed.getCause();
    // 4502 UNAUTHORIZED, as the TypeScript client reports it: a token this client cannot use.
    assertEquals(4502, e.closeCode(), e.getMessage());
    assertEquals(ConnectionState.CLOSED, phone.state());
    // Reported to the listener just after the held writes fail (on the client's loop).
    Conditions.await(
        "the listener told why the client stopped",
        () -> errors.stream().anyMatch(x -> x.getMessage().contains("holds the state of " + user)),
        Duration.ofSeconds(10));
    assertTrue(
        server.engine.store().documents(stranger).get(10, TimeUnit.SECONDS).isEmpty(),
        "nothing of the first user's was written under the second");
  }

  @Test
  void everyListenerHearsTheStatesInTheOrderTheyHappenedWhenOneOfThemReconnects() throws Exception {
    Signal signal = new Signal();
    List<String> heard = new CopyOnWriteArrayList<>();
    AtomicReference<HandoffClient> self = new AtomicReference<>();
    AtomicBoolean reconnected = new AtomicBoolean();
    HandoffClient phone =
        track(
            builder("phone")
                .listener(
                    new HandoffListener() {
                      @Override
                      public void onStateChanged(ConnectionState state, int code, String reason) {
                        if (state == ConnectionState.CLOSED && !reconnected.getAndSet(true)) {
                          self.get().connect();
                        }
                      }
                    })
                .listener(
                    new HandoffListener() {
                      @Override
                      public void onStateChanged(ConnectionState state, int code, String reason) {
                        heard.add(state + (code == 0 ? "" : " " + code));
                        signal.fire();
                      }
                    })
                .build());
    self.set(phone);
    phone.connect().get(10, TimeUnit.SECONDS);

    HandoffClient other = track(builder("phone").build());
    other.connect().get(10, TimeUnit.SECONDS);

    signal.await("the phone took its device back", () -> heard.size() >= 5);
    assertEquals(
        List.of(
            "CONNECTING",
            "CONNECTED",
            "CLOSED " + CloseCode.REPLACED.code(),
            "CONNECTING",
            "CONNECTED"),
        heard);
    assertEquals(ConnectionState.CONNECTED, phone.state());
  }

  @Test
  void aListenerThrowingAnErrorDoesNotKeepItsWriteFromCompletingNorDropTheConnection()
      throws Exception {
    List<String> states = new CopyOnWriteArrayList<>();
    HandoffClient phone =
        track(
            builder("phone")
                .listener(
                    new HandoffListener() {
                      @Override
                      public void onChange(io.handoff.client.DocumentChange change) {
                        // An assertion of the app's own, a Kotlin listener's checked exception...
                        throw new AssertionError("the app's listener failed");
                      }

                      @Override
                      public void onStateChanged(ConnectionState state, int code, String reason) {
                        states.add(state + (code == 0 ? "" : " " + code));
                      }
                    })
                .build());
    phone.connect().get(10, TimeUnit.SECONDS);

    assertEquals(1L, phone.document("cart").set("item", bytes("book")).get(10, TimeUnit.SECONDS));
    assertEquals(2L, phone.document("cart").set("item", bytes("pen")).get(10, TimeUnit.SECONDS));
    assertEquals(List.of("CONNECTING", "CONNECTED"), states);
  }

  @Test
  void noOfferOrPresenceListenerIsCalledAfterAListenerClosedTheClient() throws Exception {
    HandoffClient tv = track(builder("tv").build());
    tv.connect().get(10, TimeUnit.SECONDS);
    tv.publishActivity(Activity.newBuilder().setDocument("player").setKind("video").build())
        .get(10, TimeUnit.SECONDS);

    AtomicBoolean closed = new AtomicBoolean();
    List<String> afterClose = new CopyOnWriteArrayList<>();
    AtomicReference<HandoffClient> self = new AtomicReference<>();
    CompletableFuture<Void> closing = new CompletableFuture<>();
    class Late implements OfferListener, PresenceListener {
      private void heard(String what) {
        if (closed.get()) {
          afterClose.add(what);
        }
      }

      @Override
      public void onActivity(String deviceId, Activity activity) {
        heard("onActivity " + deviceId);
      }

      @Override
      public void onPrompt(Offer offer) {
        heard("onPrompt");
      }

      @Override
      public void onWithdrawn(String offerId, OfferOutcome outcome, String byDevice) {
        heard("onWithdrawn");
      }

      @Override
      public void onPresence(List<DevicePresence> changed) {
        heard("onPresence");
      }
    }
    Late late = new Late();
    EventLoopGroup group = HandoffClient.newEventLoopGroup(1);
    closeables.add(() -> group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly());
    HandoffClient phone =
        track(
            builder("phone")
                .eventLoopGroup(group)
                .offerListener(late)
                .presenceListener(late)
                .listener(
                    new HandoffListener() {
                      @Override
                      public void onStateChanged(ConnectionState state, int code, String reason) {
                        if (state == ConnectionState.CONNECTED) {
                          self.get().close();
                          closed.set(true);
                          closing.complete(null);
                        }
                      }

                      @Override
                      public void onSynced() {
                        heard("onSynced");
                      }

                      private void heard(String what) {
                        if (closed.get()) {
                          afterClose.add(what);
                        }
                      }

                      @Override
                      public void onError(HandoffException error) {}
                    })
                .build());
    self.set(phone);
    phone.connect();
    closing.get(10, TimeUnit.SECONDS);
    // The group's one loop is the client's: this runs after the rest of the Welcome's handling.
    CompletableFuture<Void> drained = new CompletableFuture<>();
    group.next().execute(() -> drained.complete(null));
    drained.get(10, TimeUnit.SECONDS);

    assertEquals(List.of(), afterClose, "listeners called after close()");
    assertEquals(ConnectionState.CLOSED, phone.state());
  }

  private static ByteString bytes(String s) {
    return ByteString.copyFromUtf8(s);
  }
}
