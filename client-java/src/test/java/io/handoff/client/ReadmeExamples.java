package io.handoff.client;

import static java.nio.charset.StandardCharsets.UTF_8;

import com.google.protobuf.ByteString;
import io.handoff.protocol.v1.Activity;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.Offer;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletionException;

/**
 * The Java snippets of README.md, verbatim inside these methods, so that the build fails when one
 * stops compiling. Never run: compiling them is the check. Keep them in step with the README.
 */
@SuppressWarnings("unused")
final class ReadmeExamples {
  private ReadmeExamples() {}

  // spotless:off

  static void quickStart(String token) {
    // README: "Using the Java client"
    HandoffClient client = HandoffClient.builder()
        .url(URI.create("ws://localhost:8080/ws"))
        .token(token)                       // or .tokenSource(() -> auth.freshAccessToken()), see below
        .followAll()                        // or .followPrefixes("ui/"), .followDocuments("player")
        .listener(new HandoffListener() {
          @Override public void onChange(DocumentChange change) {
            // DELTA from another device (change.ops(); change.fields() is empty for a DELTA),
            // SNAPSHOT on resume (change.fields()), OWN_WRITE when our write is acked, GONE
            System.out.println(change.document() + " is now at v" + change.version());
          }
          @Override public void onSynced() {
            // every document has caught up with what this connection's Welcome announced
          }
        })
        .build();
    client.connect().join();   // connected; the catch-up (snapshots, deltas) may still be arriving

    Document player = client.document("player");
    long version = player.set("position", "1:02:03".getBytes(UTF_8)).join();   // the acked version

    // Several fields atomically, only if nobody changed the document since we read it:
    try {
      player.edit()
          .set("position", "1:05:00".getBytes(UTF_8))
          .remove("paused")
          .expectVersion(player.version())
          .commit()
          .join();
    } catch (CompletionException e) {
      if (e.getCause() instanceof HandoffException h && h.errorCode() == ErrorCode.CONFLICT) {
        System.out.println("moved on to v" + h.currentVersion());
      }
    }

    // What it follows can change at run time (also unfollow(...), followAll()); completes once the
    // node took it, its catch-up arriving as onChange:
    client.follow(List.of("draft/42"), List.of()).join();

    client.close();   // fails the writes still waiting for their ack (CLIENT_CLOSED): wait for them first
  }

  // README: "Continue on another device"
  // On the phone (a connected HandoffClient): say what we are doing, and offer it to the user's
  // other devices for 60 s.
  static void offerFromPhone(HandoffClient phone) {
    Activity watching = Activity.newBuilder()
        .setDocument("player").setKind("video").setTitle("Episode 3")
        .setPayload(ByteString.copyFromUtf8("t=3723"))
        .build();
    phone.publishActivity(watching);                   // others see it, also in their next Welcome
    OutgoingOffer offer = phone.offer(null, watching, Duration.ofSeconds(60));   // null: all others
    offer.result().thenAccept(r -> System.out.println(r.getOutcome() + " by " + r.getByDevice()));
  }

  // On the TV (its builder has .offerListener(...)): from OfferListener#onPrompt(Offer prompt).
  static void acceptOnTv(HandoffClient tv, Offer prompt) {
    tv.accept(prompt.getOfferId()).whenComplete((granted, err) -> {
      // granted.getSnapshot(): the "player" document at its latest version; resume there.
      // err: HandoffException OFFER_WITHDRAWN if another device was first, or it expired.
    });
  }
  // spotless:on
}
